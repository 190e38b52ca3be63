"""The `llmgym` command.

    llmgym --version
    llmgym list [envs|rewards|policies|algorithms|tools] [--json]
    llmgym info ENV[:k=v,...] [--level N]

Errors a user can cause print one line (`llmgym: error: ...`) and exit with status 2, argparse's
own errors included (`OneLineParser`, the class of every parser and subparser here: no usage block).
Subcommands whose code is heavy (training) import it only when they run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any, Callable, Sequence

from . import __version__
from .errors import LLMGymError
from .plugins import KINDS, default_gym

# Subcommands that live in their own modules: name -> (module, help). Each module provides
# `add_arguments(parser)` and `run(args) -> int`, and is imported only when listed or run.
EXTERNAL_COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("llmgym.train.command", "train a policy on an env with TRL (grpo, rloo, bon, sft)"),
    "bench": ("llmgym.report.bench_command", "run envs x policies over the eval split; write results and reports"),
    "report": ("llmgym.report.report_command", "render the report of a training run (or re-render a bench)"),
    "rm": ("llmgym.rlhf.rm_command", "reward models: simulate rankings, train on them (TRL RewardTrainer), check a file"),
    "label": ("llmgym.rlhf.label_command", "rank policy samples in a local web page (127.0.0.1) for RLHF"),
    "serve": ("llmgym.serve.command", "serve envs over HTTP: scoring, sessions, OpenRLHF and OpenEnv protocols"),
    "export": ("llmgym.adapters.export", "write an env's train/eval split as verl parquet or OpenRLHF JSONL"),
    "new": ("llmgym.scaffold", "write a plugin package: llmgym new env NAME (an env, a reward, a test that passes)"),
}


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, `llmgym: error: ...`, with exit status 2.

    Its subparsers are of this class too (argparse makes them of the parent's class). For
    `llmgym rm train --steps x` it prints
    `llmgym: error: rm train: argument --steps: invalid int value: 'x' (see llmgym rm train --help)`.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("llmgym").strip()
        text = " ".join(f"{command + ': ' if command else ''}{message}".split())
        self.exit(2, f"llmgym: error: {text} (see {self.prog} --help)\n")


def _cmd_list(args: argparse.Namespace) -> int:
    gym = default_gym()
    kinds = [args.kind] if args.kind else list(KINDS)
    rows = {kind: [{"name": s.name, "source": s.source, "description": s.description}
                   for s in gym.registry(kind)] for kind in kinds}
    if args.json:
        print(json.dumps(rows if not args.kind else rows[args.kind], indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        console = Console(highlight=False, soft_wrap=False)
        for kind in kinds:
            table = Table(title=kind, title_justify="left", show_lines=False)
            for col in ("name", "source", "description"):
                table.add_column(col, overflow="fold")
            for row in rows[kind]:
                table.add_row(row["name"], row["source"], row["description"])
            console.print(table)
    for problem in gym.problems:
        print(f"llmgym: warning: {problem}", file=sys.stderr)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .mixture import parse_env_spec
    from .registry import parse_name_options

    # The spec reads as `llmgym train --env` reads it, so a spec copied from one means the same in the other.
    spec_text = parse_env_spec(args.env)
    if spec_text.weight is not None:
        raise LLMGymError(f"{args.env!r}: a weight (@{spec_text.weight:g}) sets an env's share of a training "
                          f"mixture; info describes one env: {spec_text.label!r}")
    name, options = parse_name_options(spec_text.label)
    if args.level is not None:
        if "level" in options:
            raise LLMGymError(f"the level is given twice ({args.env!r} and --level {args.level}); give it once")
        options["level"] = args.level
    gym = default_gym()
    spec = gym.registry("envs").spec(name)
    env = gym.make_env(name, **options)
    out = [f"{spec.name}  (from {spec.source})", f"  {spec.description}",
           f"  levels: {', '.join(map(str, env.levels))}   level shown: {env.level}"]
    families = getattr(env, "families", None)
    if families:
        out.append(f"  families: {', '.join(families)}")
    lo, hi = env.reward_bounds
    out.append(f"  reward range: [{lo:g}, {hi:g}]")
    out.append("  reward components (weight 0 = metric only):")
    for component, weight in env.rubric.weights.items():
        out.append(f"    {component:<16} weight {weight:g}")
    if env.system_prompt:
        out.append("  system prompt:")
        out.extend(f"    | {line}" for line in env.system_prompt.splitlines())
    for split in ("train", "eval"):
        task = next(iter(env.tasks(split, n=1, seed=args.seed)), None)
        out.append(f"\n[{split}] " + ("no tasks" if task is None else f"task {task.id}  meta "
                   f"{json.dumps({k: v for k, v in task.meta.items() if k != 'solution'})}"))
        if task is None:
            continue
        out.append("  prompt:")
        out.extend(f"    | {line}" for line in task.text.splitlines())
        out.append(f"  answer: {json.dumps(task.answer, ensure_ascii=False)}")
        reference = env.reference(task)
        if reference:
            out.append("  reference solution:")
            out.extend(f"    | {line}" for line in reference.splitlines())
    print("\n".join(out))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="llmgym", description="A plugin-based gym of RL environments for LLMs.")
    parser.add_argument("--version", action="version", version=f"llmgym {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list registered envs, rewards and policies")
    p.add_argument("kind", nargs="?", choices=KINDS, help="only this kind")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="describe an env: levels, reward components, sample tasks")
    p.add_argument("env", help="env name, optionally with options: math:family=word, counting:rubric=+exact@0.5")
    p.add_argument("--level", type=int, help="difficulty level to show")
    p.add_argument("--seed", type=int, default=0, help="seed for the sample tasks")
    p.set_defaults(func=_cmd_info)

    for name, (module, help_text) in EXTERNAL_COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        mod = importlib.import_module(module)
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], Any] | None = getattr(args, "func", None)
    if func is None:
        commands = ", ".join(["list", "info", *EXTERNAL_COMMANDS])
        print(f"llmgym: error: name a COMMAND: {commands} (see llmgym --help)", file=sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except LLMGymError as exc:
        print(f"llmgym: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("llmgym: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
