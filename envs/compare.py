"""`compare`: which of two numbers is larger, in a prompt short enough for a model trained from scratch.

"Which is larger, 37 or 52?" -> "37 < 52, so \\boxed{52}." The prompt is 26 characters, against
the ~60 of `math` level 1, whose from-scratch tiny model does not learn to copy the operands from
that prompt in the steps a CPU allows. Its ~8,000 ordered pairs (level 1) give held-out prompts
that train never saw but that need only what train teaches: compare two digits, copy a number. It
is the env of the from-scratch pipeline (`--algo pretrain`, then `sft`, then `grpo`; docs/training.md).

>>> env = CompareEnv()
>>> prompt, info = env.reset(seed=0)
>>> prompt.startswith("Which is larger, ") and prompt.endswith("?")
True
>>> env.step(env.reference(env.task))[1]
1.1

`level` sets the digits of each number (1: two, 2: three, 3: four). The rubric is math's:
1 x correct (the shared verifier) + 0.1 x format (an answer in ``\\boxed{}``).
"""

from __future__ import annotations

import random

from llmgym.env import SingleTurnEnv
from llmgym.rewards.answer import AnswerReward, FormatReward
from llmgym.rubric import Rubric
from llmgym.types import Task

FORMAT_WEIGHT = 0.1


class CompareEnv(SingleTurnEnv):
    """Two numbers of `level + 1` digits each, never equal; the answer is the larger."""

    name = "compare"
    version = "1"  # bump when a change alters the tasks of a split or how they score
    description = "Which of two numbers is larger: a short prompt for models trained from scratch (tiny)."
    levels = (1, 2, 3)

    def default_rubric(self) -> Rubric:
        return Rubric([(AnswerReward(), 1.0), (FormatReward(), FORMAT_WEIGHT)])

    def generate_task(self, rng: random.Random) -> Task:
        low, high = 10 ** self.level, 10 ** (self.level + 1) - 1
        a, b = rng.sample(range(low, high + 1), 2)
        sign = "<" if a < b else ">"
        solution = f"{a} {sign} {b}, so \\boxed{{{max(a, b)}}}."
        return Task(f"Which is larger, {a} or {b}?", max(a, b),
                    {"answer_type": "number", "level": self.level, "solution": solution})
