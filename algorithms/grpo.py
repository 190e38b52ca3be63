"""`grpo`: TRL's GRPOTrainer on the env's train prompts, scored by the env's rubric.

What it really is: REINFORCE with a group baseline. Each prompt is sampled `num_generations` times;
a completion's advantage is its reward minus the group's mean, divided by the group's standard
deviation; with one optimizer step per batch the PPO-style ratio is 1, so its clipping never acts.
`beta > 0` adds a KL penalty towards the starting weights (the reference model). A group whose
completions all score alike gives no signal (`frac_reward_zero_std` in metrics.jsonl).

It is the one algorithm that runs tool envs: a `ToolEnv` goes to GRPO's `environment_factory`
(`llmgym.train.tool_env`), which runs the tool calls and masks their results from the loss.
"""

from __future__ import annotations

from llmgym.train.algorithm import Algorithm, FitResult, RunContext


class GRPO(Algorithm):
    name = "grpo"
    trl_config = "trl:GRPOConfig"
    trl_trainer = "trl:GRPOTrainer"  # MODULE:CLASS, built by `fit_rl` with the TRL config above
    min_generations = 2
    generations_why = "advantages compare a group"
    trains_tool_envs = True
    kl_reference = True
    group_sampling = True  # takes --curriculum and --dynamic-sampling (llmgym.train.sampling, via fit_rl)
    # TRL's default loss sums token losses over the batch and divides by its token count: a group of
    # zero advantage adds 0 to the sum and keeps its tokens in the count (llmgym.train.sampling).
    flat_groups_add_nothing = ("dapo",)

    def fit(self, ctx: RunContext) -> FitResult:
        import importlib

        from llmgym.train.algos import fit_rl

        classes = tuple(getattr(importlib.import_module(module), name)
                        for module, name in (spec.split(":") for spec in (self.trl_config, self.trl_trainer)))
        trainer = fit_rl(ctx.config, ctx.env, ctx.model, ctx.tokenizer, ctx.checkpoints, ctx.callbacks,
                         ctx.on_scores, ctx.world_size, ctx.checkpoint, classes=classes)
        return FitResult(trainer.model, trainer.state.global_step)
