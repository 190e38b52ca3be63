"""`--bf16` on a CPU: the loss pass runs its matmuls in bf16 under autocast, without autocast's
weight cache (a bf16 copy of every weight held to the end of each forward pass), while the weights
the optimizer updates stay fp32."""

from __future__ import annotations

import torch

from llmgym.train.config import TrainConfig
from llmgym.train.run import train

TINY = "tiny:hidden=32,layers=1"


def test_bf16_autocasts_the_loss_pass_without_a_weight_cache_and_keeps_fp32_weights(tmp_path):
    from transformers import TrainerCallback

    seen: list[tuple[torch.dtype, bool]] = []

    def build(ctx):
        linear = next(m for m in ctx.policy.model.modules() if isinstance(m, torch.nn.Linear))

        def hook(module, args, output):
            if torch.is_grad_enabled() and module.training:  # the loss pass, not generation
                seen.append((output.dtype, torch.is_autocast_cache_enabled()))

        linear.register_forward_hook(hook)
        return TrainerCallback()

    out = tmp_path / "bf16"
    result = train(TrainConfig(env="counting", policy=TINY, algo="grpo", steps=1, save_every=0, eval_every=0,
                               eval_tasks=2, max_completion_length=6, train_tasks=8, num_generations=2,
                               prompts_per_step=2, bf16=True, out=str(out)), callbacks=[build])
    assert seen and all(dtype == torch.bfloat16 for dtype, _ in seen)
    assert not any(cached for _, cached in seen)
    from transformers import AutoModelForCausalLM

    final = AutoModelForCausalLM.from_pretrained(out / "final")
    assert all(p.dtype == torch.float32 for p in final.parameters())
    assert result["steps"] == 1


def test_without_bf16_the_loss_pass_stays_fp32(tmp_path):
    seen: list[torch.dtype] = []

    def build(ctx):
        from transformers import TrainerCallback

        linear = next(m for m in ctx.policy.model.modules() if isinstance(m, torch.nn.Linear))
        linear.register_forward_hook(
            lambda module, args, output: seen.append(output.dtype) if torch.is_grad_enabled() and module.training
            else None)
        return TrainerCallback()

    train(TrainConfig(env="counting", policy=TINY, algo="grpo", steps=1, save_every=0, eval_every=0, eval_tasks=2,
                      max_completion_length=6, train_tasks=8, num_generations=2, prompts_per_step=2,
                      out=str(tmp_path / "fp32")), callbacks=[build])
    assert seen and set(seen) == {torch.float32}
