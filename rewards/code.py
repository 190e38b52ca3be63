"""`TestsReward`: run a completion's Python function against the task's hidden tests in the sandbox.

The task's `answer` holds the tests (`entry_point`, `setup` sources, test `units` and which units
are tests); the completion holds the code in a fenced python block. Score: half the fraction of tests
passed plus half for passing all of them (components `fraction` and `all_passed`). Syntax errors,
timeouts, crashes, early exits and sandbox failures score 0 with the reason. See
`llmgym/sandbox/harness.py` for how the tests stay out of the solution's reach.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any, Sequence

from llmgym.errors import LLMGymError
from llmgym.rubric import SUCCESS, BaseReward, check_batch
from llmgym.types import Score, Task

MAX_CODE_CHARS = 64_000
_PYTHON_TAGS = ("", "python", "python3", "py")


def _harness_source() -> str:
    from llmgym.sandbox import harness
    from llmgym.sandbox.pool import with_wire

    return with_wire(Path(harness.__file__))


def extract_code(completion: str) -> str | None:
    """The last fenced code block of a completion (tagged python, or untagged), else None.

    Fences are paired in order with a split, not a regex: linear time on hostile text.

    >>> extract_code("Here:\\n```python\\ndef f():\\n    return 1\\n```")
    'def f():\\n    return 1\\n'
    >>> extract_code("no code") is None
    True
    """
    if not isinstance(completion, str):
        return None
    parts = completion[-4 * MAX_CODE_CHARS:].split("```")
    for body in reversed(parts[1:-1:2]):  # odd parts lie between an opening and a closing fence
        tag, newline, code = body.partition("\n")
        if newline and tag.strip().lower() in _PYTHON_TAGS:
            return code
    return None


def solution_source(code: str, spec: dict[str, Any]) -> str:
    """A body-only completion (HumanEval style) is appended to the prompt's signature."""
    entry = spec["entry_point"]
    if re.search(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(entry)}[ \t]*\(", code, re.MULTILINE) or not spec.get("prompt_code"):
        return code
    return spec["prompt_code"] + code


def build_program(code: str, spec: dict[str, Any]) -> tuple[str, str]:
    """(stdin, nonce) for one harness run of `code` against the tests in `spec`."""
    nonce = secrets.token_hex(16)
    head = json.dumps({"code": code, "entry_point": spec["entry_point"]})
    rest = json.dumps({"setup": list(spec.get("setup", [])), "units": list(spec["units"]), "nonce": nonce})
    return f"{len(head.encode()):016d}{head}{rest}", nonce


def judge(spec: dict[str, Any], nonce: str, status: str, stdout: str, stderr: str) -> Score:
    """Turn one sandbox result into a Score; trusts nothing but a line carrying our nonce."""
    if status == "timeout":
        return _zero("timeout")
    if status in ("memory", "output_limit"):
        return _zero(status)
    outcome = None
    for line in reversed(stdout.splitlines()):
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(data, dict) and data.get("nonce") == nonce:
            outcome = data
            break
    if outcome is None:
        return _zero("crash" if status != "ok" else "no_result")
    if "error" in outcome:
        return _zero(str(outcome["error"]), str(outcome.get("detail", ""))[:300])
    passed = outcome.get("passed")
    test_units = spec["tests"]
    if not isinstance(passed, list) or len(passed) != len(spec["units"]):
        return _zero("no_result")
    n_pass = sum(1 for i in test_units if passed[i] is True)
    fraction = n_pass / len(test_units) if test_units else 0.0
    all_passed = float(bool(test_units) and n_pass == len(test_units))
    reason = None if all_passed else "tests_failed"
    return Score(0.5 * fraction + 0.5 * all_passed, {"fraction": fraction, "all_passed": all_passed}, reason,
                 answer=f"{n_pass}/{len(test_units)} tests passed")


def _zero(reason: str, detail: str = "") -> Score:
    return Score(0.0, {"fraction": 0.0, "all_passed": 0.0}, reason, answer=detail or None)


class TestsReward(BaseReward):
    """Fraction of hidden unit tests passed (half) plus all-passed (half), run in the sandbox.

    `limits` are the sandbox limits per completion; `pool` a `SandboxPool` (default: the shared one).
    """

    __test__ = False  # not a pytest class, despite the name
    name = "tests"
    role = SUCCESS
    value_range = (0.0, 1.0)

    def __init__(self, limits: Any = None, pool: Any = None):
        self.limits = limits
        self.pool = pool

    def score(self, completion: str, task: Task) -> Score:
        return self.score_batch([completion], [task])[0]

    def score_batch(self, completions: Sequence[str], tasks: Sequence[Task]) -> list[Score]:
        from llmgym.sandbox import Limits, Program, default_pool

        check_batch(completions, tasks)
        limits = self.limits or Limits(wall_seconds=10, cpu_seconds=8)
        scores: list[Score | None] = [None] * len(tasks)
        programs, jobs = [], []
        harness = _harness_source()
        for i, (completion, task) in enumerate(zip(completions, tasks)):
            spec = task.answer if isinstance(task.answer, dict) else None
            if spec is None or "units" not in spec:
                scores[i] = _zero("bad_task")
                continue
            code = extract_code(completion)
            if code is None:
                scores[i] = _zero("no_code")
                continue
            if len(code) > MAX_CODE_CHARS:
                scores[i] = _zero("too_long")
                continue
            stdin, nonce = build_program(solution_source(code, spec), spec)
            programs.append(Program(harness, stdin, limits))
            jobs.append((i, spec, nonce))
        if programs:
            try:
                results = (self.pool or default_pool()).run_batch(programs)
            except LLMGymError:
                raise  # bubblewrap missing or unusable: the user's to fix, said in one line
            except Exception as exc:  # model output never raises: a broken sandbox scores 0 too
                results = None
                for i, _, _ in jobs:
                    scores[i] = _zero("sandbox_error", f"{type(exc).__name__}: {exc}")
            if results is not None:
                for (i, spec, nonce), result in zip(jobs, results):
                    scores[i] = judge(spec, nonce, result.status, result.stdout, result.stderr)
        return [s for s in scores if s is not None]
