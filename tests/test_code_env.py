"""The `code` env, its `tests` reward and the `python` tool env, end to end through the sandbox."""

from __future__ import annotations

import pytest

import llmgym
from llmgym.envs.code import CodeEnv, humaneval_tasks
from llmgym.errors import LLMGymError
from llmgym.rewards.code import TestsReward, extract_code
from llmgym.sandbox import SandboxPool
from llmgym.sandbox.tool import python_tool

BROKEN = '''
_original = {e}
def {e}(*args, **kwargs):
    r = _original(*args, **kwargs)
    if isinstance(r, bool): return not r
    if isinstance(r, (int, float)): return r + 1
    if isinstance(r, str): return r + "x"
    if isinstance(r, list): return r + [0]
    if isinstance(r, tuple): return r + (0,)
    return 0 if r is None else None
'''


@pytest.fixture(scope="module")
def reward():
    with SandboxPool(workers=2) as pool:
        yield TestsReward(pool=pool)


def _fence(code: str) -> str:
    return f"```python\n{code}\n```"


def test_every_humaneval_canonical_solution_scores_one_and_a_broken_variant_less(reward):
    tasks = humaneval_tasks()
    assert len(tasks) == 164
    good = reward.score_batch([t.meta["solution"] for t in tasks], tasks)
    assert [(t.meta["source_id"], s.reason) for t, s in zip(tasks, good) if s.value != 1.0] == []
    broken = [t.meta["solution"].removesuffix("```") + BROKEN.format(e=t.answer["entry_point"]) + "```" for t in tasks]
    bad = reward.score_batch(broken, tasks)
    assert [t.meta["source_id"] for t, s in zip(tasks, bad) if s.value >= 1.0] == []
    assert all(s.reason == "tests_failed" for s in bad)


def test_humaneval_is_eval_only():
    env = llmgym.make("code", family="humaneval")
    assert env.split == "eval"
    assert len(list(env.tasks("eval"))) == 164 and list(env.tasks("train")) == []
    with pytest.raises(LLMGymError):
        llmgym.make("code", family="humaneval", split="train")


@pytest.mark.parametrize("family,level", [("strings", 1), ("lists", 2), ("numbers", 3), ("dicts", 1),
                                          ("mixed", 1), ("mixed", 2), ("mixed", 3)])
def test_procedural_families_pass_check_env(family, level):
    env = llmgym.make("code", family=family, level=level)
    llmgym.check_env(env, n_tasks=8)
    task = next(env.tasks("train"))
    assert len(task.answer["tests"]) >= 10 and task.meta["family"] in (family, "strings", "lists", "numbers", "dicts")


def _task():
    return next(CodeEnv(family="lists", level=1).tasks("train"))


GAMING = {
    "sys_exit_0": "import sys\nsys.exit(0)",
    "os_exit_0": "import os\nos._exit(0)",
    "exit_in_function": "def {e}(*a):\n    import os\n    os._exit(0)",
    "eq_always_true": "class A:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\ndef {e}(*a):\n    return A()",
    "int_subclass_eq": "class I(int):\n    def __eq__(self, o): return True\ndef {e}(*a):\n    return I(0)",
    "patch_assertion_and_print": ("import builtins, sys\nbuiltins.AssertionError = type('X', (Exception,), {{}})\n"
                                  "builtins.print = lambda *a, **k: None\nsys.stdout = sys.stderr\ndef {e}(*a): return None"),
    "fake_result_line": ("import json, sys\nsys.__stdout__.write(json.dumps({{'nonce': 'x', 'passed': [True] * 50}}) + '\\n')\n"
                         "def {e}(*a): return None"),
    "read_tests_from_stdin": ("import sys\nDATA = sys.stdin.read()\ndef {e}(*a):\n    raise ValueError(DATA[:100])"),
    "steal_tests_via_gc": ("import gc\ndef {e}(*a):\n    hits = [o for o in gc.get_objects() if isinstance(o, str) and 'assert' in o]\n"
                           "    raise ValueError(str(hits[:1]))"),
    "caller_frame_peek": ("import sys\ndef {e}(*a):\n    f = sys._getframe(1)\n    return f.f_locals.get('expected')"),
    "infinite_loop": "def {e}(*a):\n    while True: pass",
    "syntax_error": "def {e}(:\n    pass",
    "no_function": "x = 1",
}


