"""`--rollout-dtype`: rollouts and held-out answers are sampled from a copy of the weights cast at each
`generate` call (bf16 where the CPU runs it faster), while the update reads and changes the fp32 weights
(llmgym.cpu_dtype.sample_in)."""

from __future__ import annotations

import pytest
import yaml

import llmgym
import train_toy
from llmgym import cpu_dtype
from llmgym.cpu_dtype import resolve_rollout_dtype, rollout_dtype_of, sample_in
from llmgym.errors import LLMGymError
from llmgym.train.config import TrainConfig
from llmgym.train.run import train

TINY = "tiny:hidden=32,layers=1"


class VariedEnv(train_toy.ToyAddEnv):
    """toyadd's prompts, rewarding distinct characters: a random tiny model's groups always differ, so
    every GRPO step has an advantage and changes the weights."""

    name = "toyvaried"

    def default_rubric(self):
        from llmgym.rubric import FunctionReward, Rubric

        return Rubric([(FunctionReward("distinct", lambda c, t: len(set(c)) / 10), 1.0)])


@pytest.fixture(autouse=True)
def toy_envs():
    train_toy.register()
    registry = llmgym.default_gym().registry("envs")
    if "toyvaried" not in registry:
        registry.register("toyvaried", VariedEnv, source="tests")


def block_calls(model):
    """(dtype of the weights, grad enabled, module) of every forward through the first block's MLP output
    projection of `model` or of any copy made of it afterwards (deepcopy carries the hook). TRL's loss
    reads the output layer's weight directly (fused log-probs), so the hook sits inside a block."""
    import torch

    calls = []
    model.model.layers[0].mlp.down_proj.register_forward_hook(
        lambda module, args, out: calls.append((module.weight.dtype, torch.is_grad_enabled(), module)))
    return calls


