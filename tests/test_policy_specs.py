"""Policy specs resolve in one place (`Gym.make_policy`): a run directory is a policy wherever a
policy is named, and the trainer takes the policies whose registration says `trainable`."""

from __future__ import annotations

import pytest

import llmgym
from llmgym.errors import LLMGymError
from llmgym.train.run import load_policy
from llmgym.types import TrainablePolicy

TINY = "tiny:hidden=32,layers=1"


def test_a_run_directory_is_a_policy_through_make_policy(tmp_path):
    tiny = llmgym.make_policy(TINY)
    run = tmp_path / "run"
    tiny.save(run / "final")
    policy = llmgym.make_policy(str(run))
    assert isinstance(policy, TrainablePolicy) and policy.model.config.hidden_size == 32


def test_trainable_policies_give_a_policy_for_a_changed_model():
    policy = load_policy(TINY, seed=0)
    other = policy.with_model(policy.model)
    assert isinstance(other, TrainablePolicy) and other.model is policy.model and other.tokenizer is policy.tokenizer


def test_a_policy_registered_as_not_trainable_is_refused_in_one_line():
    with pytest.raises(LLMGymError, match="policy 'openai:base_url=http://127.0.0.1:9,model=m' cannot be trained"):
        load_policy("openai:base_url=http://127.0.0.1:9,model=m", seed=0)
