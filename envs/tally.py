"""`tally`: count one letter in a list of letters, answered directly or letter by letter.

"How many a in: a, b, b, a, c?" can be answered in one go (``\\boxed{2}``) or by spelling the
list out with a running count, one letter per step (``a1 b1 b1 a2 c2 \\boxed{2}``). A model does
a bounded amount of computation per token: counting nine letters in the one token that writes the
answer is much harder for a small model than adding 0 or 1 to the count it wrote three characters
ago. The env exists to show that reinforcement learning on correctness alone discovers this: a
model that sometimes answers directly and sometimes counts in steps is more often right when it
counts, so RL shifts it to counting, and its accuracy and its response length rise together
(docs/thinking.md has the run).

`solutions=` picks the reference solutions (`meta["solution"]`) that `sft` imitates:

=========  ======================================================================
steps      the letter-by-letter count (the default)
direct     the bare answer, ``\\boxed{N}``
mixed      per task, one or the other, chosen by a hash of the prompt (about half each), so
           that SFT puts a model near both forms and RL can choose between them
=========  ======================================================================

The tasks of a split are the same whatever `solutions` is; only `meta["solution"]` differs.
`level` sets how many letters a list has (LENGTHS); the count is always one digit, so the
step-by-step form is the same three characters per letter at every level. Prompts and steps both
put one letter every three characters (``a, b, `` and ``a1 b1 ``), which lets a small model
copy the k-th letter from a fixed distance back.

>>> task = tally_task(["a", "b", "b", "a", "c"], "a")
>>> task.text
'How many a in: a, b, b, a, c? Answer in \\\\boxed{}.'
>>> steps_solution(task), direct_solution(task)
('a1 b1 b1 a2 c2 \\\\boxed{2}', '\\\\boxed{2}')
"""

from __future__ import annotations

import hashlib
import random
import string
from typing import Sequence

from llmgym.env import SingleTurnEnv
from llmgym.errors import LLMGymError
from llmgym.rubric import Rubric
from llmgym.types import Task

LENGTHS = {1: 5, 2: 7, 3: 9}  # letters per list, by level
ALPHABET = 3  # distinct letters a list is drawn from (the asked one among them)
SOLUTIONS = ("steps", "direct", "mixed")


def tally_task(letters: Sequence[str], target: str, level: int = 1) -> Task:
    """The task of counting `target` in `letters` (each one lowercase letter a-z).

    >>> tally_task(list("xyz"), "q").answer
    0
    """
    letters = list(letters)
    for ch in (*letters, target):
        if not (isinstance(ch, str) and len(ch) == 1 and ch in string.ascii_lowercase):
            raise LLMGymError(f"tally: letters must be single lowercase letters a-z, got {ch!r}")
    if not 1 <= len(letters) <= 9:
        raise LLMGymError(f"tally: a list holds 1 to 9 letters (the count is one digit), got {len(letters)}")
    prompt = f"How many {target} in: {', '.join(letters)}? Answer in \\boxed{{}}."
    return Task(prompt, letters.count(target),
                {"level": level, "answer_type": "number", "letters": letters, "target": target})


def steps_solution(task: Task) -> str:
    """Each letter followed by the count so far, then the boxed count."""
    count, steps = 0, []
    for ch in task.meta["letters"]:
        count += ch == task.meta["target"]
        steps.append(f"{ch}{count}")
    return f"{' '.join(steps)} \\boxed{{{count}}}"


def direct_solution(task: Task) -> str:
    """The boxed count alone."""
    return f"\\boxed{{{task.answer}}}"


def solution_form(task: Task, solutions: str) -> str:
    """The form ("steps" or "direct") of `task`'s reference under `solutions`; for "mixed", a hash
    of the prompt picks it, so the choice is the same on every machine and under every seed."""
    if solutions != "mixed":
        return solutions
    return "steps" if hashlib.sha256(task.text.encode()).digest()[0] % 2 else "direct"


class TallyEnv(SingleTurnEnv):
    """Count one letter in a list of letters; references step by step, direct, or mixed."""

    name = "tally"
    version = "1"  # bump when a change alters the tasks of a split or how they score
    description = "Count one letter in a list of letters: directly or letter by letter (solutions=steps|direct|mixed)."
    levels = tuple(LENGTHS)

    def __init__(self, *, solutions: str = "steps", **kwargs):
        if solutions not in SOLUTIONS:
            raise LLMGymError(f"tally: solutions must be one of {', '.join(SOLUTIONS)}, got {solutions!r}")
        self.solutions = solutions
        super().__init__(**kwargs)

    def generate_task(self, rng: random.Random) -> Task:
        alphabet = rng.sample(string.ascii_lowercase, ALPHABET)
        letters = [rng.choice(alphabet) for _ in range(LENGTHS[self.level])]
        task = tally_task(letters, rng.choice(alphabet), self.level)
        form = solution_form(task, self.solutions)
        solution = steps_solution(task) if form == "steps" else direct_solution(task)
        return Task(task.prompt, task.answer, {**task.meta, "solution": solution})

    def default_rubric(self) -> Rubric:
        from llmgym.rewards.answer import AnswerReward

        # Correctness alone: no format bonus and no length term, so that whatever length a trained
        # policy settles at is the length that pays in right answers.
        return Rubric([(AnswerReward(), 1.0)])
