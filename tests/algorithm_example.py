"""A third party's training algorithm, as a plugin module would ship it: `mine` is plain PyTorch
maximum likelihood on the env's reference solutions (no TRL), written against the contract only
(`llmgym.train.algorithm`). tests/test_algorithm_plugins.py registers it under a distribution name
of its own and trains with `llmgym train --algo mine`."""

from __future__ import annotations

from llmgym import hookimpl
from llmgym.train.algorithm import Algorithm, FitResult, RunContext


class Mine(Algorithm):
    name = "mine"
    trains_mixtures = False
    guarded = False

    def learning_rate(self, is_tiny: bool) -> float:
        return 1e-3

    def fit(self, ctx: RunContext) -> FitResult:
        import torch

        cfg, model, tok = ctx.config, ctx.model, ctx.tokenizer
        tasks = [t for t in ctx.env.tasks("train", n=cfg.train_tasks, seed=cfg.seed) if ctx.env.reference(t)]
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate)
        model.train()
        step = ctx.done_steps
        while step < cfg.steps:
            task = tasks[step % len(tasks)]
            text = tok.apply_chat_template([*task.messages(ctx.env.system_prompt),
                                            {"role": "assistant", "content": ctx.env.reference(task)}], tokenize=False)
            ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]], device=model.device)
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            if ctx.is_main:
                ctx.run.log_metrics({"step": step, "loss": loss.detach().item(), "mine/tokens": ids.shape[1]})
        return FitResult(model, step)


@hookimpl
def llmgym_register_algorithms(register):
    register("mine", Mine, description="Maximum likelihood on reference solutions, in plain PyTorch.")
