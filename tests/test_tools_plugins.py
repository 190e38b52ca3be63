"""Tools are plugins: a third party's tool registered through `llmgym_register_tools` is listed with
its distribution and used by name (`tools=["mytool"]`) exactly like the built-in `python` tool, and a
`ToolEnv` wraps its env the way gymnasium's wrappers do, forwarding everything it does not change."""

from __future__ import annotations

import copy
import json
import re
import types

import pytest

import llmgym
import llmgym.envs
from llmgym import PluginError, Tool, ToolEnv, UnknownNameError, hookimpl
from llmgym.cli import main

from conftest import AddEnv, entry_point


def adder(calls: list | None = None) -> Tool:
    def run(arguments):
        if calls is not None:
            calls.append(dict(arguments))
        return str(int(arguments["a"]) + int(arguments["b"]))
    return Tool("mytool", "Adds two integers a and b.", run,
                {"type": "object", "required": ["a", "b"],
                 "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}})


def tools_plugin(register_tools) -> types.ModuleType:
    mod = types.ModuleType("my_tools")
    mod.llmgym_register_tools = hookimpl(register_tools)
    return mod


@pytest.fixture
def gym_with_mytool(monkeypatch):
    """A fresh gym with the built-in plugin and a third party's tool plugin, used by `llmgym.make`."""
    calls: list[dict] = []

    def llmgym_register_tools(register):
        register("mytool", lambda: adder(calls), description="Adds two integers.")

    gym = llmgym.Gym(entry_points=[entry_point("builtin_envs", llmgym.envs, dist="llm-gym"),
                                   entry_point("my_tools", tools_plugin(llmgym_register_tools), dist="my-tools")])
    monkeypatch.setattr(llmgym.plugins, "_default", gym)
    return calls


def call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def test_a_third_party_tool_registered_by_hook_answers_calls_in_a_math_episode(gym_with_mytool):
    env = llmgym.make("math", tools=["mytool"])
    assert isinstance(env, ToolEnv) and list(env.tools) == ["mytool"]
    prompt, info = env.reset(seed=0)
    assert "- mytool: Adds two integers a and b." in info["messages"][0]["content"]
    a, b = map(int, re.fullmatch(r"What is (\d+) \+ (\d+)\? .*", prompt).groups())
    obs, reward, terminated, truncated, info = env.step(call("mytool", a=a, b=b))
    assert (obs, reward, terminated, truncated, info["tool_calls"]) == (str(a + b), 0.0, False, False, 1)
    obs, reward, terminated, truncated, info = env.step(f"The tool says \\boxed{{{obs}}}.")
    assert (terminated, info["reason"], info["tool_calls"]) == (True, None, 1)
    assert info["reward_components"]["correct"] == 1.0 and reward == pytest.approx(1.1)
    assert gym_with_mytool == [{"a": a, "b": b}]


def test_llmgym_list_tools_shows_each_tool_with_its_distribution(gym_with_mytool, capsys):
    assert main(["list", "tools", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["mytool"] == {"name": "mytool", "source": "my-tools", "description": "Adds two integers."}
    assert rows["python"]["source"] == "llm-gym" and "sandbox" in rows["python"]["description"]


def test_an_unknown_tool_name_is_one_line_naming_the_closest_tools(gym_with_mytool):
    with pytest.raises(UnknownNameError, match=r"unknown tool 'mytol'; did you mean: mytool\b") as err:
        llmgym.make("math", tools=["mytol"])
    assert "\n" not in str(err.value) and "known: mytool, python" in str(err.value)


def test_a_tool_factory_that_builds_no_tool_is_named_with_its_distribution(monkeypatch):
    def llmgym_register_tools(register):
        register("broken", lambda: {"name": "broken"})

    gym = llmgym.Gym(entry_points=[entry_point("bad", tools_plugin(llmgym_register_tools), dist="bad-tools")])
    gym.envs.register("add", AddEnv, source="tests")
    with pytest.raises(PluginError, match=r"tool 'broken' \(from bad-tools\): its factory returned dict, not a "):
        gym.make_env("add", tools=["broken"])


def test_a_plugin_registering_a_taken_tool_name_is_skipped_and_the_builtin_keeps_working():
    def llmgym_register_tools(register):
        register("python", lambda: adder())

    gym = llmgym.Gym(entry_points=[entry_point("builtin_envs", llmgym.envs, dist="llm-gym"),
                                   entry_point("shadow", tools_plugin(llmgym_register_tools), dist="shadow-tools")])
    assert gym.registry("tools").spec("python").source == "llm-gym"
    [problem] = gym.problems
    assert "shadow-tools" in problem and "registers tool 'python', already registered by llm-gym" in problem


def test_tool_names_and_tool_objects_mix_in_one_tools_list(gym_with_mytool):
    extra = Tool("echo", "Repeats its text.", lambda args: str(args["text"]))
    env = llmgym.make("math", tools=["mytool", extra], max_turns=3)
    assert list(env.tools) == ["mytool", "echo"] and env.max_turns == 3


# -- a ToolEnv is a wrapper ----------------------------------------------------------------------
def test_a_tool_env_forwards_what_the_wrapped_env_has(gym_with_mytool):
    env = llmgym.make("math", family="word", level=2, length_budget=400, tools=["mytool"])
    base = env.base
    assert env.env is base and env.unwrapped is base and base.family == "word"
    # attributes of this env class, not of TextEnv, come through __getattr__
    assert (env.family, env.length_budget) == ("word", 400)
    assert (env.name, env.level, env.levels, env.families, env.version) == ("math", 2, base.levels, base.families, base.version)
    assert env.rubric is base.rubric and env.reward_bounds == base.reward_bounds
    tasks = list(env.tasks("eval", n=3, seed=1))
    assert tasks == list(base.tasks("eval", n=3, seed=1))
    assert [env.reference(t) for t in tasks] == [base.reference(t) for t in tasks]
    # the tools' instructions follow the wrapped env's own system prompt
    assert env.system_prompt.startswith(base.system_prompt + "\n\nYou can call tools.")
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        env.no_such_thing


def test_a_tool_env_resets_through_the_wrapped_env_and_draws_its_task():
    base = AddEnv(level=2)
    env = ToolEnv(AddEnv(level=2), [adder()])
    for seed in range(5):
        assert env.reset(seed=seed)[0] == base.reset(seed=seed)[0]
        assert env.task == base.task and env.unwrapped.task == env.task


def test_copies_of_a_tool_env_run_episodes_of_their_own():
    env = ToolEnv(AddEnv(), [adder()])
    first, second = copy.copy(env), copy.copy(env)
    first.reset(seed=0)
    second.reset(seed=1)
    assert first.task != second.task and env.task is None
    first.step(call("mytool", a=1, b=2))
    assert (first.turns, second.turns) == (1, 0)
    evaluation = copy.copy(env)
    evaluation.split = "eval"  # reaches the copy's own wrapped env, which draws the tasks
    assert evaluation.split == "eval" and env.split == "train"
    evaluation.reset(seed=0)
    assert evaluation.split_of(evaluation.task) == "eval"


def test_the_tool_protocol_is_importable_from_its_old_home():
    import llmgym.env
    import llmgym.tools

    assert llmgym.env.Tool is llmgym.tools.Tool is llmgym.Tool
    assert llmgym.env.parse_tool_call is llmgym.tools.parse_tool_call
    assert llmgym.env.check_tools is llmgym.tools.check_tools
