"""`pretrain`: next-token training on the plain-text corpus an env writes (`env.documents("train")`).

What it really is: language modelling, the loss on every token of each document (prompt and
worked solution alike, no chat template), each document ending in the tokenizer's EOS; TRL's
SFTTrainer on a text dataset. It is the first stage of the from-scratch pipeline, pretrain ->
`sft` -> `grpo` (docs/training.md): the model learns the domain as an "internet document
simulator" would, then SFT teaches it to answer in the chat turn, then RL sharpens what it answers.

No reward is optimised, so there is no over-optimisation guard. It trains one env that is not a
tool env: a tool env's documents are its base env's, so pretrain that one instead.
`--train-tasks` sets how many documents are drawn, `--batch-size` the documents per step.
"""

from __future__ import annotations

from typing import Any

from llmgym.errors import LLMGymError
from llmgym.train.algorithm import Algorithm, FitResult, RunContext


class Pretrain(Algorithm):
    name = "pretrain"
    trl_config = "trl:SFTConfig"
    trains_mixtures = False
    guarded = False

    def learning_rate(self, is_tiny: bool) -> float:
        return 3e-3 if is_tiny else 2e-5

    def default_steps(self, is_tiny: bool) -> int:
        return 1000 if is_tiny else 16

    def fit(self, ctx: RunContext) -> FitResult:
        trainer = pretrain_trainer(ctx)
        trainer.train(resume_from_checkpoint=ctx.checkpoint)
        return FitResult(trainer.model, trainer.state.global_step)


def document_dataset(env: Any, n: int, seed: int) -> Any:
    """A `datasets.Dataset` of `{"text": document}` rows from the env's train split."""
    from datasets import Dataset

    rows = [{"text": doc} for doc in env.documents("train", n=n, seed=seed)]
    if not rows:
        raise LLMGymError(f"env {env.name} writes no documents to pretrain on (no reference solutions, and no "
                          "documents() of its own): use --algo grpo, or an env with worked solutions")
    return Dataset.from_list(rows)


def pretrain_trainer(ctx: RunContext) -> Any:
    """TRL's SFTTrainer over the env's documents, not yet trained."""
    from llmgym.train.algos import sft_trainer

    cfg = ctx.config
    dataset = document_dataset(ctx.env, cfg.train_tasks, cfg.seed)
    return sft_trainer(cfg, ctx.model, ctx.tokenizer, dataset, ctx.checkpoints, ctx.callbacks, ctx.world_size,
                       steps=cfg.steps, text_field="text")
