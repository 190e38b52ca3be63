"""`TrainConfig`: every option of `llmgym train`, with its help text, settable on the command line
or in a YAML file (`--config FILE.yaml`); the command line overrides the file.

>>> cfg = TrainConfig.from_mapping({"env": "math:level=2", "steps": 5})
>>> cfg.steps, cfg.algo
(5, 'grpo')
>>> TrainConfig.from_mapping({"env": ["math:level=2@3", "counting"]}).env  # a mixture (YAML: a list)
['math:level=2@3', 'counting']
>>> TrainConfig.from_mapping({"step": 5})
Traceback (most recent call last):
...
llmgym.errors.LLMGymError: unknown training option 'step' (did you mean: steps?)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from llmgym.errors import LLMGymError
from llmgym.cpu_dtype import ROLLOUT_DTYPES


# A LoRA adapter learns at about ten times the rate of full fine-tuning of the same model (measured for
# the default run in docs/training.md, "Memory"): the algorithm's full-weight default times this.
LORA_LR_SCALE = 10.0
# Sequences per forward/backward of a pretrained policy's step: 1 peaked at 1,868 MiB against 2,191 MiB
# for 2 over 3 steps, at the same step time (docs/training.md, "Memory").
MICRO_BATCH_SIZE = 1
# transformers' optimizer names (TrainingArguments.optim) behind --optimizer.
OPTIMIZERS = {"adamw": "adamw_torch", "adafactor": "adafactor"}
EVAL_SAMPLES = 8  # sampled answers per held-out task of a pretrained policy
BASE_DTYPES = ("auto", "float32", "bfloat16")
AUTO = "auto"  # --dynamic-sampling's default, settled by TrainConfig.dynamic_sampling_mode


def _opt(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    """The resolved configuration of one training run (written to the run's config.yaml)."""

    env: str | list[str] = _opt("math", "environment, NAME[:k=v,...][@WEIGHT], e.g. math:level=2; repeat for a "
                                        "weighted mixture (--env math@3 --env counting; YAML: a list); "
                                        "rubric=NAMES replaces or (+NAMES) extends an env's rubric with "
                                        "registered rewards, e.g. counting:rubric=+exact@0.5")
    policy: str = _opt("smollm2", "policy to train: smollm2, tiny, hf:path=DIR_OR_HUB_ID, or a run directory")
    algo: str = _opt("grpo", "algorithm: grpo, rloo, bon (best-of-n rejection sampling), sft (reference solutions), "
                             "pretrain (next-token training on the env's documents) or one a plugin "
                             "registers (llmgym list algorithms)")
    steps: int | None = _opt(None, "optimizer steps (for bon: sample-and-fine-tune rounds); default 16, and for "
                                   "models under 10M parameters 300 with sft, 40 with grpo/rloo, 30 with bon")
    out: str | None = _opt(None, "run directory (default: runs/ENV-ALGO-TIMESTAMP)")
    learning_rate: float | None = _opt(None, "learning rate (default for pretrained policies: 2e-6 with RL, 2e-5 "
                                             "with sft/bon, ten times that for a LoRA adapter, their default; "
                                             "5e-4 / 1e-3 for models under 10M parameters)")
    num_generations: int = _opt(8, "completions sampled per prompt (the GRPO group; best-of-n's n)")
    prompts_per_step: int = _opt(2, "prompts per optimizer step (completions per step = this x num_generations)")
    batch_size: int = _opt(8, "sft/bon: sequences per optimizer step")
    max_completion_length: int | None = _opt(None, "most tokens per sampled completion (default 48; 96 for models "
                                                   "under 10M parameters, whose tokens are characters)")
    temperature: float = _opt(0.7, "sampling temperature during training")
    beta: float = _opt(0.0, "KL penalty towards the starting policy (0 disables the reference model)")
    optimizer: str | None = _opt(None, "adamw or adafactor (factored second moments, no momentum: its state is a few "
                                       "MB where AdamW's is twice the model); default adafactor for pretrained "
                                       "policies, adamw for models under 10M parameters; any other transformers "
                                       "optimizer: --trl optim=NAME")
    train_embeddings: bool | None = _opt(None, "train the token embeddings (tied to the output layer in SmolLM2) "
                                               "with the other weights (default: off for pretrained policies, "
                                               "which saves their gradient and the optimizer's largest temporary, "
                                               "~330 MB for SmolLM2; on for models under 10M parameters, which "
                                               "learn their embeddings from scratch)")
    lora: bool | None = _opt(None, "train a LoRA adapter (peft) on frozen weights instead of all weights (default "
                                   "off; see docs/training.md Memory and LoRA)")
    base_dtype: str = _opt("auto", "dtype of the weights a LoRA adapter trains on, which stay frozen: auto (on CPU "
                                   "bfloat16 where this CPU runs it faster, llmgym.cpu_dtype.fast_cpu_dtype, "
                                   "else the model's own), float32 or bfloat16; without LoRA the model's own")
    rollout_dtype: str = _opt("auto", "dtype rollouts and held-out answers are sampled in, from a copy of the weights "
                                      "cast at each generate call (the update stays in the model's dtype): auto "
                                      "(bfloat16 for a pretrained fp32 policy on a CPU where it runs faster, "
                                      "llmgym.cpu_dtype.fast_cpu_dtype, else the model's own), float32 or "
                                      "bfloat16 (llmgym.cpu_dtype)")
    lora_r: int = _opt(16, "LoRA rank")
    lora_alpha: int = _opt(32, "LoRA alpha")
    train_tasks: int = _opt(2000, "tasks drawn from the env's train split for the dataset (a mixture draws "
                                  "them from its envs in proportion to their weights)")
    eval_tasks: int = _opt(64, "held-out tasks (eval split) for accuracy before, during and after (per env of "
                               "a mixture)")
    eval_every: int | None = _opt(None, "steps between held-out evaluations (0: only before and after; "
                                        "default: half the steps for pretrained policies, a quarter for models "
                                        "under 10M parameters)")
    eval_max_tokens: int | None = _opt(None, "most tokens per held-out answer (default: max_completion_length)")
    eval_samples: int | None = _opt(None, "answers sampled per held-out task (default 8 for pretrained policies, "
                                          "1 for models under 10M parameters; 1 with --eval-temperature 0)")
    eval_temperature: float | None = _opt(None, "sampling temperature of held-out answers (seeded by --seed; 0: "
                                                "greedy; default: --temperature for pretrained policies, 0 for "
                                                "models under 10M parameters)")
    save_every: int = _opt(10, "steps between checkpoints (a kill loses at most this many steps)")
    save_total_limit: int = _opt(2, "checkpoints kept on disk")
    samples_every: int = _opt(1, "steps between rows written to samples.jsonl")
    seed: int = _opt(0, "random seed (data order, sampling, initialisation)")
    use_vllm: bool = _opt(False, "generate with vLLM inside TRL (GPU machines with vllm installed)")
    bf16: bool = _opt(False, "mixed precision (TRL's bf16): the loss pass's matmuls in bfloat16 under autocast, "
                             "weights, gradients and optimizer in fp32; on a CPU with native bf16 a SmolLM2 "
                             "step took 0.8x the time at ~250-450 MiB more peak memory (docs/training.md)")
    gradient_checkpointing: bool | None = _opt(None, "recompute activations in backward to save memory (default: on "
                                                     "for pretrained policies, off for models under 10M parameters, "
                                                     "where it slows a step by about a third and saves little)")
    shared_prompt: bool = _opt(True, "grpo/rloo: compute each group's prompt once in the loss pass (one packed "
                                     "row per prompt with a block attention mask; the same log-probabilities "
                                     "and gradients; llmgym.train.shared_prompt); TRL's pass where the "
                                     "attention takes no custom mask (flash attention)")
    micro_batch_size: int | None = _opt(None, "sequences per forward/backward pass: a step's batch runs in "
                                              "micro-batches whose gradients add up to the same update (default "
                                              "for pretrained policies: one group, num_generations, with "
                                              "--shared-prompt, else 1; the whole batch for models under 10M "
                                              "parameters)")
    guard: str = _opt("stop", "over-optimisation guard of grpo/rloo/bon runs against a learned reward (rlhf env): "
                              "stop|watch|off[:KEY=VALUE,...], e.g. stop:eval_every=10,patience=3,"
                              "min_gold_drop=0.05,max_kl=80 (keys: llmgym.rlhf.guard.GuardConfig; "
                              "VALUE none disables a rule)")
    curriculum: str = _opt("off", "grpo/rloo prompts drawn by each level's (a mixture: each env's) success rate: "
                                  "off or adaptive[:KEY=VALUE,...], e.g. adaptive:low=0.2,high=0.8,floor=0.05,"
                                  "memory=0.8,levels=1-3 (levels in the band [low, high] share the prompts, "
                                  "the others keep floor each; llmgym.train.curriculum)")
    dynamic_sampling: str = _opt("auto", "grpo/rloo groups whose completions all score alike (no gradient): off "
                                         "(trained on), drop (left out of the backward pass), fill[:tries=N] "
                                         "(replaced by fresh groups, at most N extra generation rounds a step, "
                                         "default 2; llmgym.train.sampling) or auto: drop where that leaves the "
                                         "update unchanged (grpo with TRL's default loss_type dapo and beta 0), "
                                         "else off")
    trl: dict[str, Any] | None = _opt(None, "a field of the algorithm's TRL config, KEY=VALUE (repeatable; YAML: a "
                                            "mapping), e.g. loss_type=grpo, num_iterations=2, scale_rewards=batch, "
                                            "mask_truncated_completions=true; fields llmgym sets are refused with "
                                            "the option to use (llmgym.train.trl_options)")
    report_to: str = _opt("none", "tracker that also gets every metrics row (TRL's logs, held-out, per-component, "
                                  "guard): tensorboard, wandb (offline), mlflow, trackio or none; several: "
                                  "tensorboard,wandb (pip install 'llm-gym[trackers]'; llmgym.train.trackers)")
    resume: str | None = _opt(None, "continue the run in this directory from its last checkpoint", cli_only=True)
    config: str | None = _opt(None, "YAML file with any of these options (the command line overrides it)",
                              cli_only=True)

    def __post_init__(self) -> None:
        from .algorithm import get_algorithm

        algorithm = get_algorithm(self.algo)  # an unknown name lists the registered ones
        self.env = _check_envs(self.env, algorithm)
        # None: filled by `resolved`
        optional = ("steps", "max_completion_length", "eval_every", "eval_max_tokens", "eval_samples",
                    "micro_batch_size")
        for name in ("steps", "num_generations", "prompts_per_step", "batch_size", "max_completion_length",
                     "train_tasks", "lora_r", "lora_alpha", "save_total_limit", "samples_every", "eval_max_tokens",
                     "eval_samples", "micro_batch_size"):
            value = getattr(self, name)
            if value is None and name in optional:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise LLMGymError(f"{name} must be a positive integer, got {value!r}")
        for name in ("eval_tasks", "eval_every", "save_every"):
            value = getattr(self, name)
            if value is None and name in optional:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise LLMGymError(f"{name} must be a non-negative integer, got {value!r}")
        algorithm.check_config(self)  # what the algorithm declares it needs (num_generations >= 2, ...)
        # `not x > 0` rather than `x <= 0`, so that nan is refused too.
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise LLMGymError(f"temperature must be a finite number > 0 for training, got {self.temperature}")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise LLMGymError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.rollout_dtype not in ROLLOUT_DTYPES:
            raise LLMGymError(f"rollout_dtype must be one of {', '.join(ROLLOUT_DTYPES)}, got {self.rollout_dtype!r}")
        if self.base_dtype not in BASE_DTYPES:
            raise LLMGymError(f"base_dtype must be one of {', '.join(BASE_DTYPES)}, got {self.base_dtype!r}")
        if self.eval_temperature is not None and not (self.eval_temperature >= 0
                                                      and math.isfinite(self.eval_temperature)):
            raise LLMGymError(f"eval_temperature must be a finite number >= 0 (0: greedy), got {self.eval_temperature}")
        if self.learning_rate is not None and not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise LLMGymError(f"learning_rate must be a finite number > 0, got {self.learning_rate}")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise LLMGymError(f"beta must be a finite number >= 0, got {self.beta}")
        from llmgym.rlhf.guard import GuardConfig

        self.guard = GuardConfig.from_spec(self.guard).to_spec()  # checked now, recorded in one spelling
        from .curriculum import CurriculumConfig
        from .sampling import DynamicSampling

        self.curriculum = CurriculumConfig.from_spec(self.curriculum).to_spec()
        if self.dynamic_sampling != AUTO:  # `auto` is settled by `resolved`, which knows the TRL options
            self.dynamic_sampling = DynamicSampling.from_spec(self.dynamic_sampling).to_spec()
        if self.curriculum != "off" or self.dynamic_sampling not in ("off", AUTO):
            # Declared by the algorithms whose groups go through llmgym.train.sampling (grpo, rloo).
            if not getattr(algorithm, "group_sampling", False):
                flag = "--curriculum" if self.curriculum != "off" else "--dynamic-sampling"
                raise LLMGymError(f"{flag} applies to the algorithms that sample groups (grpo, rloo); "
                                  f"--algo {self.algo} takes neither")
            from llmgym.mixture import parse_env_specs
            from llmgym.registry import parse_name_options

            if (self.curriculum != "off" or self.dynamic_sampling.startswith("fill")) and any(
                    parse_name_options(s.label)[1].get("tools") for s in parse_env_specs(self.env)):
                raise LLMGymError("a tool env trains without --curriculum and --dynamic-sampling fill (TRL runs "
                                  "its episodes' tools per prompt of its own batch); --dynamic-sampling drop works")
        from .trackers import parse_report_to
        from .trl_options import as_options

        # Their shape here; the TRL options' names and values against the algorithm's TRL config where
        # TRL is imported anyway (`trl_options.checked` before work, `config_kwargs` when it is built).
        self.trl = as_options(self.trl)
        self.report_to = parse_report_to(self.report_to)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """Build from a dict (a YAML file, CLI overrides); unknown keys are one clear error."""
        known = {f.name: f for f in fields(cls)}
        for key in data:
            if not isinstance(key, str):
                raise LLMGymError(f"training option names are text; got {key!r} ({type(key).__name__})")
            if key not in known:
                from llmgym.options import unknown_option

                raise unknown_option("training", key, known)
        values = {}
        for key, value in data.items():
            if key == "env" and isinstance(value, (list, tuple)):
                # A mixture: a YAML list (or several --env), each item one env spec.
                values[key] = [_coerce(known[key], item) for item in value]
                continue
            if key in ("trl", "report_to") and isinstance(value, (Mapping, list, tuple)):
                values[key] = value  # a YAML mapping of TRL options, a YAML list of trackers: read in __post_init__
                continue
            if key == "report_to" and value is False:  # YAML's unquoted `report_to: off`
                value = "none"
            if key in ("curriculum", "dynamic_sampling") and isinstance(value, (Mapping, bool)):
                # YAML's `curriculum: {low: 0.3}` and its unquoted `off` (False): read in __post_init__.
                values[key] = value
                continue
            if key == "guard" and isinstance(value, (Mapping, bool)):
                # YAML gives `guard: {patience: 3}` as a mapping and an unquoted `guard: off` as False.
                from llmgym.rlhf.guard import GuardConfig

                value = GuardConfig.from_spec(value).to_spec()
            values[key] = _coerce(known[key], value)
        return cls(**values)

    def dynamic_sampling_mode(self) -> str:
        """`--dynamic-sampling` as trained: `auto` becomes `drop` where leaving the zero-variance groups
        out of the backward pass changes no update (the algorithm declares the TRL loss types for which
        that holds, `Algorithm.flat_groups_add_nothing`; with beta > 0 such a group still has a KL term),
        and `off` elsewhere. Dropping then only saves the forward and backward passes of those groups.

        >>> TrainConfig(env="math").dynamic_sampling_mode(), TrainConfig(env="math", beta=0.1).dynamic_sampling_mode()
        ('drop', 'off')
        >>> TrainConfig(env="math", trl={"loss_type": "grpo"}).dynamic_sampling_mode()
        'off'
        """
        if self.dynamic_sampling != AUTO:
            return self.dynamic_sampling
        from .algorithm import get_algorithm

        algorithm = get_algorithm(self.algo)
        if not (getattr(algorithm, "group_sampling", False) and self.beta == 0 and algorithm.flat_groups_add_nothing):
            return "off"
        loss = (self.trl or {}).get("loss_type")
        if loss is None:  # not set with --trl: the default of the algorithm's TRL config, read from TRL
            from .trl_options import config_class

            trl_config = config_class(self.algo)
            loss = {f.name: f.default for f in fields(trl_config)}.get("loss_type") if trl_config else None
        return "drop" if loss in algorithm.flat_groups_add_nothing else "off"

    def resolved(self, *, is_tiny: bool) -> "TrainConfig":
        """A copy with defaults that depend on the policy filled in (what config.yaml records)."""
        from .algorithm import get_algorithm

        algorithm = get_algorithm(self.algo)  # each algorithm declares its defaults
        lr = self.learning_rate if self.learning_rate is not None else algorithm.learning_rate(is_tiny)
        # A from-scratch tiny model needs many more steps, and its tokens are characters.
        steps = self.steps or algorithm.default_steps(is_tiny)
        length = self.max_completion_length or (96 if is_tiny else 48)
        # Sampled evaluation of a pretrained policy costs about as much as 4 steps: once mid-run.
        eval_every = self.eval_every if self.eval_every is not None else max(1, steps // (4 if is_tiny else 2))
        # Memory (docs/training.md, "Memory"): a pretrained policy trains in micro-batches, recomputing
        # activations; a tiny model is small enough to do neither.
        # LoRA stays opt-in: the all-weights default is the one whose learning was measured (docs/training.md).
        lora = bool(self.lora)
        if self.learning_rate is None and lora and not is_tiny:
            lr = float(f"{lr * LORA_LR_SCALE:.6g}")  # 2e-05 in config.yaml, not 1.9999999999999998e-05
        checkpointing = self.gradient_checkpointing if self.gradient_checkpointing is not None else not is_tiny
        # A shared-prompt pass runs a group as one packed row: a micro-batch of one group costs about what
        # one sequence did (docs/training.md, "Where a step's time goes").
        group_rl = getattr(algorithm, "group_sampling", False) and self.shared_prompt
        micro = self.micro_batch_size or (None if is_tiny else self.num_generations if group_rl else MICRO_BATCH_SIZE)
        optimizer = self.optimizer or ("adamw" if is_tiny else "adafactor")
        embeddings = self.train_embeddings if self.train_embeddings is not None else is_tiny
        # Sampled held-out answers resolve small gains (an interval over tasks and samples); a tiny model's
        # tests and demo keep the one greedy answer per task.
        eval_temperature = self.eval_temperature if self.eval_temperature is not None else (
            0.0 if is_tiny else self.temperature)
        eval_samples = self.eval_samples or (1 if is_tiny or eval_temperature == 0 else EVAL_SAMPLES)
        if eval_temperature == 0:
            eval_samples = 1  # greedy answers of one task are all the same answer
        return dataclasses.replace(self, learning_rate=lr, steps=steps, max_completion_length=length,
                                   dynamic_sampling=self.dynamic_sampling_mode(),
                                   eval_every=eval_every, eval_max_tokens=self.eval_max_tokens or length,
                                   lora=lora, gradient_checkpointing=checkpointing, micro_batch_size=micro,
                                   optimizer=optimizer, train_embeddings=embeddings,
                                   eval_samples=eval_samples, eval_temperature=eval_temperature)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata.get("cli_only")}


def env_specs(env: str | list[str]) -> list[str]:
    """The env specs of a run: one, or a mixture's."""
    return [env] if isinstance(env, str) else list(env)


def _check_envs(env: Any, algorithm: Any) -> str | list[str]:
    """The `env` option as recorded: one spec as text, a mixture as a list (a list of one is one
    env); specs, weights and what a mixture cannot train are checked here, before any work."""
    from llmgym.mixture import parse_env_specs
    from llmgym.registry import parse_name_options

    if isinstance(env, (list, tuple)):
        if not all(isinstance(e, str) for e in env):
            raise LLMGymError(f"env: each env of a mixture is a spec (NAME[:k=v,...][@WEIGHT]), got {list(env)!r}")
        env = env[0] if len(env) == 1 else list(env)
    specs = parse_env_specs(env)
    if len(specs) > 1:
        if not algorithm.trains_mixtures:
            from .algorithm import mixture_algorithms, spoken_list

            raise LLMGymError(f"--algo {algorithm.name} trains one env; train a mixture of envs with "
                              f"--algo {spoken_list(mixture_algorithms())}")
        for spec in specs:
            if parse_name_options(spec.label)[1].get("tools"):
                raise LLMGymError(f"{spec.label!r}: a tool env trains alone (TRL's environment_factory gives every "
                                  "prompt of a run the same tools); drop tools= or train it without the other envs")
    return env


@functools.cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)  # resolved once: the annotations are strings


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    """A training option's value (text from a flag, or what YAML read) as its field's type."""
    from llmgym.options import read_field

    hint = _field_types()[f.name]
    if f.name == "env":
        hint = str  # one spec (a mixture's list is read item by item)
    if f.name == "trl" and isinstance(value, str):
        return value  # `KEY=VALUE`, read by trl_options.as_options in __post_init__
    return read_field("training option", f.name, value, hint, numbers_as_text=True)


