"""The `math` environment: arithmetic, word problems and sympy algebra at levels 1-5.

Every task is generated, its answer computed (Fractions for arithmetic and word problems, sympy
for algebra) and it carries a step-by-step reference solution ending in ``\\boxed{answer}``, used
for SFT and reports. Prompts ask for the final answer in ``\\boxed{}``.

    >>> env = MathEnv(level=1)
    >>> prompt, info = env.reset(seed=0)
    >>> prompt.startswith("What is ") and prompt.endswith("Put the final answer in \\\\boxed{}.")
    True
    >>> env.step(env.reference(env.task))[1]
    1.1

Families (``family=``): `arithmetic` (level 1 is one-digit addition ``a + b``, level 5 nested
expressions with negatives and exact division), `word` (templated multi-step stories), `algebra`
(evaluate, solve linear and quadratic equations, fractions, expand, simplify, derivatives) and
`mixed` (one of the three per task). The default rubric is 1 × correct + 0.1 × format, with the
length reward as a metric (weight 0), or weight 0.1 against `length_budget` characters if given.

`correct` gives a right answer full credit only when it is explicit (``\\boxed{}``, as the prompt asks,
or an ``<answer>`` tag or ``####`` line, the formats of datasets scored with this rubric); a right bare
number, found by the parser's fallback (the last number of the text), earns half (since version 2). A
policy optimises what pays: when a bare right number earned 1.0 and the box 0.1 more, GRPO on SmolLM2
traded the box for shorter answers (boxed answers 12% -> 2% of held-out samples while accuracy rose).
Now a right boxed answer scores 1.1, a right bare number 0.5 (`no_explicit_answer`), a wrong boxed
answer 0.1 and a hedge 0. The bare number keeps some credit because SmolLM2 rarely boxes at first: with
none, nearly every group of a first GRPO run scored all 0 and taught nothing. Held-out accuracy counts a
right answer in either form (`AnswerReward.solved_at`: a bare right number solves the task, and SmolLM2
boxes almost none at first, so counting boxes only would read 0% whatever it learns); the format figure
beside it (`eval/format`) counts the boxes. Level-1 arithmetic (one-digit addition, 81 tasks) holds out
half of its tasks, not a fifth, since version 3: 17 eval tasks gave a 95% interval ~20 points wide.

A system prompt shows the format once with a worked example outside every level-1 task (since version
4): GRPO can only reinforce a box that some sample in a group writes, and SmolLM2 boxed 1.2% of its
held-out answers without it. Measured on the 42 level-1 eval tasks x 4 samples (T=0.7): boxed answers
1.2% -> 33.3%, accuracy 38.7% [30.9%, 47.1%] -> 47.6% [39.8%, 55.6%] (docs/training.md).

    >>> task = Task("What is 8 + 4?", "12", {"answer_type": "number"})
    >>> [MathEnv().rubric.score(text, task).value for text in ("8 + 4 = 12", "8 + 4 = \\\\boxed{12}")]
    [0.5, 1.1]
"""

from __future__ import annotations

import random

from llmgym.env import SingleTurnEnv
from llmgym.errors import LLMGymError
from llmgym.rewards import verify_worker
from llmgym.rewards.answer import AnswerReward, FormatReward, LengthReward
from llmgym.rubric import Rubric
from llmgym.types import Task

from . import math_algebra, math_arithmetic, math_word

FAMILIES = ("arithmetic", "word", "algebra", "mixed")
INSTRUCTION = "Put the final answer in \\boxed{}."
SYSTEM_PROMPT = ("Solve the problem, then write the final answer as \\boxed{ANSWER}. For example: 12 + 30 = 42, "
                 "so the answer is \\boxed{42}.")
FORMAT_WEIGHT = 0.1  # a box earns a little even when the answer is wrong: GRPO's first signal
LENGTH_WEIGHT = 0.1  # only when the user sets a length budget
LEVEL1_EVAL_FRACTION = 0.5  # share of level-1 arithmetic (one-digit addition) held out for evaluation
BARE_ANSWER_CREDIT = 0.5  # a right answer outside the asked-for box: less than a boxed one, more than none


class MathEnv(SingleTurnEnv):
    """Generated math problems with computed answers, graded by the shared verifier."""

    name = "math"
    version = "4"  # bump when a change alters the tasks of a split, their prompts or how they score
    system_prompt = SYSTEM_PROMPT
    description = "Arithmetic, word problems and sympy algebra with levels 1-5; answers in \\boxed{}."
    levels = (1, 2, 3, 4, 5)
    families = FAMILIES

    def __init__(self, *, level: int = 1, family: str = "arithmetic", split: str = "train",
                 rubric: Rubric | None = None, render_mode: str | None = None,
                 length_budget: int | None = None):
        if family not in FAMILIES:
            raise LLMGymError(f"math: family must be one of {list(FAMILIES)}, got {family!r}")
        if length_budget is not None and (not isinstance(length_budget, int) or length_budget < 1):
            raise LLMGymError(f"math: length_budget must be a positive number of characters, got {length_budget!r}")
        self.family = family
        self.length_budget = length_budget
        if family == "arithmetic" and level == 1:
            # One-digit addition has 81 distinct tasks: a fifth held out (17) cannot resolve a gain of a
            # few points (each task is ~6 points), so half are (since version 3).
            self.eval_fraction = LEVEL1_EVAL_FRACTION
        super().__init__(level=level, split=split, rubric=rubric, render_mode=render_mode)
        if family in ("algebra", "mixed") and level >= 3:  # answers that will need sympy
            verify_worker.prestart()

    def default_rubric(self) -> Rubric:
        length = LengthReward(self.length_budget) if self.length_budget else LengthReward()
        return Rubric([(AnswerReward(fallback=BARE_ANSWER_CREDIT), 1.0), (FormatReward(), FORMAT_WEIGHT),
                       (length, LENGTH_WEIGHT if self.length_budget else 0.0)])

    def generate_task(self, rng: random.Random) -> Task:
        family = rng.choice(FAMILIES[:3]) if self.family == "mixed" else self.family
        if family == "arithmetic":
            expression, answer, solution = math_arithmetic.generate(rng, self.level)
            prompt = (f"What is {expression}? {INSTRUCTION}" if self.level == 1
                      else f"Compute {expression}. {INSTRUCTION}")
            meta = {"answer_type": "number", "kind": "expression", "expression": expression}
        elif family == "word":
            question, answer, solution, template = math_word.generate(rng, self.level)
            prompt = f"{question} {INSTRUCTION}"
            meta = {"answer_type": "number", "kind": template}
        else:
            question, answer, answer_type, solution, kind = math_algebra.generate(rng, self.level)
            prompt = f"{question} {INSTRUCTION}"
            meta = {"answer_type": answer_type, "kind": kind}
        meta.update(family=family, level=self.level, solution=solution)
        return Task(prompt, answer, meta)
