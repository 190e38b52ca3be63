"""`--dynamic-sampling`: groups whose rewards are all equal never reach the backward pass (`drop`),
or are replaced by fresh groups within a bound (`fill`); the sequences the model runs with
gradients are counted with a forward hook, so "no backward for them" is measured, not assumed."""

from __future__ import annotations

import itertools

import pytest

import llmgym
from llmgym.env import SingleTurnEnv
from llmgym.errors import LLMGymError
from llmgym.rubric import SUCCESS, FunctionReward, Rubric
from llmgym.train.config import TrainConfig
from llmgym.train.run import train
from llmgym.train.rundir import RunDir
from llmgym.train.sampling import DynamicSampling, _concat, _first_groups
from llmgym.types import Task

TINY = "tiny:hidden=32,layers=1"
G, PROMPTS = 4, 4


class HalfEnv(SingleTurnEnv):
    """Even numbers are always right (every group alike: no signal), odd ones right for every other
    completion scored (half of each group)."""

    name = "toyhalf"
    levels = (1,)

    def generate_task(self, rng):
        n = rng.randint(0, 10**6)
        return Task(f"say {n}", n)

    def default_rubric(self):
        turns = itertools.count()

        def right(completion: str, task: Task) -> float:
            return 1.0 if task.answer % 2 == 0 else float(next(turns) % 2)

        return Rubric([(FunctionReward("correct", right, role=SUCCESS), 1.0)])


@pytest.fixture(autouse=True)
def toy_half():
    registry = llmgym.default_gym().registry("envs")
    if HalfEnv.name not in registry:
        registry.register(HalfEnv.name, HalfEnv, source="tests")


def backward_counter(counts: dict[int, int]):
    """A callback factory: per step, the sequences the policy's forward ran with gradients on (the
    loss's forward, whose backward follows; generation and log-probs for the old policy run without)."""
    import torch
    from transformers import TrainerCallback

    def build(ctx):
        seen = {"rows": 0}

        def hook(module, args, kwargs, output):
            if torch.is_grad_enabled() and module.training:
                ids = kwargs.get("input_ids", args[0] if args else None)
                seen["rows"] += int(ids.shape[0])

        ctx.policy.model.register_forward_hook(hook, with_kwargs=True)

        class Count(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                counts[state.global_step] = seen["rows"]
                seen["rows"] = 0

        return Count()

    return build


def run(tmp_path, mode: str, algo: str = "grpo", steps: int = 4, **options) -> tuple[dict[int, dict], dict[int, int]]:
    """A short run; `backward_counter` counts the forward's rows, so these runs use TRL's loss pass, one row
    per sequence (`shared_prompt=False`; tests/test_shared_prompt.py shows the packed pass's update is the same)."""
    counts: dict[int, int] = {}
    out = tmp_path / f"{algo}-{mode.replace(':', '-')}"
    options = {"shared_prompt": False, **options}
    train(TrainConfig(env="toyhalf", policy=TINY, algo=algo, steps=steps, save_every=0, eval_every=0, eval_tasks=2,
                      max_completion_length=6, train_tasks=40, num_generations=G, prompts_per_step=PROMPTS,
                      dynamic_sampling=mode, out=str(out), **options), callbacks=[backward_counter(counts)])
    rows = {r["step"]: r for r in RunDir(out).rows() if "reward" in r and "eval/reward" not in r}
    return rows, counts


# -- the option ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, message", [
    ("sometimes", "dynamic_sampling must be one of off, drop, fill"),
    ("fill:trys=3", "unknown dynamic_sampling option 'trys' (did you mean: tries?)"),
    ("fill:tries=0", "tries must be an integer >= 1"),
    ("drop:tries=3", "dynamic_sampling drop takes no tries="),
])
def test_bad_specs_are_one_error_naming_the_value(spec, message):
    with pytest.raises(LLMGymError) as err:
        DynamicSampling.from_spec(spec)
    assert message in str(err.value)


def test_sft_and_bon_refuse_the_option_of_group_sampling():
    with pytest.raises(LLMGymError, match="--dynamic-sampling applies to the algorithms that sample groups"):
        TrainConfig(env="toyhalf", algo="sft", dynamic_sampling="drop")


# -- the pieces ------------------------------------------------------------------------------------------
def test_the_first_groups_with_signal_are_taken_across_rounds_in_order():
    import torch

    rounds = [torch.tensor([True, False, True, False]), torch.tensor([False, True, True, True])]
    chosen = _first_groups(rounds, 3)
    assert [c.tolist() for c in chosen] == [[True, False, True, False], [False, True, False, False]]


def test_rounds_padded_to_different_widths_merge_with_prompts_left_and_completions_right():
    import torch

    a = {"prompt_ids": torch.tensor([[5, 6]]), "prompt_mask": torch.tensor([[1, 1]]),
         "completion_ids": torch.tensor([[7]]), "completion_mask": torch.tensor([[1]]),
         "advantages": torch.tensor([0.5]), "num_items_in_batch": torch.tensor(1), "old_per_token_logps": None}
    b = {"prompt_ids": torch.tensor([[4, 5, 6]]), "prompt_mask": torch.tensor([[1, 1, 1]]),
         "completion_ids": torch.tensor([[8, 9]]), "completion_mask": torch.tensor([[1, 1]]),
         "advantages": torch.tensor([-0.5]), "num_items_in_batch": torch.tensor(2), "old_per_token_logps": None}
    merged = _concat([a, b], pad_id=0)
    assert merged["prompt_ids"].tolist() == [[0, 5, 6], [4, 5, 6]]
    assert merged["prompt_mask"].tolist() == [[0, 1, 1], [1, 1, 1]]
    assert merged["completion_ids"].tolist() == [[7, 0], [8, 9]]
    assert merged["completion_mask"].tolist() == [[1, 0], [1, 1]]
    assert merged["advantages"].tolist() == [0.5, -0.5] and merged["old_per_token_logps"] is None


