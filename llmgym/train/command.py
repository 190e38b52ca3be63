"""`llmgym train`: the CLI entry of training (registered in `llmgym/cli.py`'s EXTERNAL_COMMANDS).

Every `TrainConfig` field is a flag (`--learning-rate`, `--num-generations`, ...) and a YAML key;
flags left out take the YAML file's value, then the field default. `--resume RUN` reads RUN's
config.yaml and continues; flags given with it (e.g. `--steps 80`) override what the run recorded.
Everything a user can get wrong (options, the env's name, `--out`, the files of the run resumed) is
checked before torch is imported or a model loads. `--env` given several times trains on a
weighted mixture (`--env math@3 --env counting`, see `llmgym.mixture`); on the command line the
`--env` flags replace a YAML file's `env:` list as a whole. `--trl KEY=VALUE` (repeatable) sets a field
of the algorithm's TRL config (`llmgym.train.trl_options`), key by key over a YAML file's `trl:`
mapping; `--report-to` sends every metrics row to a tracker (`llmgym.train.trackers`).

    python -m llmgym.train.command --env math --policy tiny --algo sft --steps 100 --out runs/sft
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Sequence

from llmgym.errors import LLMGymError

from .config import TrainConfig, load_config, merge_options, read_yaml_mapping


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per TrainConfig field (`llmgym.options`); defaults stay unset so the YAML file can fill them."""
    from llmgym.options import add_arguments as add_option_flags

    add_option_flags(parser, TrainConfig, unset_defaults=True, repeatable=("env", "trl"),
                     metavars={"trl": "KEY=VALUE", "report_to": "TRACKER"}, hide_defaults=("resume", "config"))


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, bool]:
    """The run's config and whether it resumes: file < flags, or recorded config < flags for --resume."""
    overrides = {f.name: getattr(args, f.name, None) for f in fields(TrainConfig)
                 if f.name not in ("config", "resume")}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "trl" in overrides:
        from .trl_options import parse_pairs

        overrides["trl"] = parse_pairs(overrides["trl"])  # merged key by key into the file's (or run's) trl:
    if args.resume:
        from .rundir import RunDir

        if args.config:
            raise LLMGymError("--resume continues a run with its recorded config.yaml; drop --config")
        run = RunDir(args.resume)
        if not run.config.is_file():
            raise LLMGymError(f"{run.path} is not a run directory (no config.yaml)")
        recorded = read_yaml_mapping(run.config, "the run's config")
        check_run_files(run.path)
        data = {**merge_options(recorded, overrides), "out": args.resume}
        return TrainConfig.from_mapping(data), True
    return load_config(args.config, overrides), False


def check_run_files(path: Path) -> None:
    """Refuse to resume a run whose rows or JSON files would fail once training has started: a
    row nested too deep, one that is no JSON object or has a non-numeric step, a summary or guard
    file that is no object. A torn line (a kill mid-write) is fine: the resume drops it."""
    from llmgym.io import parse_json

    for name in ("metrics.jsonl", "samples.jsonl"):
        file = path / name
        if not file.is_file():
            continue
        data = file.read_bytes()
        lines = data.splitlines()
        for n, raw in enumerate(lines, 1):
            where = f"{file}:{n}"
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                # The run directory reads these files as text, so even a torn last line must go.
                torn = n == len(lines) and not data.endswith(b"\n")
                raise LLMGymError(f"{where}: " + ("a torn last line (a kill mid-write) cut inside a character; "
                                                   "delete that line to resume" if torn else
                                                   "not UTF-8 text, so not a file llmgym wrote; move it away "
                                                   "to resume")) from None
            try:
                row = parse_json(raw, where)
            except ValueError:
                continue  # a torn line
            if not isinstance(row, dict):
                raise LLMGymError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
            step = row.get("step", 0)
            if not isinstance(step, (int, float)) or isinstance(step, bool):
                raise LLMGymError(f"{where}: step must be a number, got {step!r}")
    for name in ("summary.json", "guard.json"):
        file = path / name
        if file.is_file():
            try:
                data = parse_json(file.read_bytes(), str(file))
            except ValueError:
                continue  # unreadable JSON is ignored there (as after a kill mid-write)
            if not isinstance(data, dict):
                raise LLMGymError(f"{file} must hold a JSON object, got {type(data).__name__}")


def check_before_work(cfg: TrainConfig, resume: bool) -> None:
    """Checks that need no model: each env's name and options (reward names of `rubric=` included),
    the policy's name, and where the run goes."""
    from llmgym.io import check_out_dir
    from llmgym.mixture import parse_env_specs
    from llmgym.plugins import default_gym
    from llmgym.registry import parse_name_options
    from llmgym.rubric_option import check_rubric_option

    gym = default_gym()
    for spec in parse_env_specs(cfg.env):
        name, options = parse_name_options(spec.label)
        gym.registry("envs").spec(name)  # an unknown name fails here, with suggestions
        if options.get("rubric") is not None:
            check_rubric_option(options["rubric"], gym.registry("rewards"))
    check_policy_name(cfg.policy)
    if cfg.out and not resume:
        check_out_dir(cfg.out)
    from .trackers import check_installed

    check_installed(cfg.report_to)  # a chosen tracker that is not installed: the extra to install


def check_policy_name(spec: str) -> None:
    """An unknown policy name fails before torch is imported (a path is checked when it loads)."""
    from llmgym.plugins import default_gym
    from llmgym.registry import parse_name_options

    if os.path.sep not in spec and not Path(spec).exists():
        default_gym().registry("policies").spec(parse_name_options(spec)[0])


def run(args: argparse.Namespace) -> int:
    """Run `llmgym train` from parsed arguments; user errors raise LLMGymError."""
    cfg, resume = config_from_args(args)
    check_before_work(cfg, resume)
    from .trl_options import checked

    cfg = checked(cfg)  # --trl against the algorithm's TRL config (imports TRL, only when given)
    from .run import train

    train(cfg, resume=resume)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from llmgym.cli import OneLineParser

    parser = OneLineParser(prog="llmgym train", description="Train a policy on an llmgym env with TRL.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except LLMGymError as exc:
        print(f"llmgym: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
