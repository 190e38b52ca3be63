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

from .config import OPTIMIZERS, TrainConfig
from .data import prompt_dataset, reference_dataset, reward_functions
from .trl_options import config_kwargs  # --trl options on top of llmgym's, wherever a TRL config is built


def _common_args(cfg: TrainConfig, out: str, *, per_device: int) -> dict[str, Any]:
    """TrainingArguments every algorithm shares; `per_device` is the sequences one process handles per
    optimizer step, split into `cfg.micro_batch_size` micro-batches whose gradients accumulate (the same
    update: TRL's default loss normalises over the tokens of the whole accumulated batch)."""
    import torch

    save = cfg.save_every > 0
    micro, accumulation = micro_batches(per_device, cfg.micro_batch_size)
    return dict(
        output_dir=out, max_steps=cfg.steps, learning_rate=cfg.learning_rate,
        per_device_train_batch_size=micro, gradient_accumulation_steps=accumulation,
        lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
        optim=OPTIMIZERS[cfg.optimizer or "adamw"],
        logging_steps=1, save_strategy="steps" if save else "no", save_steps=cfg.save_every if save else 1,
        save_total_limit=cfg.save_total_limit, seed=cfg.seed, data_seed=cfg.seed, report_to="none",
        use_cpu=not torch.cuda.is_available(), bf16=cfg.bf16, disable_tqdm=True, dataloader_num_workers=0,
        # TRL's configs default to recomputing activations, which costs small models ~30% per step.
        **_checkpointing(bool(cfg.gradient_checkpointing)),
    )


def micro_batches(per_device: int, micro: int | None) -> tuple[int, int]:
    """(sequences per forward/backward, micro-batches per optimizer step) for `per_device` sequences a
    step in micro-batches of at most `micro` (None: one pass); the largest divisor of `per_device` not
    above `micro`, so every micro-batch is the same size.

    >>> micro_batches(16, 4), micro_batches(16, None), micro_batches(6, 4), micro_batches(2, 4)
    ((4, 4), (16, 1), (3, 2), (2, 1))
    """
    size = min(per_device, micro or per_device)
    while per_device % size:
        size -= 1
    return size, per_device // size


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
    own reads and calls of transformers' renamed `is_gradient_checkpointing` and
    `gradient_checkpointing_enable`/`_disable` raise (TRL toggles recomputation around generation)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"You are using 'environment_factory', which is an experimental "
                                "feature", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"`(is_)?gradient_checkpointing(_enable|_disable)?` is deprecated",
                                category=FutureWarning)
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
    sampler = getattr(trainer, "llmgym_sampler", None)
    if resume and sampler is not None:
        sampler.load(resume)  # the curriculum and fill cursors continue where the checkpoint left them
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

    `--curriculum adaptive` builds the prompts from the curriculum's arms, and it and
    `--dynamic-sampling` go through a `GroupSampler` installed on the trainer (`llmgym.train.sampling`),
    kept as `trainer.llmgym_sampler`.
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
    dataset, sampler = _prompts_and_sampler(cfg, env, funcs)
    if sampler is not None:
        callbacks = [sampler.save_callback(), *callbacks]  # first: its file lands before LATEST names the folder
    per_device = per_device_batch(cfg.prompts_per_step * cfg.num_generations, world,
                                  "prompts_per_step x num_generations")
    args = Config(**config_kwargs(cfg, Config, dict(
        **_common_args(cfg, out, per_device=per_device), num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature, beta=cfg.beta,
        reward_weights=weights, use_vllm=cfg.use_vllm, log_completions=False, **config)))
    with _trl_notices_silenced():
        trainer = Trainer(model=model, reward_funcs=funcs, args=args, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=callbacks, peft_config=_peft(cfg), **tools)
    if sampler is not None:
        trainer.llmgym_sampler = sampler.install(trainer)
    if cfg.shared_prompt:
        from .shared_prompt import install

        why = install(trainer)
        if why is not None:
            print(f"--shared-prompt: TRL's loss pass instead ({why})")
    _lean_autocast(trainer)
    _lean_memory(trainer)
    return trainer


def _lean_autocast(trainer: Any) -> None:
    """On CPU with `--bf16`, autocast without its weight cache. The cache keeps a bf16 copy of every
    weight a forward pass used until the pass ends; without it each matmul casts its weight afresh.
    One SmolLM2-135M micro-batch (benchmarks/bench_autocast.py, AMD EPYC with AVX-512 BF16): fp32
    1.21 s at a 1,425 MiB peak, cached bf16 0.87 s at 1,668 MiB, uncached 0.95 s at 1,465 MiB: most
    of the speed for a sixth of the memory. accelerate reads the handler when the trainer prepares
    the model, at `train()`, and TRL's own `accelerator.autocast()` calls read it too."""
    import torch
    from accelerate.utils import AutocastKwargs

    if trainer.args.bf16 and not torch.cuda.is_available():
        trainer.accelerator.autocast_handler = AutocastKwargs(enabled=True, cache_enabled=False)


