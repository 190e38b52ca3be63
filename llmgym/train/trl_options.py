"""`--trl KEY=VALUE`: any field of the algorithm's TRL config, from the command line or a YAML file.

    llmgym train --env math --trl loss_type=grpo --trl num_iterations=2 --trl mask_truncated_completions=true
    # the same in YAML (`--config FILE`):  trl: {loss_type: grpo, num_iterations: 2}

An algorithm declares the TRL config it builds (`Algorithm.trl_config`, e.g. `"trl:GRPOConfig"`); every
key is checked against that dataclass's fields, and every value is read as the field's type (true/false,
an integer, a number, text, `none` for an Optional field, one of a Literal's, an enum's or the field's
declared `choices`, JSON for a list or dict field) before any model loads. An unknown key is one line with the closest field names.

Fields llmgym sets from its own options are refused with the option that sets them (`--trl
learning_rate=1e-5` -> use --learning-rate), so each thing has one way to be set; `OWNED` lists them.
The fields llmgym merely defaults (`lr_scheduler_type` "constant", `warmup_steps`, `weight_decay`,
`gradient_accumulation_steps`, sft's `max_length`, ...) are yours to change here. What TRL itself then
makes of a value (its configs' `__post_init__` checks) is TRL's to say, when the trainer is built.

`--trl` flags add to a YAML file's `trl:` mapping key by key (and to a resumed run's recorded one);
config.yaml records the values as read, so `--resume` and `--config` read them back unchanged.

>>> parse_pairs(["loss_type=grpo", "num_iterations=2"])
{'loss_type': 'grpo', 'num_iterations': '2'}
>>> read_value("2", int), read_value("True", bool), read_value("none", float | None)
(2, True, None)
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from typing import Any, Iterable, Mapping

from llmgym.errors import LLMGymError
from llmgym.options import _shown, describe, did_you_mean, read_value  # noqa: F401  (read_value: importable here)

# TRL config fields llmgym sets from its own options (the option to use instead), or must hold
# fixed for the run directory to mean what it says (why).
OWNED: dict[str, str] = {
    "output_dir": "use --out (checkpoints go to RUN/checkpoints)",
    "max_steps": "use --steps",
    "learning_rate": "use --learning-rate",
    "per_device_train_batch_size": "use --prompts-per-step and --num-generations (grpo, rloo) or --batch-size "
                                   "(sft, bon)",
    "num_generations": "use --num-generations",
    "max_completion_length": "use --max-completion-length",
    "temperature": "use --temperature",
    "beta": "use --beta",
    "use_vllm": "use --use-vllm",
    "bf16": "use --bf16",
    "gradient_checkpointing": "use --gradient-checkpointing",
    "activation_checkpointing": "use --gradient-checkpointing",
    "seed": "use --seed",
    "data_seed": "use --seed",
    "save_strategy": "use --save-every (0: no checkpoints)",
    "save_steps": "use --save-every",
    "save_total_limit": "use --save-total-limit",
    "report_to": "use --report-to",
    "reward_weights": "the env's rubric weighs the rewards (--env NAME:rubric=...)",
    "max_tool_calling_iterations": "a tool env's max_turns option sets it",
    "logging_steps": "llmgym logs every step (metrics.jsonl, the run report, --report-to)",
    "logging_strategy": "llmgym logs every step (metrics.jsonl, the run report, --report-to)",
    "use_cpu": "llmgym trains on the GPU when there is one",
}


def parse_pairs(items: Iterable[str]) -> dict[str, str]:
    """`--trl KEY=VALUE` flags as a mapping (values still text); a flag without `=`, or a key given
    twice, is one line."""
    options: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise LLMGymError(f"--trl takes KEY=VALUE (a field of the algorithm's TRL config), got {item!r}")
        if key in options:
            raise LLMGymError(f"--trl {key} is given twice ({options[key]!r} and {value!r}); give it once")
        options[key] = value
    return options


def as_options(value: Any) -> dict[str, Any]:
    """The `trl` option as a mapping: a YAML mapping, `KEY=VALUE` texts (the CLI's), or None (none)."""
    if value is None:
        return {}
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return parse_pairs(value)
    if not isinstance(value, Mapping):
        raise LLMGymError(f"trl: a mapping of TRL config fields (YAML: `trl: {{loss_type: grpo}}`, CLI: --trl "
                          f"loss_type=grpo), got {value!r}")
    for key in value:
        if not isinstance(key, str):
            raise LLMGymError(f"trl: field names are text, got {key!r} ({type(key).__name__})")
    return dict(value)


def config_class(algo: str) -> type | None:
    """The TRL config dataclass that algorithm `algo` declares (`Algorithm.trl_config`), or None."""
    from .algorithm import get_algorithm

    spec = getattr(get_algorithm(algo), "trl_config", None)
    if not spec:
        return None
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def check_options(options: Mapping[str, Any], config_cls: type, *, algo: str = "") -> dict[str, Any]:
    """`options` checked against `config_cls`'s fields, each value read as its field's type."""
    if not options:
        return {}
    known = {f.name: f for f in dataclasses.fields(config_cls) if f.init}
    hints = typing.get_type_hints(config_cls)
    where = f"{config_cls.__name__}" + (f" (--algo {algo})" if algo else "")
    typed: dict[str, Any] = {}
    for key, value in options.items():
        if key in OWNED:
            raise LLMGymError(f"--trl {key}: llmgym sets this itself; {OWNED[key]}")
        if key not in known:
            hint = did_you_mean(key, known, n=3, list_known=False)
            raise LLMGymError(f"--trl {key}: {where} has no field {key!r}{hint}")
        hint_type = hints.get(key, Any)
        # TRL's fields name their values in `choices` (what HfArgumentParser offers) where they list them.
        choices = list(known[key].metadata.get("choices") or [])
        try:
            typed[key] = read_value(value, hint_type)
            if choices and typed[key] not in choices:
                raise ValueError(value)
        except ValueError:
            takes = "one of " + ", ".join(repr(c) for c in choices) if choices else describe(hint_type)
            raise LLMGymError(f"--trl {key}={_shown(value)}: {config_cls.__name__}.{key} takes {takes}") from None
    return typed


def checked(cfg: Any) -> Any:
    """`cfg` with its `trl` options checked against the algorithm's TRL config and read as their types
    (what config.yaml records); imports TRL only when there are options."""
    if not cfg.trl:
        return cfg
    config_cls = config_class(cfg.algo)
    if config_cls is None:
        raise LLMGymError(f"--algo {cfg.algo} builds no TRL config, so --trl has nothing to set; drop --trl")
    return dataclasses.replace(cfg, trl=check_options(cfg.trl, config_cls, algo=cfg.algo))


def config_kwargs(cfg: Any, config_cls: type, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of `config_cls(...)`: llmgym's `kwargs` with the run's `--trl` options on
    top (checked against `config_cls`).

    `report_to` stays "none": the run's trainer callback copies every log of TRL's into metrics.jsonl,
    whose rows go to the trackers of `--report-to` (`llmgym.train.trackers`); TRL's own integrations
    would log the same numbers a second time, under other names and on another step axis.
    """
    return {**kwargs, **check_options(cfg.trl or {}, config_cls, algo=cfg.algo), "report_to": "none"}
