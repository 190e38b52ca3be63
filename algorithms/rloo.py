"""`rloo`: TRL's RLOOTrainer on the env's train prompts, scored by the env's rubric.

What it really is: REINFORCE with a leave-one-out baseline. Each prompt is sampled
`num_generations` times and a completion's advantage is its reward minus the mean reward of the
group's other completions, an unbiased baseline with no value network. `beta > 0` adds a KL penalty
towards the starting weights. Tool envs need GRPO's `environment_factory`, which RLOO lacks.
"""

from __future__ import annotations

from llmgym.train.algorithm import Algorithm, FitResult, RunContext


class RLOO(Algorithm):
    name = "rloo"
    trl_config = "trl:RLOOConfig"
    min_generations = 2
    generations_why = "advantages compare a group"
    kl_reference = True
    group_sampling = True  # takes --curriculum and --dynamic-sampling (llmgym.train.sampling, via fit_rl)

    def fit(self, ctx: RunContext) -> FitResult:
        from trl import RLOOConfig, RLOOTrainer

        from llmgym.train.algos import fit_rl

        trainer = fit_rl(ctx.config, ctx.env, ctx.model, ctx.tokenizer, ctx.checkpoints, ctx.callbacks,
                         ctx.on_scores, ctx.world_size, ctx.checkpoint, classes=(RLOOConfig, RLOOTrainer))
        return FitResult(trainer.model, trainer.state.global_step)
