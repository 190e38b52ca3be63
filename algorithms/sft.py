"""`sft`: TRL's SFTTrainer on the reference solutions an env can write (`env.reference(task)`).

What it really is: maximum likelihood on (prompt, reference completion) pairs, the loss on the
completion's tokens only. No reward is optimised, so a learned reward has nothing to fool: sft runs
get no over-optimisation guard. A mixture draws its tasks by weight, and every env of it must have
references. A tool env trains on its references like any env.
"""

from __future__ import annotations

from llmgym.train.algorithm import Algorithm, FitResult, RunContext


class SFT(Algorithm):
    name = "sft"
    trl_config = "trl:SFTConfig"
    trains_tool_envs = True
    guarded = False

    def learning_rate(self, is_tiny: bool) -> float:
        return 1e-3 if is_tiny else 2e-5

    def default_steps(self, is_tiny: bool) -> int:
        return 300 if is_tiny else 16

    def fit(self, ctx: RunContext) -> FitResult:
        from llmgym.train.algos import fit_sft

        trainer = fit_sft(ctx.config, ctx.env, ctx.model, ctx.tokenizer, ctx.checkpoints, ctx.callbacks,
                          ctx.world_size, ctx.checkpoint)
        return FitResult(trainer.model, trainer.state.global_step)
