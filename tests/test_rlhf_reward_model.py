"""A reward model fitted with TRL's RewardTrainer to simulated (gold-ranked) rankings orders held-out
pairs like the gold labeler, loads by path as the `reward_model` reward, and scores in batches;
`llmgym rm` wraps it on the command line."""

import json
import math

import pytest

import llmgym
from llmgym.cli import main
from llmgym.rlhf import rankings as rk
from llmgym.rlhf.reward_model import RMConfig, encode, held_out, train_reward_model
from llmgym.rlhf.simulate import simulate_rankings
from llmgym.types import Task

TINY = "tiny:hidden=64,layers=1,heads=4"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("rm")
    data = root / "rankings.jsonl"
    rk.append(data, simulate_rankings(llmgym.make("rlhf"), 600, 5, seed=0))
    metrics = train_reward_model(RMConfig(data=str(data), base=TINY, out=str(root / "rm"), steps=120,
                                          batch_size=16, max_length=64, learning_rate=2e-3), say=lambda m: None)
    return root, metrics


def ordered_like(scorer, pairs):
    """Per pair: 1 if the scorer puts chosen above rejected, 1/2 for a tie, else 0."""
    chosen = scorer.score([p["prompt"] for p in pairs], [p["chosen"] for p in pairs])
    rejected = scorer.score([p["prompt"] for p in pairs], [p["rejected"] for p in pairs])
    return [1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected)]


def clustered_mean(values, groups):
    """Mean and its standard error clustered by group: pairs of one prompt share its completions,
    so they are not independent draws, and the error is counted over prompts."""
    by_group = {}
    for value, group in zip(values, groups):
        by_group.setdefault(group, []).append(value)
    n, k = len(values), len(by_group)
    mean = sum(values) / n
    spread = sum((sum(v) - mean * len(v)) ** 2 for v in by_group.values())
    return mean, math.sqrt(k / (k - 1) * spread) / n


@pytest.mark.timeout(900)  # the first to run fits the reward model: ~30 s, minutes on a crowded machine
def test_reward_model_orders_held_out_pairs_like_gold_above_noise(trained):
    """Held-out pairwise accuracy beats chance (1/2), and the same reward model before training
    (same base and seed, fresh head), each by more than 3 standard errors clustered by prompt and
    measured here; not a fixed floor, since the same seed fits other weights on another CPU or
    thread count. Both baselines, because what learned nothing is not at 1/2 exactly: the untrained
    head has a bias of its own (0.425 here). Measured on an Intel Xeon (1 and 2 threads): 0.762 +-
    0.024 on 567 held-out pairs of 102 prompts, 11 errors above chance and 0.34 +- 0.04 above the
    untrained model; with 200 prompts and 80 steps it was 0.654 +- 0.049, 3.1 errors, which is why
    the fixture is this size."""
    import torch

    from llmgym.rlhf.reward_model import RewardScorer, gold_pairs, reward_model_from_policy
    from llmgym.train.run import load_policy

    root, metrics = trained
    records = [r for r in rk.read(root / "rankings.jsonl") if held_out(r, RMConfig.eval_fraction)]
    scorer = RewardScorer.load(str(root / "rm"))
    torch.manual_seed(0)  # as train_reward_model starts: the model it began from
    start = load_policy(TINY, 0)
    untrained = RewardScorer(reward_model_from_policy(start.model).eval(), start.tokenizer, max_length=64)
    labelled = list(rk.preference_pairs(records))
    gold = [dict(p, group=json.dumps(p["prompt"])) for p in gold_pairs(records)]
    assert len(labelled) == metrics["heldout_pairs"] and len(gold) == metrics["heldout_gold_pairs"]
    for pairs in (labelled, gold):
        groups = [p["group"] for p in pairs]
        after, before = ordered_like(scorer, pairs), ordered_like(untrained, pairs)
        acc, noise = clustered_mean(after, groups)
        gain, gain_noise = clustered_mean([a - b for a, b in zip(after, before)], groups)
        print(f"held-out pairwise accuracy {acc:.3f} +- {noise:.3f} on {len(pairs)} pairs "
              f"({(acc - 0.5) / noise:.1f} errors above chance), {gain:+.3f} +- {gain_noise:.3f} over untrained")
        assert acc - 0.5 > 3 * noise, (acc, noise, len(pairs))
        assert gain > 3 * gain_noise, (gain, gain_noise, len(pairs))


@pytest.mark.timeout(900)
def test_saved_model_loads_by_path_as_a_reward_and_scores_in_batches(trained):
    root, _ = trained
    path = root / "rm"
    assert json.loads((path / "llmgym_rm.json").read_text())["base"] == TINY
    env = llmgym.make(f"rlhf:reward=reward_model:{path}")
    assert env.rubric.weights == {"reward_model": 1.0, "gold": 0.0}
    reward = env.rubric.entries[0][0]
    tasks = list(env.tasks("eval", n=6))
    texts = [t.meta["solution"] for t in tasks] + ["the the the the the the the the"] * 6
    batch = reward.score_batch(texts, tasks + tasks)
    one_by_one = [reward.score(c, t) for c, t in zip(texts, tasks + tasks)]
    assert [s.value for s in batch] == pytest.approx([s.value for s in one_by_one], abs=1e-5)
    assert all(0.0 < s.value < 1.0 and "raw" in s.components for s in batch)
    # Huge text scores 0 with a reason instead of being fed to the model.
    assert reward.score("x" * 100_000, tasks[0]).reason == "too_long"
    llmgym.check_env(env)