@pytest.mark.parametrize("name", sorted(GAMING))
def test_gaming_and_broken_solutions_score_zero(reward, name):
    task = _task()
    code = GAMING[name].format(e=task.answer["entry_point"])
    score = reward.score(_fence(code), task)
    assert score.value == 0.0, (name, score)
    assert score.reason is not None
    expected_reason = {"sys_exit_0": "crash", "os_exit_0": "crash", "exit_in_function": "crash",
                       "infinite_loop": "timeout", "syntax_error": "syntax_error", "no_function": "no_function"}
    if name in expected_reason:
        assert score.reason == expected_reason[name]


def test_reference_scores_one_and_partial_credit_is_a_fraction(reward):
    task = _task()
    assert reward.score(task.meta["solution"], task).value == 1.0
    entry = task.answer["entry_point"]
    # Right on the first hidden test only (its expected value is all it knows): partial credit.
    first = task.answer["units"][0]
    args, expected = first.removeprefix("assert candidate(").rsplit(") == ", 1)
    code = f"def {entry}(*a):\n    return {expected} if list(a) == [{args}] else 'wrong'"
    score = reward.score(_fence(code), task)
    assert 0 < score.components["fraction"] < 1 and score.components["all_passed"] == 0
    assert score.value == pytest.approx(0.5 * score.components["fraction"]) and score.reason == "tests_failed"


def test_no_code_block_scores_zero_with_reason(reward):
    assert reward.score("I would loop over it.", _task()).reason == "no_code"


def test_extract_code_takes_the_last_block():
    assert extract_code("```python\na = 1\n```\nthen\n```\nb = 2\n```") == "b = 2\n"


def _scripted_tool_episode(env, actions):
    env.reset(seed=0)
    steps = []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return steps


def test_python_tool_env_runs_code_and_counts_calls():
    from llmgym.env import SingleTurnEnv
    from llmgym.rubric import FunctionReward, Rubric
    from llmgym.types import Task

    class Word(SingleTurnEnv):
        name = "word"

        def generate_task(self, rng):
            return Task("How many r in strawberry?", "3")

        def default_rubric(self):
            return Rubric([(FunctionReward("correct", lambda c, t: float(c.strip() == t.answer)), 1.0)])

    env = llmgym.ToolEnv(Word(), [python_tool()], max_turns=3)
    assert "<tool_call>" in env.system_prompt and "python" in env.system_prompt
    call = '<tool_call>{"name": "python", "arguments": {"code": "print(\'strawberry\'.count(\'r\'))"}}</tool_call>'
    steps = _scripted_tool_episode(env, [call, "3"])
    assert steps[0][0].startswith("status: ok") and "3" in steps[0][0]
    assert steps[0][4]["tool_calls"] == 1 and not steps[0][2]
    assert steps[1][1] == 1.0 and steps[1][2] and steps[1][4]["tool_calls"] == 1
    # A hostile call is an observation, not a crash; the turn limit truncates.
    bomb = '<tool_call>{"name": "python", "arguments": {"code": "while True: pass"}}</tool_call>'
    steps = _scripted_tool_episode(env, [bomb, bomb, bomb])
    assert steps[0][0].startswith("status: timeout") and steps[-1][3] and steps[-1][4]["reason"] == "turn_limit"
    assert steps[-1][4]["tool_calls"] == 3


@pytest.mark.parametrize("name", ["counting", "math"])
def test_builtin_envs_with_the_python_tool(name):
    env = llmgym.make(name, tools=["python"])
    assert isinstance(env, llmgym.ToolEnv) and "python" in env.tools
    env.reset(seed=0)
    call = '<tool_call>{"name": "python", "arguments": {"code": "print(6 * 7)"}}</tool_call>'
    obs, reward, terminated, truncated, info = env.step(call)
    assert "42" in obs and info["tool_calls"] == 1 and not terminated
    reference = env.reference(env.task)
    if reference is not None:
        obs, reward, terminated, truncated, info = env.step(reference)
        assert terminated and reward == pytest.approx(env.reward_bounds[1]) and info["tool_calls"] == 1
