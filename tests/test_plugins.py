import logging
import types

import pytest

import llmgym
from llmgym import Gym, PluginError, UnknownNameError, hookimpl
from llmgym.registry import Registry, parse_name_options

from conftest import AddEnv, entry_point


def plugin_module(name="good", env="add", reward=None):
    mod = types.ModuleType(name)

    @hookimpl
    def llmgym_register_envs(register):
        register(env, AddEnv, description="adds\nsecond line")

    mod.llmgym_register_envs = llmgym_register_envs
    if reward:
        @hookimpl
        def llmgym_register_rewards(register):
            register(reward, "collections:OrderedDict")
        mod.llmgym_register_rewards = llmgym_register_rewards
    return mod


def test_entry_points_load_lazily_and_once():
    ep = entry_point("good", plugin_module())
    gym = Gym(entry_points=[ep])
    assert ep.loads == 0
    assert gym.registry("envs").names() == ["add"]
    gym.registry("rewards")
    gym.make_env("add")
    assert ep.loads == 1
    spec = gym.envs.spec("add")
    assert spec.source == "some-plugin" and spec.description == "adds"


def test_string_factories_are_not_imported_when_listing(monkeypatch):
    mod = types.ModuleType("lazy")

    @hookimpl
    def llmgym_register_envs(register):
        register("lazy", "no_such_module_xyz:Env")

    mod.llmgym_register_envs = llmgym_register_envs
    gym = Gym(entry_points=[entry_point("lazy", mod)])
    assert gym.registry("envs").names() == ["lazy"]
    with pytest.raises(PluginError, match="no_such_module_xyz"):
        gym.make_env("lazy")


def test_plugin_that_fails_to_import_is_reported_once_and_others_work(caplog):
    broken = entry_point("broken", ImportError("No module named 'torchx'"), dist="broken-dist")
    gym = Gym(entry_points=[broken, entry_point("good", plugin_module())])
    with caplog.at_level(logging.WARNING, logger="llmgym"):
        assert gym.registry("envs").names() == ["add"]
        gym.registry("envs")
    assert len(gym.problems) == 1 and "broken-dist" in gym.problems[0] and "torchx" in gym.problems[0]
    assert sum("broken-dist" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(UnknownNameError, match="broken.*torchx"):
        gym.make_env("broken")


def test_plugin_whose_hook_raises_is_skipped_whole_and_its_entries_explain_why():
    mod = types.ModuleType("half")

    @hookimpl
    def llmgym_register_envs(register):
        register("first", AddEnv)
        raise RuntimeError("boom in hook")

    mod.llmgym_register_envs = llmgym_register_envs
    gym = Gym(entry_points=[entry_point("half", mod, dist="half-dist"), entry_point("good", plugin_module())])
    assert gym.registry("envs").names() == ["add"]
    with pytest.raises(UnknownNameError, match="half-dist.*boom in hook"):
        gym.make_env("first")


def test_plugin_registering_a_taken_name_is_skipped_and_first_owner_kept():
    first = entry_point("first", plugin_module("first", env="add", reward="r1"), dist="first-dist")
    second = entry_point("second", plugin_module("second", env="add", reward="r2"), dist="second-dist")
    gym = Gym(entry_points=[first, second])
    assert gym.registry("envs").spec("add").source == "first-dist"
    assert "r2" not in gym.rewards and "r1" in gym.rewards
    assert any("second-dist" in p and "already registered by first-dist" in p for p in gym.problems)
    with pytest.raises(UnknownNameError, match="second-dist"):
        gym.make_reward("r2")


def test_misspelled_hook_fails_validation_and_is_skipped():
    mod = types.ModuleType("typo")

    @hookimpl
    def llmgym_register_env(register):  # missing "s"
        register("typo", AddEnv)

    mod.llmgym_register_env = llmgym_register_env
    gym = Gym(entry_points=[entry_point("typo", mod, dist="typo-dist"), entry_point("good", plugin_module())])
    assert gym.registry("envs").names() == ["add"]
    assert "typo-dist" in gym.problems[0] and "llmgym_register_env" in gym.problems[0]


def test_invalid_factory_or_name_skips_plugin():
    mod = types.ModuleType("bad")

    @hookimpl
    def llmgym_register_envs(register):
        register("bad:name", AddEnv)

    mod.llmgym_register_envs = llmgym_register_envs
    gym = Gym(entry_points=[entry_point("bad", mod)])
    assert gym.registry("envs").names() == [] and "invalid env name" in gym.problems[0]


def test_disable_autoload_keeps_builtins_only(monkeypatch):
    monkeypatch.setenv("LLMGYM_DISABLE_PLUGIN_AUTOLOAD", "1")
    builtin = entry_point("builtin", plugin_module("b", env="builtin_env"), dist="llm-gym")
    third = entry_point("third", plugin_module("t", env="third_env"), dist="other")
    gym = Gym(entry_points=[third, builtin])
    assert gym.registry("envs").names() == ["builtin_env"] and third.loads == 0


def test_real_entry_points_are_read_from_importlib_metadata(monkeypatch):
    """As pluggy's tests do: fake `importlib.metadata.entry_points`."""
    import importlib.metadata

    seen = {}

    def fake_entry_points(group):
        seen["group"] = group
        return [entry_point("good", plugin_module())]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    assert Gym().registry("envs").names() == ["add"] and seen["group"] == "llmgym"


def test_installed_third_party_plugin_is_discovered_with_its_distribution():
    """tests/fixtures/llmgym-plugin-example is pip-installed by the test command (see Makefile)."""
    gym = Gym()
    spec = gym.registry("envs").spec("acronym")
    assert spec.source == "llmgym-plugin-example"
    env = gym.make_env("acronym", level=3)
    llmgym.check_env(env)
    assert gym.make_reward("exact").name == "exact"
    assert {"math", "counting"} <= set(gym.envs.names()) and gym.envs.spec("math").source == "llm-gym"


def test_registry_unknown_name_suggests_close_matches():
    reg = Registry("env")
    for name in ["counting", "math", "code"]:
        reg.register(name, AddEnv)
    with pytest.raises(UnknownNameError) as err:
        reg.make("cuonting")
    assert "did you mean: counting?" in str(err.value)


def test_registry_passes_options_and_reports_bad_ones():
    reg = Registry("env")
    reg.register("add", AddEnv)
    assert reg.make("add:level=2").level == 2
    with pytest.raises(llmgym.LLMGymError, match="unexpected keyword"):
        reg.make("add", colour="red")


@pytest.mark.parametrize("text, expected", [
    ("math", ("math", {})),
    ("math:level=3,family=word", ("math", {"level": 3, "family": "word"})),
    ("counting:tools=['python','x'],max_turns=2", ("counting", {"tools": ["python", "x"], "max_turns": 2})),
])
def test_parse_name_options(text, expected):
    assert parse_name_options(text) == expected


def test_parse_name_options_rejects_garbage():
    with pytest.raises(llmgym.LLMGymError, match="key=value"):
        parse_name_options("math:level")
