"""The core finds a rubric's success metric, format check and gold labeler by the role a reward
declares, never by its name: a plugin's reward called anything takes the same part."""

import pytest

import llmgym
from llmgym.plugins import default_gym
from llmgym.report.bench import episode_record
from llmgym.rollout import summarize
from llmgym.rubric import FORMAT, ORACLE, SUCCESS, FunctionReward, Rubric, component_with_role
from llmgym.train.run import has_learned_reward
from llmgym.types import Episode, Score, Task


@pytest.mark.parametrize("name, role", [("correct", SUCCESS), ("format", FORMAT), ("gold", ORACLE),
                                        ("tests", SUCCESS), ("length", None)])
def test_builtin_rewards_declare_their_role(name, role):
    assert default_gym().registry("rewards").spec(name).load().role == role


def test_entry_with_role_finds_the_entry_whatever_its_name_and_refuses_an_unknown_role():
    solved = FunctionReward("solved", lambda c, t: 1.0, role=SUCCESS)
    rubric = Rubric([(FunctionReward("length", lambda c, t: 0.0), 0.0), (solved, 1.0)])
    assert rubric.entry_with_role(SUCCESS) == (solved, 1.0)
    assert rubric.entry_with_role(ORACLE) is None
    assert component_with_role(rubric, SUCCESS) == "solved" and component_with_role(solved, SUCCESS) == "solved"
    with pytest.raises(ValueError, match="unknown reward role 'gold'"):
        rubric.entry_with_role("gold")


def episode(components, value):
    return Episode(Task("2+2?", 4), (), Score(value, components, None, "4"))


def test_reports_read_success_and_format_from_the_entries_with_those_roles():
    rubric = Rubric([(FunctionReward("solved", lambda c, t: 0.0, role=SUCCESS), 0.5),
                     (FunctionReward("shape", lambda c, t: 0.0, role=FORMAT), 0.5)])
    # Reward 0.5 is not full reward, yet the success entry says solved; a component merely named
    # `correct` or `format` without the role is just a component.
    ep = episode({"solved": 1.0, "shape": 0.0, "correct": 0.0, "format": 1.0}, 0.5)
    record = episode_record("toy", 0, "p", ep, 0, 0.0, env_version="1", rubric=rubric)
    assert record["correct"] is True and record["format_ok"] is False
    assert summarize([ep], component_with_role(rubric, SUCCESS))["accuracy"] == 1.0
    assert summarize([ep])["accuracy"] == 0.0  # no success entry: full reward counts


def test_a_gold_labeler_under_another_name_makes_the_reward_learned_and_is_the_guards_gold(tmp_path, monkeypatch):
    import llmgym.rlhf.guard as guard_module
    from llmgym.rlhf.guard import guard_for_env

    seen = {}

    def fake_make_probe(tasks, system_prompt, proxy, gold, **kw):
        seen.update(gold=gold.name, proxy=sorted(proxy.weights))
        return lambda m: {"proxy": 0.5, "gold": 0.5, "degeneracy": {}}

    monkeypatch.setattr(guard_module, "make_probe", fake_make_probe)
    env = llmgym.make("rlhf")
    assert not has_learned_reward(env)  # gold itself is the weighted reward: nothing to guard
    truth = FunctionReward("truth", lambda c, t: 1.0, role=ORACLE)
    env.rubric = Rubric([(FunctionReward("proxy", lambda c, t: 1.0), 1.0), (truth, 0.0)])
    assert has_learned_reward(env)
    guard_for_env(env, tmp_path, llmgym.make_policy("tiny:hidden=16,layers=1,heads=2"), config="stop")
    assert seen == {"gold": "truth", "proxy": ["proxy"]}
