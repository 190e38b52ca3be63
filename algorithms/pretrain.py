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
    from trl import SFTConfig, SFTTrainer

    # The shared TRL machinery; sft_trainer itself puts the loss on completions only, which TRL
    # refuses for a text dataset, so the config is built here from the same pieces.
    from llmgym.train.algos import _common_args, _peft, _rich_progress, _trl_notices_silenced
    from llmgym.train.trl_options import config_kwargs

    cfg = ctx.config
    dataset = document_dataset(ctx.env, cfg.train_tasks, cfg.seed)
    per_device = max(1, cfg.batch_size // ctx.world_size)  # as sft's
    args = SFTConfig(**config_kwargs(cfg, SFTConfig, dict(
        **_common_args(cfg, ctx.checkpoints, per_device=per_device), completion_only_loss=False,
        dataset_text_field="text", packing=False, max_length=None)))
    with _trl_notices_silenced():
        trainer = SFTTrainer(model=ctx.model, args=args, train_dataset=dataset, processing_class=ctx.tokenizer,
                             callbacks=ctx.callbacks, peft_config=_peft(cfg))
    _rich_progress(trainer)
    return trainer
