"""The TRL machinery the algorithm plugins (`llmgym.algorithms`) share: training arguments from our
config, the GRPO/RLOO trainer over an env's prompts and reward functions, and the SFT trainer.

Each algorithm's own file says what it is; this module only turns a `TrainConfig` into TRL's configs
and trainers, so every path that builds a TRL config goes through here.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator

from llmgym.env import TextEnv, ToolEnv
from llmgym.errors import LLMGymError

from .config import TrainConfig
from .data import prompt_dataset, reference_dataset, reward_functions
from .trl_options import config_kwargs  # --trl options on top of llmgym's, wherever a TRL config is built


def _common_args(cfg: TrainConfig, out: str, *, per_device: int) -> dict[str, Any]:
    import torch

    save = cfg.save_every > 0
    return dict(
        output_dir=out, max_steps=cfg.steps, learning_rate=cfg.learning_rate,
        per_device_train_batch_size=per_device, gradient_accumulation_steps=1,
        lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
        logging_steps=1, save_strategy="steps" if save else "no", save_steps=cfg.save_every if save else 1,
        save_total_limit=cfg.save_total_limit, seed=cfg.seed, data_seed=cfg.seed, report_to="none",
        use_cpu=not torch.cuda.is_available(), bf16=cfg.bf16, disable_tqdm=True, dataloader_num_workers=0,
        # TRL's configs default to recomputing activations, which costs small models ~30% per step.
        **_checkpointing(cfg.gradient_checkpointing),
    )


def _checkpointing(enabled: bool) -> dict[str, bool]:
    """The training argument that turns activation recomputation on or off, under its current name:
    transformers 5 renamed `gradient_checkpointing` to `activation_checkpointing` and warns on every
    config that leaves the new name unset (TRL's configs set the old one)."""
    from dataclasses import fields

    from transformers import TrainingArguments

    names = {f.name for f in fields(TrainingArguments)}
    return {"activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": enabled}


@contextlib.contextmanager
def _trl_notices_silenced() -> Iterator[None]:
    """Hide two notices that TRL and peft print on every run and that no user can act on, by message
    and category only: TRL's "'environment_factory' is an experimental feature" (llmgym adapts to it
    on purpose, and tests/test_train_tools.py pins what it does), and the FutureWarning that their
    own reads of transformers' renamed `is_gradient_checkpointing` raise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"You are using 'environment_factory', which is an experimental "
                                "feature", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def _peft(cfg: TrainConfig) -> Any:
    if not cfg.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM")


def _rich_progress(trainer: Any) -> None:
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl.trainer.callbacks import RichProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(RichProgressCallback())


def per_device_batch(total: int, world: int, what: str) -> int:
    if total % world:
        raise LLMGymError(f"{what} ({total}) must be divisible by the number of processes ({world})")
    return total // world


def fit_rl(cfg: TrainConfig, env: TextEnv, model: Any, tokenizer: Any, out: str, callbacks: list,
           on_scores: Any, world: int, resume: str | None, *, classes: tuple[Any, Any] | None = None) -> Any:
    """GRPO or RLOO on the env's train prompts; returns the trainer after `train()`."""
    trainer = rl_trainer(cfg, env, model, tokenizer, out, callbacks, on_scores, world, classes=classes)
    _rich_progress(trainer)
    with _trl_notices_silenced():
        trainer.train(resume_from_checkpoint=resume)
    return trainer


def rl_trainer(cfg: TrainConfig, env: TextEnv, model: Any, tokenizer: Any, out: str, callbacks: list,
               on_scores: Any, world: int, *, classes: tuple[Any, Any] | None = None, **config: Any) -> Any:
    """The GRPO or RLOO trainer, not yet trained; `classes` is TRL's (config class, trainer class)
    (default: RLOO's for `cfg.algo == "rloo"`, else GRPO's); `config` adds TRL config fields.

    A `ToolEnv` goes to GRPO's `environment_factory` (see `tool_env`): TRL runs the tool calls, at
    most `max_turns - 1` per episode so the last turn is left for the answer, and masks tool
    results from the loss.
    """
    if classes is not None:
        Config, Trainer = classes
    elif cfg.algo == "rloo":
        from trl import RLOOConfig as Config, RLOOTrainer as Trainer
    else:
        from trl import GRPOConfig as Config, GRPOTrainer as Trainer
    funcs, weights = reward_functions(env, on_scores)
    tools: dict[str, Any] = {}
    if isinstance(env, ToolEnv):
        import inspect

        if "environment_factory" not in inspect.signature(Trainer.__init__).parameters:
            raise LLMGymError(f"--algo {cfg.algo} cannot train tool envs (only TRL's GRPO runs tools); use --algo grpo")
        from .tool_env import environment_factory, tool_call_counts, tool_tokenizer

        tokenizer = tool_tokenizer(tokenizer, cfg.policy)
        funcs, weights = [*funcs, tool_call_counts], [*weights, 0.0]
        tools = {"environment_factory": environment_factory(env)}
        config.setdefault("max_tool_calling_iterations", env.max_turns - 1)
    per_device = per_device_batch(cfg.prompts_per_step * cfg.num_generations, world,
                                  "prompts_per_step x num_generations")
    args = Config(**config_kwargs(cfg, Config, dict(
        **_common_args(cfg, out, per_device=per_device), num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature, beta=cfg.beta,
        reward_weights=weights, use_vllm=cfg.use_vllm, log_completions=False, **config)))
    with _trl_notices_silenced():
        return Trainer(model=model, reward_funcs=funcs, args=args,
                       train_dataset=prompt_dataset(env, cfg.train_tasks, cfg.seed),
                       processing_class=tokenizer, callbacks=callbacks, peft_config=_peft(cfg), **tools)


def sft_trainer(cfg: TrainConfig, model: Any, tokenizer: Any, dataset: Any, out: str, callbacks: list,
                 world: int, *, steps: int, with_peft: bool = True) -> Any:
    from trl import SFTConfig, SFTTrainer

    per_device = max(1, cfg.batch_size // world)
    kw = _common_args(cfg, out, per_device=per_device)
    kw["max_steps"] = steps
    args = SFTConfig(**config_kwargs(cfg, SFTConfig, dict(**kw, completion_only_loss=True, packing=False,
                                                          max_length=None)))
    with _trl_notices_silenced():
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                             callbacks=callbacks, peft_config=_peft(cfg) if with_peft else None)
    _rich_progress(trainer)
    return trainer


def fit_sft(cfg: TrainConfig, env: TextEnv, model: Any, tokenizer: Any, out: str, callbacks: list,
            world: int, resume: str | None) -> Any:
    """Supervised fine-tuning on the env's reference solutions."""
    dataset = reference_dataset(env, cfg.train_tasks, cfg.seed)
    trainer = sft_trainer(cfg, model, tokenizer, dataset, out, callbacks, world, steps=cfg.steps)
    trainer.train(resume_from_checkpoint=resume)
    return trainer