def test_encoding_keeps_the_completion_when_it_truncates():
    from llmgym.policies.tiny import build_tokenizer

    tok = build_tokenizer()
    ids = encode(tok, "p" * 500, "the completion", max_length=40)
    assert len(ids) == 40 and "the completion" in tok.decode(ids)


def test_held_out_split_keeps_all_pairs_of_a_prompt_together():
    recs = simulate_rankings(llmgym.make("rlhf"), 40, 4, seed=2)
    assert 0 < sum(held_out(r, 0.3) for r in recs) < 40
    assert [held_out(r, 0.3) for r in recs] == [held_out(dict(r), 0.3) for r in reversed(recs)][::-1]


def test_rm_cli_simulate_check_and_bad_data(tmp_path, capsys):
    data = tmp_path / "r.jsonl"
    assert main(["rm", "simulate", "--prompts", "5", "--k", "4", "--out", str(data)]) == 0
    assert main(["rm", "check", "--data", str(data)]) == 0
    assert "5 records (0 skipped)" in capsys.readouterr().out
    with open(data, "a") as f:
        f.write(json.dumps({"prompt": "p", "completions": ["a", "b"], "ranking": [0], "ranker": "x", "time": "t"}) + "\n")
    assert main(["rm", "check", "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"llmgym: error: {data}:6: ranking leaves out completion(s) [1]"
    assert main(["rm", "train", "--data", str(tmp_path / "missing.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    tied = tmp_path / "tied.jsonl"
    rk.append(tied, [rk.make_record("p", ["a", "b"], [[0, 1]], ranker="x", task=Task("p", {}).to_dict())])
    assert main(["rm", "train", "--data", str(tied)]) == 2
    assert "imply no pairs" in capsys.readouterr().err


def test_rm_train_refuses_an_out_folder_holding_other_files_before_any_model_loads(tmp_path, capsys):
    # The saved model replaces --out whole, so a folder of someone's files is never taken for it.
    data = tmp_path / "r.jsonl"
    rk.append(data, [rk.make_record("p", ["a", "b"], [0, 1], ranker="x", task=Task("p", {}).to_dict())])
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["rm", "train", "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"llmgym: error: --out {out} holds files but no reward model, and the saved model "
                           "replaces the folder whole; name a new or empty folder")
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.timeout(900)
def test_best_of_n_against_the_reward_model_is_guarded_and_stops_keeping_the_best(trained, tmp_path):
    """`--algo bon` against a learned reward gets the over-optimisation guard as GRPO does: a probe
    before the first round and after each one, and a stop (here: a KL budget of 0 nats, crossed by
    the first large round) ends the run there, keeping the step-0 policy in best/."""
    from transformers import AutoModelForCausalLM

    from llmgym.train.config import TrainConfig
    from llmgym.train.run import train

    root, _ = trained
    out = tmp_path / "run"
    off = ",".join(f"{k}=none" for k in ("max_repetition", "min_distinct_2", "max_near_identical",
                                          "max_length_drift", "max_longest_run"))
    summary = train(TrainConfig(env=f"rlhf:family=joke,reward=reward_model:{root / 'rm'}", policy=TINY, algo="bon",
                                steps=4, batch_size=4, num_generations=2, max_completion_length=12,
                                learning_rate=3e-2, eval_every=0, eval_tasks=2, save_every=0, out=str(out),
                                guard=f"stop:eval_every=1,probe_tasks=3,samples=2,max_kl=0,{off}"))
    verdict = json.loads((out / "guard.json").read_text())
    assert summary["steps"] == 1 and verdict["stopped"] and verdict["step"] == 1, verdict
    assert verdict["reason"].startswith("kl_budget") and verdict["best_step"] == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "rlhf/proxy_reward" in r] == [0, 1]
    assert all("rlhf/gold_score" in r and "rlhf/kl" in r for r in rows if "rlhf/proxy_reward" in r)
    assert max(r["step"] for r in rows if "reward" in r and "kept_fraction" in r) == 1  # no second round
    assert json.loads((out / "best" / "llmgym_guard.json").read_text())["step"] == 0
    AutoModelForCausalLM.from_pretrained(out / "best")

    # watch: every round is probed and the run goes on to the end.
    watched = tmp_path / "watched"
    summary = train(TrainConfig(env=f"rlhf:family=joke,reward=reward_model:{root / 'rm'}", policy=TINY, algo="bon",
                                steps=2, batch_size=4, num_generations=2, max_completion_length=12,
                                learning_rate=3e-2, eval_every=0, eval_tasks=2, save_every=0, out=str(watched),
                                guard="watch:eval_every=1,probe_tasks=3,samples=2,max_kl=0"))
    assert summary["steps"] == 2
    history = json.loads((watched / "guard.json").read_text())["history"]
    assert [h["step"] for h in history] == [0, 1, 2]
