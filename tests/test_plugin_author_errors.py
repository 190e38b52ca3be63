"""Mistakes a plugin author makes are caught early and named, or simply work: a tool argument named
`from` trains, an env without a rubric or tasks says what to implement, and a reward that raises on the
env's own tasks is named by `check_env` while `step` scores it 0 with a reason."""

from __future__ import annotations

import logging
import random

import pytest

import llmgym
from llmgym import EnvCheckError, FunctionReward, PluginError, Rubric, Score, SingleTurnEnv, Task, Tool, ToolEnv
from llmgym.train.config import TrainConfig
from llmgym.train.data import task_rows
from llmgym.train.rundir import RunDir
from llmgym.train.run import train
from llmgym.train.tool_env import environment_factory

from conftest import AddEnv

TINY = "tiny:hidden=32,layers=1"


def range_tool(calls: list | None = None) -> Tool:
    """A tool whose arguments are named as JSON schemas allow but Python does not."""
    def run(args):
        if calls is not None:
            calls.append(dict(args))
        return str(sum(range(int(args["from"]), int(args["to"]) + 1)) * int(args.get("my-step", 1)))
    return Tool("range-sum", "Sums the integers from `from` to `to`.", run,
                {"type": "object", "required": ["from", "to"],
                 "properties": {"from": {"type": "integer", "description": "first integer"},
                                "to": {"type": "integer", "description": "last integer"},
                                "my-step": {"type": "integer", "description": "a factor"}}})


def slot_for(env: ToolEnv):
    slot = environment_factory(env)()
    slot.reset(**task_rows(env, 1, seed=0)[0])
    return slot


# -- tool argument names -------------------------------------------------------------------------
def test_a_tool_argument_named_from_keeps_its_name_in_the_schema_trl_renders():
    from transformers.utils import get_json_schema

    env = ToolEnv(AddEnv(), [range_tool()])
    schema = get_json_schema(getattr(slot_for(env), "range-sum"))["function"]
    assert schema["name"] == "range-sum"
    assert schema["parameters"]["required"] == ["from", "to"]
    # `my-step` is no Python name: shown as an alias, mapped back when called
    assert schema["parameters"]["properties"] == {"from": {"type": "integer", "description": "first integer"},
                                                  "to": {"type": "integer", "description": "last integer"},
                                                  "my_step": {"type": "integer", "description": "a factor"}}


def test_tool_calls_reach_the_tool_under_the_schemas_own_names():
    calls = []
    slot = slot_for(ToolEnv(AddEnv(), [range_tool(calls)], max_turns=4))
    method = getattr(slot, "range-sum")  # TRL calls tools as method(**arguments)
    assert method(**{"from": 1, "to": 4}) == "10"
    assert method(**{"from": 1, "to": 4, "my_step": 2}) == "20"
    assert method(**{"from": 1, "to": 4, "my-step": 3}) == "30"  # the name the system prompt shows
    assert calls == [{"from": 1, "to": 4}, {"from": 1, "to": 4, "my-step": 2}, {"from": 1, "to": 4, "my-step": 3}]
    assert slot.tool_calls == 3


@pytest.fixture
def from_tool_env():
    reg = llmgym.default_gym().registry("envs")
    reg.register("rangesum", lambda **kw: ToolEnv(AddEnv(**kw), [range_tool()], max_turns=2), source="tests")
    yield "rangesum"
    reg.unregister("rangesum")


def test_a_tool_env_whose_argument_is_named_from_trains_a_grpo_step(tmp_path, from_tool_env):
    out = tmp_path / "run"
    summary = train(TrainConfig(env=from_tool_env, policy=TINY, algo="grpo", steps=1, save_every=0, eval_every=0,
                                eval_tasks=2, max_completion_length=8, train_tasks=4, num_generations=2,
                                prompts_per_step=2, out=str(out)))
    assert summary["steps"] == 1
    assert [r["step"] for r in RunDir(out).rows() if "loss" in r] == [1]


@pytest.mark.parametrize("name", ["reset", "get_reward", "tool_calls", "_private", ""])
def test_tool_names_a_trained_env_cannot_expose_are_refused_when_the_env_is_built(name):
    tool = Tool(name, "d", lambda args: "")
    with pytest.raises(PluginError, match=rf"tool name {name!r} cannot be used.*rename the tool") as err:
        ToolEnv(AddEnv(), [tool])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("parameters, message", [
    (["code"], "parameters must be a JSON schema"),
    ({"type": "object", "properties": ["code"]}, "parameters must be a JSON schema"),
    ({"type": "object", "properties": {"code": "string"}}, "parameters must be a JSON schema"),
    ({"type": "object", "properties": {"code": {}}, "required": ["cod"]}, "'required' must list names"),
])
def test_malformed_tool_schemas_are_refused_when_the_env_is_built(parameters, message):
    with pytest.raises(PluginError, match=f"tool 'run': {message}"):
        ToolEnv(AddEnv(), [Tool("run", "d", lambda args: "", parameters)])