def load_config(path: str | None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """A `TrainConfig` from a YAML file (optional) with `overrides` (from the CLI) on top."""
    data: dict[str, Any] = {}
    if path:
        p = Path(path)
        if p.is_dir():
            raise LLMGymError(f"config file {path} is a folder; name a YAML file")
        if not p.is_file():
            raise LLMGymError(f"config file {path} does not exist")
        data.update(read_yaml_mapping(p, "config file"))
    return TrainConfig.from_mapping(merge_options(data, overrides or {}))


def merge_options(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`overrides` (flags) over `base` (a YAML file, a run's config.yaml): each option replaced as a whole
    except `trl`, whose KEY=VALUE pairs replace the base's pairs key by key.

    >>> merge_options({"steps": 4, "trl": {"loss_type": "grpo", "num_iterations": 2}},
    ...               {"steps": 8, "trl": {"num_iterations": "3"}})
    {'steps': 8, 'trl': {'loss_type': 'grpo', 'num_iterations': '3'}}
    """
    from .trl_options import as_options

    merged = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "trl" and base.get("trl") is not None:
            value = {**as_options(base["trl"]), **as_options(value)}
        merged[key] = value
    return merged


def read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """The mapping of options a YAML file holds (`--config FILE`, a run's config.yaml); every way
    it is not one (not UTF-8, not YAML, nested too deep, a list) is one `LLMGymError` naming it."""
    import yaml

    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LLMGymError(f"{what} {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                          f"{exc.start}); is it a YAML file?") from None
    except OSError as exc:
        raise LLMGymError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LLMGymError(f"{what} {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise LLMGymError(f"{what} {path} nests too deep to be a file of options") from None
    except ValueError as exc:  # a value YAML itself cannot build, e.g. the date 2026-13-45
        raise LLMGymError(f"{what} {path}: {str(exc).splitlines()[0]}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise LLMGymError(f"{what} {path} must hold a mapping of options, got {type(loaded).__name__}")
    return loaded
