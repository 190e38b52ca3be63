"""`llmgym train`: the CLI entry of training (wired into `llmgym/cli.py` by the lead).

Every `TrainConfig` field is a flag (`--learning-rate`, `--num-generations`, ...) and a YAML key;
flags left out take the YAML file's value, then the field default. `--resume RUN` reads RUN's
config.yaml and continues; flags given with it (e.g. `--steps 80`) override what the run recorded.

    python -m llmgym.train.command --env math --policy tiny --algo sft --steps 100 --out runs/sft
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import Sequence

from llmgym.errors import LLMGymError

from .config import TrainConfig, load_config



def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per TrainConfig field; defaults stay unset so the YAML file can fill them."""
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        kind = str(f.type)
        if kind.startswith("bool"):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
            continue
        typ = int if kind.startswith("int") else float if kind.startswith("float") else str
        default = f.default if f.default is not None else None
        shown = f" (default: {default})" if default is not None and f.name not in ("resume", "config") else ""
        parser.add_argument(flag, dest=f.name, type=typ, default=None, metavar=f.name.upper(),
                            help=help_text + shown)


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, bool]:
    """The run's config and whether it resumes: file < flags, or recorded config < flags for --resume."""
    overrides = {f.name: getattr(args, f.name, None) for f in fields(TrainConfig)
                 if f.name not in ("config", "resume")}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.resume:
        from .rundir import RunDir

        recorded = RunDir(args.resume).read_config()
        if args.config:
            raise LLMGymError("--resume continues a run with its recorded config.yaml; drop --config")
        data = {**recorded, **overrides, "out": args.resume}
        return TrainConfig.from_mapping(data), True
    return load_config(args.config, overrides), False


def run(args: argparse.Namespace) -> int:
    """Run `llmgym train` from parsed arguments; user errors raise LLMGymError."""
    cfg, resume = config_from_args(args)
    from .run import train

    train(cfg, resume=resume)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmgym train", description="Train a policy on an llmgym env with TRL.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except LLMGymError as exc:
        print(f"llmgym: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