def test_generate_samples_from_a_fresh_bf16_copy_and_leaves_the_fp32_weights_alone():
    import torch

    model = llmgym.make_policy("tiny", hidden=32, layers=1).model
    calls = block_calls(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert sample_in(model, "bfloat16") and rollout_dtype_of(model) == "bfloat16"
    ids = torch.tensor([[1, 2, 3]])
    out = model.generate(ids, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape == (1, 6)
    assert calls and {(dtype, grad) for dtype, grad, _ in calls} == {(torch.bfloat16, False)}
    proj = model.model.layers[0].mlp.down_proj
    assert all(module is not proj for _, _, module in calls)  # a copy, not the model itself
    assert model.dtype == torch.float32
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())

    # The next call sees weights changed since: the copy is cast afresh, never cached.
    with torch.no_grad():
        proj.weight.mul_(2.0)
    calls.clear()
    model.generate(ids, max_new_tokens=1, do_sample=False)
    assert torch.equal(calls[0][2].weight, proj.weight.to(torch.bfloat16))

    # A forward outside generate is the fp32 model's own.
    calls.clear()
    model(ids)
    assert calls[0][0] == torch.float32 and calls[0][2] is proj


def test_a_model_already_in_the_dtype_is_left_without_a_hook():
    model = llmgym.make_policy("tiny", hidden=32, layers=1).model
    assert not sample_in(model, "float32")
    assert "generate" not in model.__dict__ and rollout_dtype_of(model) == "float32"


def test_auto_is_the_measured_fast_dtype_only_for_a_pretrained_full_weight_fp32_model(monkeypatch):
    model = llmgym.make_policy("tiny", hidden=32, layers=1).model
    for fast in ("bfloat16", "float32"):
        monkeypatch.setattr(cpu_dtype, "_FAST_CPU_DTYPE", fast)
        assert resolve_rollout_dtype("auto", model, is_tiny=False, lora=False) == fast
    monkeypatch.setattr(cpu_dtype, "_FAST_CPU_DTYPE", "bfloat16")
    assert resolve_rollout_dtype("auto", model, is_tiny=True, lora=False) == "float32"
    assert resolve_rollout_dtype("auto", model, is_tiny=False, lora=True) == "float32"
    assert resolve_rollout_dtype("bfloat16", model, is_tiny=True, lora=False) == "bfloat16"


@pytest.mark.parametrize("option, lora, message", [
    ("fp16", False, "rollout_dtype must be one of auto, float32, bfloat16, got 'fp16'"),
    ("bfloat16", True, "a LoRA run samples in its --base-dtype"),
])
def test_bad_rollout_dtypes_are_one_line_errors(option, lora, message):
    model = llmgym.make_policy("tiny", hidden=32, layers=1).model
    with pytest.raises(LLMGymError, match=message) as err:
        resolve_rollout_dtype(option, model, is_tiny=False, lora=lora)
    assert "\n" not in str(err.value)
    if not lora:
        with pytest.raises(LLMGymError, match=message):
            TrainConfig(env="toyadd", rollout_dtype=option)


def test_cli_refuses_an_unknown_rollout_dtype_with_exit_2(capsys):
    from llmgym.cli import main

    assert main(["train", "--env", "toyadd", "--policy", TINY, "--rollout-dtype", "fp8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "rollout_dtype must be one of auto, float32, bfloat16" in err and "\n" not in err


def test_grpo_samples_in_bf16_and_trains_the_fp32_weights(tmp_path):
    """A run with `--rollout-dtype bfloat16`: every forward under gradient (the loss) reads the fp32
    weights, the rollouts and held-out answers come from bf16 copies, the weights change, and
    config.yaml records the dtype; a tiny model's `auto` records float32."""
    import torch
    from transformers import TrainerCallback

    seen: dict = {}

    class Spy(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            seen["calls"] = block_calls(model)
            seen["start"] = model.model.layers[0].mlp.down_proj.weight.detach().clone()
            seen["model"] = model

    out = tmp_path / "run"
    summary = train(TrainConfig(env="toyvaried", policy=TINY, algo="grpo", steps=2, out=str(out), save_every=0,
                                eval_tasks=4, eval_every=0, max_completion_length=8, train_tasks=32,
                                num_generations=4, prompts_per_step=2, learning_rate=1e-2,
                                rollout_dtype="bfloat16"), callbacks=[Spy()])
    assert summary["steps"] == 2
    kinds = {(dtype, grad) for dtype, grad, _ in seen["calls"]}
    assert (torch.bfloat16, False) in kinds and (torch.float32, True) in kinds
    assert (torch.bfloat16, True) not in kinds  # no gradient ever flows through a bf16 copy
    weight = seen["model"].model.layers[0].mlp.down_proj.weight
    assert weight.dtype == torch.float32 and not torch.equal(weight.detach(), seen["start"])
    assert yaml.safe_load((out / "config.yaml").read_text())["rollout_dtype"] == "bfloat16"

    plain = tmp_path / "plain"
    train(TrainConfig(env="toyadd", policy=TINY, algo="grpo", steps=1, out=str(plain), save_every=0, eval_tasks=0,
                      max_completion_length=8, train_tasks=32, num_generations=4, prompts_per_step=2))
    assert yaml.safe_load((plain / "config.yaml").read_text())["rollout_dtype"] == "float32"


def test_a_bf16_copy_hands_its_output_layer_contiguous_inputs():
    """Generation's last-position logits come from a strided view of the hidden states, which PyTorch's
    CPU bf16 matmul multiplies by broadcasting the output weight per row (~900 MB for SmolLM2 at batch
    16); the copy's output layer gets a contiguous copy instead, and the logits stay the same."""
    import torch

    from llmgym.cpu_dtype import cast_copy

    model = llmgym.make_policy("tiny", hidden=32, layers=1).model
    copy = cast_copy(model, torch.bfloat16)
    seen = []
    copy.get_output_embeddings().register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous()))
    hidden = torch.randn(4, 6, 32, dtype=torch.bfloat16)
    strided = hidden[:, -1:, :]
    assert not strided.is_contiguous()
    logits = copy.get_output_embeddings()(strided)
    assert seen == [True]
    assert torch.equal(logits, strided.contiguous() @ copy.get_output_embeddings().weight.T)
    plain = []
    model.get_output_embeddings().register_forward_pre_hook(lambda m, args: plain.append(args[0].is_contiguous()))
    model.get_output_embeddings()(hidden.float()[:, -1:, :])
    assert plain == [False]  # the fp32 model itself is left as it is