def _lean_memory(trainer: Any) -> None:
    """In one CPU process, where glibc's heap holds the tensors: each step's gradients in one buffer of
    their own (`llmgym.memory.flat_gradients`), and Adafactor's state made before the first step
    (`llmgym.memory.eager_optimizer_state`); a lower peak and the same updates. In the environment,
    `LLMGYM_FLAT_GRADIENTS=0` and `LLMGYM_EAGER_OPTIMIZER_STATE=0` keep PyTorch's and Adafactor's own
    ways: the baselines benchmarks/bench_train_memory.py measures them against."""
    import os

    import torch
    from transformers import TrainerCallback

    from llmgym.memory import eager_optimizer_state, flat_gradients

    if torch.cuda.is_available() or trainer.accelerator.num_processes > 1:
        return
    flat = flat_gradients(trainer.model) if os.environ.get("LLMGYM_FLAT_GRADIENTS") != "0" else None
    eager = os.environ.get("LLMGYM_EAGER_OPTIMIZER_STATE") != "0"

    class LeanMemory(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, **kw):
            if eager and optimizer is not None:
                eager_optimizer_state(optimizer)  # after a resumed run's state is loaded: that is kept

        def on_pre_optimizer_step(self, args, state, control, **kw):
            if flat is not None:
                flat.release_untouched()  # after clipping, which zeros do not change

    trainer.add_callback(LeanMemory())


def _prompts_and_sampler(cfg: TrainConfig, env: Any, funcs: list) -> tuple[Any, Any]:
    """The train prompts and, with `--curriculum` or `--dynamic-sampling`, the `GroupSampler` that
    chooses and filters them (not yet installed)."""
    from .curriculum import Curriculum, CurriculumConfig, run_arms
    from .data import curriculum_dataset, success_column
    from .sampling import DynamicSampling, GroupSampler

    curriculum, dynamic = CurriculumConfig.from_spec(cfg.curriculum), DynamicSampling.from_spec(cfg.dynamic_sampling_mode())
    if isinstance(env, ToolEnv) and (curriculum.on or dynamic.mode == "fill"):
        raise LLMGymError("a tool env trains without --curriculum and --dynamic-sampling fill (TRL runs its "
                          "episodes' tools per prompt of its own batch); --dynamic-sampling drop works")
    if not curriculum.on:
        dataset = prompt_dataset(env, cfg.train_tasks, cfg.seed)
        if not dynamic.on:
            return dataset, None
        return dataset, GroupSampler(curriculum=None, dynamic=dynamic, dataset_size=len(dataset), seed=cfg.seed)
    import llmgym

    arms = run_arms(env, cfg.env, curriculum, make=llmgym.make)
    dataset, pools = curriculum_dataset(arms, cfg.train_tasks, cfg.seed)
    state = Curriculum(curriculum, pools, seed=cfg.seed, weights={a.name: a.weight for a in arms})
    return dataset, GroupSampler(curriculum=state, dynamic=dynamic, dataset_size=len(dataset), seed=cfg.seed,
                                 success_column={a.name: success_column(env, funcs, a.label) for a in arms},
                                 bounds={a.name: a.env.reward_bounds for a in arms})


def sft_trainer(cfg: TrainConfig, model: Any, tokenizer: Any, dataset: Any, out: str, callbacks: list,
                 world: int, *, steps: int, with_peft: bool = True, text_field: str | None = None) -> Any:
    """TRL's SFTTrainer, not yet trained: loss on the completions of prompt-completion rows, or, with
    `text_field` (a plain-text dataset, `pretrain`), on every token of that column."""
    from trl import SFTConfig, SFTTrainer

    per_device = max(1, cfg.batch_size // world)
    kw = _common_args(cfg, out, per_device=per_device)
    kw["max_steps"] = steps
    loss = {"completion_only_loss": False, "dataset_text_field": text_field} if text_field else {
        "completion_only_loss": True}
    args = SFTConfig(**config_kwargs(cfg, SFTConfig, dict(**kw, **loss, packing=False, max_length=None)))
    with _trl_notices_silenced():
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                             callbacks=callbacks, peft_config=_peft(cfg) if with_peft else None)
    _rich_progress(trainer)
    _lean_autocast(trainer)
    _lean_memory(trainer)
    return trainer


def fit_sft(cfg: TrainConfig, env: TextEnv, model: Any, tokenizer: Any, out: str, callbacks: list,
            world: int, resume: str | None) -> Any:
    """Supervised fine-tuning on the env's reference solutions."""
    dataset = reference_dataset(env, cfg.train_tasks, cfg.seed)
    trainer = sft_trainer(cfg, model, tokenizer, dataset, out, callbacks, world, steps=cfg.steps)
    trainer.train(resume_from_checkpoint=resume)
    return trainer
