"""End-to-end runs on tiny models built from a config: the run directory, grpo's metrics and samples,
bon, and zero advantage from a constant reward (no parameter moves)."""

from __future__ import annotations

import json

import pytest

import train_toy
from llmgym.train.config import TrainConfig
from llmgym.train.data import reward_functions
from llmgym.train.rundir import RunDir
from llmgym.train.run import train

TINY = "tiny:hidden=32,layers=1"
FAST = dict(eval_tasks=6, eval_every=2, max_completion_length=8, train_tasks=64, num_generations=4,
            prompts_per_step=2, batch_size=4)


@pytest.fixture(autouse=True)
def toy_envs():
    train_toy.register()


def test_reward_functions_have_trl_signature_and_the_rubric_weights():
    env = train_toy.ToyAddEnv()
    seen = []
    funcs, weights = reward_functions(env, on_scores=lambda *a, **kw: seen.append(a))
    task = next(env.tasks("train"))
    column = [json.dumps(task.to_dict())] * 2
    right = [{"role": "assistant", "content": f"so \\boxed{{{task.answer}}}"}]
    out = funcs[0](prompts=[task.messages()] * 2, completions=[right, [{"role": "assistant", "content": "x"}]],
                   task=column, trainer_state=None)
    assert out == [1.0, 0.0] and weights == [1.0] and funcs[0].__name__ == "correct"
    assert seen and seen[0][3] == {"correct": [1.0, 0.0]}


def test_sft_run_writes_a_complete_run_directory(tmp_path):
    out = tmp_path / "sft"
    summary = train(TrainConfig(env="toyadd", policy=TINY, algo="sft", steps=4, save_every=2, out=str(out), **FAST))
    run = RunDir(out)
    rows = run.rows()
    steps = [r["step"] for r in rows if "loss" in r]
    assert steps == [1, 2, 3, 4]
    assert [r["step"] for r in rows if "eval/accuracy" in r] == [0, 2, 4]
    assert all("step_time" in r for r in rows if "loss" in r)
    assert run.read_config()["algo"] == "sft" and run.read_config()["learning_rate"] == pytest.approx(1e-3)
    assert run.latest_checkpoint()[1] == 4 and (run.final / "config.json").is_file()
    saved = json.loads(run.summary.read_text())
    assert saved["steps"] == 4 and set(saved["before"]) >= {"accuracy", "reward", "length"}
    assert summary["after"] == saved["after"] and saved["ranks"] == [{"rank": 0, "world_size": 1, "steps": 4}]
    with pytest.raises(Exception, match="already holds a run"):
        train(TrainConfig(env="toyadd", policy=TINY, algo="sft", steps=1, out=str(out), **FAST))


def test_grpo_logs_rewards_components_and_samples(tmp_path):
    out = tmp_path / "grpo"
    train(TrainConfig(env="toyadd", policy=TINY, algo="grpo", steps=2, save_every=0, beta=0.05, out=str(out),
                      **FAST))
    run = RunDir(out)
    steps = [r for r in run.rows() if "reward" in r and "eval/reward" not in r]
    assert [r["step"] for r in steps] == [1, 2]
    for r in steps:
        assert {"reward", "reward_std", "rewards/correct/mean", "frac_reward_zero_std",
                "completions/mean_length", "kl", "step_time"} <= set(r)
    samples = run.rows(run.samples)
    assert len(samples) == 2 * 8 and {s["step"] for s in samples} == {1, 2}  # 2 prompts x 4 per step
    assert all(set(s) >= {"prompt", "completion", "reward", "components", "answer"} for s in samples)


def test_constant_reward_gives_zero_advantage_and_leaves_every_parameter_unchanged(tmp_path):
    import torch

    import llmgym

    out = tmp_path / "const"
    train(TrainConfig(env="toyconst", policy=TINY, algo="grpo", steps=2, save_every=0, eval_every=0,
                      out=str(out), **{k: v for k, v in FAST.items() if k != "eval_every"}))
    run = RunDir(out)
    steps = [r for r in run.rows() if "reward" in r and "eval/reward" not in r]
    assert all(r["reward_std"] == 0 and r["frac_reward_zero_std"] == 1.0 and r["loss"] == 0 for r in steps)
    start = llmgym.make_policy(TINY, seed=0).model.state_dict()
    from transformers import AutoModelForCausalLM

    end = AutoModelForCausalLM.from_pretrained(run.final).state_dict()
    assert start.keys() == end.keys()
    assert all(torch.equal(start[k], end[k]) for k in start)


def test_bon_keeps_the_best_sample_per_prompt_and_fine_tunes_on_it(tmp_path):
    out = tmp_path / "bon"
    train(TrainConfig(env="toyadd", policy=TINY, algo="bon", steps=2, save_every=1, eval_every=0,
                      out=str(out), **{k: v for k, v in FAST.items() if k != "eval_every"}))
    run = RunDir(out)
    rounds = [r for r in run.rows() if "kept_fraction" in r]
    assert [r["step"] for r in rounds] == [1, 2]
    assert all(0 <= r["kept_fraction"] <= 1 and "frac_reward_zero_std" in r for r in rounds)
    assert run.latest_checkpoint()[1] == 2 and (run.final / "config.json").is_file()
    assert len(run.rows(run.samples)) == 2 * 4 * 4  # rounds x prompts x n


def test_lora_trains_an_adapter_and_final_is_a_merged_plain_model(tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    train(TrainConfig(env="toyadd", policy=TINY, algo="sft", steps=2, lora=True, lora_r=4, save_every=0,
                      eval_every=0, out=str(out), **{k: v for k, v in FAST.items() if k != "eval_every"}))
    run = RunDir(out)
    assert [r["step"] for r in run.rows() if "loss" in r] == [1, 2]
    final = AutoModelForCausalLM.from_pretrained(run.final)
    assert not any("lora" in k for k in final.state_dict())