def test_two_tools_with_one_name_are_refused():
    with pytest.raises(PluginError, match="two tools are named 'range-sum'"):
        ToolEnv(AddEnv(), [range_tool(), range_tool()])


# -- an env that lacks a piece -------------------------------------------------------------------
class NoRubric(SingleTurnEnv):
    name = "norubric"

    def generate_task(self, rng):
        return Task(str(rng.randint(0, 9)), 0)


class NoTasks(SingleTurnEnv):
    name = "notasks"

    def default_rubric(self):
        return Rubric([(FunctionReward("one", lambda c, t: 1.0), 1.0)])


def test_an_env_without_default_rubric_names_its_class_and_what_to_implement():
    with pytest.raises(PluginError, match=r"env class NoRubric \('norubric'\) has no rubric: implement "
                                          r"default_rubric\(self\) returning a llmgym.Rubric") as err:
        NoRubric()
    assert "\n" not in str(err.value)
    assert NoRubric(rubric=Rubric([(FunctionReward("one", lambda c, t: 1.0), 1.0)])).reset(seed=0)


def test_an_env_without_tasks_names_its_class_and_what_to_implement():
    with pytest.raises(PluginError, match=r"NoTasks \('notasks'\) has no tasks: implement generate_task"):
        next(NoTasks().tasks("train"))


# -- a reward that raises on the env's own tasks ------------------------------------------------
def numeric_gold(completion: str, task: Task) -> Score:
    """A plugin author's reward that assumes every gold answer is a number."""
    gold = float(task.answer)
    return Score(float(completion.strip().endswith(f"{{{gold:g}}}")))


def nul_hater(completion: str, task: Task) -> Score:
    if "\x00" in completion:
        raise UnicodeError("NUL in completion")
    return Score(1.0)


class WordNumbers(SingleTurnEnv):
    """Half the gold answers are words: `numeric_gold` raises on those."""

    name = "wordnumbers"

    def generate_task(self, rng: random.Random) -> Task:
        n = rng.randint(0, 999)
        gold = str(n) if n % 2 else f"n{n}"
        return Task(f"Write {gold} in a box.", gold, {"solution": f"\\boxed{{{gold}}}"})

    def default_rubric(self) -> Rubric:
        return Rubric([(FunctionReward("numeric_gold", numeric_gold), 1.0)])


def word_task(env: WordNumbers) -> Task:
    return next(t for t in env.tasks("train") if not t.answer.isdigit())


def test_check_env_names_the_reward_that_raises_on_a_non_numeric_gold_and_the_input():
    with pytest.raises(EnvCheckError, match=r"reward 'numeric_gold' raised ValueError: could not convert string "
                                            r"to float: 'n\d+' on input 'reference solution' for task \w+") as err:
        llmgym.check_env(WordNumbers())
    assert "\n" not in str(err.value)


def test_check_env_names_the_hostile_input_a_reward_raises_on():
    env = AddEnv(rubric=Rubric([(FunctionReward("correct", lambda c, t: 1.0), 1.0),
                                (FunctionReward("nul_hater", nul_hater), 0.0)]))  # a metric is checked too
    with pytest.raises(EnvCheckError, match="reward 'nul_hater' raised UnicodeError: NUL in completion "
                                            "on input 'NUL bytes'"):
        llmgym.check_env(env)


def test_step_scores_a_raising_reward_0_with_its_reason_and_logs_it(caplog):
    env = WordNumbers()
    task = word_task(env)
    env.reset(seed=0, options={"task": task})
    with caplog.at_level(logging.WARNING, logger="llmgym"):
        obs, reward, terminated, truncated, info = env.step(env.reference(task))
    assert (reward, terminated, truncated) == (0.0, True, False)
    assert info["reason"] == "reward_error:numeric_gold" and info["reward_components"] == {"numeric_gold": 0.0}
    logged = [r for r in caplog.records if "numeric_gold" in r.getMessage()]
    assert logged and task.id in logged[0].getMessage() and logged[0].exc_info[0] is ValueError


def test_a_tool_env_scores_a_raising_reward_0_on_the_final_answer():
    env = ToolEnv(WordNumbers(), [range_tool()])
    task = word_task(env.base)
    env.reset(seed=0, options={"task": task})
    assert env.step('<tool_call>{"name": "range-sum", "arguments": {"from": 1, "to": 2}}</tool_call>')[0] == "3"
    obs, reward, terminated, truncated, info = env.step(env.reference(task))
    assert (reward, terminated, info["reason"]) == (0.0, True, "reward_error:numeric_gold")


def test_a_raising_reward_costs_only_the_completions_it_raises_on():
    env = WordNumbers()
    tasks = list(env.tasks("train", n=12))
    scores = env.rubric.score_batch([env.reference(t) for t in tasks], tasks)
    assert [s.reason for s in scores] == [None if t.answer.isdigit() else "reward_error:numeric_gold" for t in tasks]
    assert [s.value for s in scores] == [float(t.answer.isdigit()) for t in tasks]
