"""Every registered env — built-in or plugin — passes `llmgym.check_env`, one test case per id."""

import pytest

import llmgym

ENV_NAMES = llmgym.default_gym().registry("envs").names()


@pytest.mark.parametrize("name", ENV_NAMES)
def test_registered_env_passes_check_env(name):
    llmgym.check_env(llmgym.make(name))


def test_builtin_envs_are_registered():
    assert {"math", "counting"} <= set(ENV_NAMES)
