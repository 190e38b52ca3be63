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


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory holding a tiny model in `final/`, as `llmgym train` leaves one."""
    run = tmp_path_factory.mktemp("policy-run") / "run"
    llmgym.make_policy(TINY).save(run / "final")
    return run


def test_rm_simulate_samples_from_a_run_directory(run_dir, tmp_path):
    from llmgym.cli import main
    from llmgym.rlhf import rankings as rk

    out = tmp_path / "rankings.jsonl"
    assert main(["rm", "simulate", "--env", "rlhf", "--prompts", "2", "--k", "2", "--policy", str(run_dir),
                 "--out", str(out)]) == 0
    records = rk.read(out, strict=True)
    assert len(records) == 2 and all(len(r["completions"]) == 2 for r in records)


def test_label_draws_its_queue_from_a_run_directory(run_dir, tmp_path, monkeypatch):
    """Everything up to binding the port: the queue is sampled from the run directory's model."""
    import llmgym.rlhf.label_server as label_server
    from llmgym.cli import main

    class Bound(Exception):
        pass

    def make_server(session, port):
        raise Bound(session.state())

    monkeypatch.setattr(label_server, "make_server", make_server)
    with pytest.raises(Bound) as bound:
        main(["label", "--env", "rlhf", "--policy", str(run_dir), "--prompts", "1", "--k", "2",
              "--max-tokens", "8", "--out", str(tmp_path / "r.jsonl")])
    assert bound.value.args[0]["total"] == 1
    assert label_server.queue_path(tmp_path / "r.jsonl").read_text().count("\n") == 1


def test_judge_reward_takes_a_run_directory_as_its_policy(run_dir):
    judge = llmgym.make_reward(f"judge:policy={run_dir},max_tokens=4")
    assert isinstance(judge.policy, TrainablePolicy) and judge.policy.model.config.hidden_size == 32
    task = next(llmgym.make("rlhf").tasks("train", n=1))
    assert len(judge.score_batch(["A short joke."], [task])) == 1
