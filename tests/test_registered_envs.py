"""Every registered env — built-in or plugin — passes `llmgym.check_env`, one test case per id."""

import pytest

import llmgym

ENVS = llmgym.default_gym().registry("envs")
# An env that needs the user's input to exist (`dataset` needs path=) declares `required_options` when
# it registers; its own tests run check_env on it with that input. The entries of a catalog (`rg/NAME`,
# a hundred reasoning-gym datasets) are checked by the catalog's own test, which knows the exceptions.
ENV_NAMES = [s.name for s in ENVS if not s.metadata.get("required_options") and not s.metadata.get("catalog")]


@pytest.mark.parametrize("name", ENV_NAMES)
def test_registered_env_passes_check_env(name):
    llmgym.check_env(llmgym.make(name))


def test_builtin_envs_are_registered():
    assert {"math", "counting"} <= set(ENV_NAMES)


@pytest.mark.parametrize("name", [s.name for s in ENVS if s.metadata.get("required_options")])
def test_an_env_made_without_its_required_options_says_which(name):
    with pytest.raises(llmgym.LLMGymError) as err:
        llmgym.make(name)
    assert all(option in str(err.value) for option in ENVS.spec(name).metadata["required_options"])