# -- runs ------------------------------------------------------------------------------------------------
def test_off_trains_every_group_and_drop_runs_no_backward_for_groups_whose_rewards_are_equal(tmp_path):
    rows, counts = run(tmp_path, "off")
    assert all(counts[s] == PROMPTS * G for s in rows)  # today: zero-variance groups cost a full backward
    assert any(rows[s]["frac_reward_zero_std"] > 0 for s in rows) and not any("dynamic/kept_fraction" in r
                                                                              for r in rows.values())
    rows, counts = run(tmp_path, "drop")
    assert sorted(rows) == [1, 2, 3, 4]
    for step, r in rows.items():
        flat = r["dynamic/zero_std_groups"]
        assert flat == pytest.approx(r["frac_reward_zero_std"] * PROMPTS)  # TRL's own count of them
        assert r["dynamic/dropped_groups"] == flat and r["dynamic/extra_rounds"] == 0
        kept = PROMPTS - flat
        assert r["dynamic/kept_fraction"] == kept / PROMPTS
        # The backward ran on the kept groups' sequences only (one sequence when none was kept).
        assert counts[step] == r["dynamic/loss_sequences"] == (kept * G if kept else 1)
        assert r["dynamic/backward_saved"] == pytest.approx(1 - counts[step] / (PROMPTS * G))
    assert sum(r["dynamic/dropped_groups"] for r in rows.values()) > 0


def test_drop_makes_the_update_off_makes_minus_the_backward_passes(tmp_path):
    off, off_counts = run(tmp_path, "off", steps=1)
    drop, drop_counts = run(tmp_path, "drop", steps=1)
    assert drop[1]["dynamic/zero_std_groups"] > 0 and drop_counts[1] < off_counts[1]  # fewer sequences ...
    # ... and the same gradient: dropped rows add 0 to the summed loss, whose token count is kept
    # (comparing weights would not do: Adam's first step turns float noise in near-zero gradients
    # into +-lr).
    assert drop[1]["grad_norm"] == pytest.approx(off[1]["grad_norm"], rel=1e-4)
    assert drop[1]["loss"] == pytest.approx(off[1]["loss"], rel=1e-4, abs=1e-7)


def test_auto_the_default_drops_only_where_the_update_stays_the_same():
    assert TrainConfig(env="toyhalf").dynamic_sampling == "auto"

    def mode(**kw):
        return TrainConfig(env="toyhalf", **kw).resolved(is_tiny=True).dynamic_sampling

    assert mode() == "drop"  # grpo, TRL's default loss, no KL term
    assert mode(beta=0.1) == "off"  # a dropped group would leave the KL term
    assert mode(trl={"loss_type": "grpo"}) == "off"  # averaged per sequence: dropping rescales the step
    assert mode(algo="rloo") == "off"  # RLOO averages per sequence too
    assert mode(algo="sft") == "off" and mode(dynamic_sampling="fill") == "fill"


def test_a_default_run_drops_flat_groups_and_records_drop(tmp_path):
    import yaml

    rows, counts = run(tmp_path, "auto", steps=2)
    assert yaml.safe_load((tmp_path / "grpo-auto" / "config.yaml").read_text())["dynamic_sampling"] == "drop"
    for step, r in rows.items():
        kept = PROMPTS - r["dynamic/zero_std_groups"]
        assert counts[step] == r["dynamic/loss_sequences"] == (kept * G if kept else 1)


def test_fill_replaces_dropped_groups_with_fresh_ones_within_its_tries(tmp_path):
    rows, counts = run(tmp_path, "fill:tries=3")
    for step, r in rows.items():
        assert r["dynamic/extra_rounds"] <= 3
        if r["dynamic/zero_std_groups"] > 0:
            assert r["dynamic/extra_rounds"] >= 1  # it generated more ...
        full = r["dynamic/kept_fraction"] == 1.0
        assert full or r["dynamic/extra_rounds"] == 3  # ... until full, or out of tries
        assert counts[step] == r["dynamic/loss_sequences"] == r["dynamic/kept_fraction"] * PROMPTS * G
    assert sum(r["dynamic/extra_rounds"] for r in rows.values()) > 0


def test_rloo_drops_the_same_way(tmp_path):
    rows, counts = run(tmp_path, "drop", algo="rloo", steps=2)
    for step, r in rows.items():
        kept = PROMPTS - r["dynamic/zero_std_groups"]
        assert counts[step] == r["dynamic/loss_sequences"] == (kept * G if kept else 1)


def test_a_tool_env_drops_its_zero_variance_episodes_and_refuses_fill(tmp_path):
    out = tmp_path / "tools"
    train(TrainConfig(env="counting:tools=python", policy=TINY, algo="grpo", steps=1, save_every=0, eval_every=0,
                      eval_tasks=2, max_completion_length=16, train_tasks=8, num_generations=2, prompts_per_step=2,
                      dynamic_sampling="drop", out=str(out)))
    (row,) = [r for r in RunDir(out).rows() if "loss" in r]
    assert row["dynamic/dropped_groups"] == row["frac_reward_zero_std"] * 2 and "tools/call_frequency" in row
    with pytest.raises(LLMGymError, match="a tool env trains without --curriculum and --dynamic-sampling fill"):
        TrainConfig(env="counting:tools=python", algo="grpo", dynamic_sampling="fill")  # before any work
