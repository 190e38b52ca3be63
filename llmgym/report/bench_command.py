"""`llmgym bench`: run envs x policies over the eval split and write results and reports.

    llmgym bench --env math --env counting:level=2 --policy smollm2 --policy runs/grpo \\
        --samples 4 --tasks 50 --out runs/bench

Rerunning the same command resumes: finished episodes in OUT/results.jsonl are skipped. The
`--env` flags of a training mixture (`--env math@3 --env counting`) are accepted as they are: the
weights say how a run draws its prompts, and mean nothing to a bench, which runs every env alike.
Every option, name and the rows already in OUT are checked before any model loads. `--tasks N` is
a most: an env level whose eval split holds fewer tasks runs them all, with a one-line warning on
stderr saying how many there are (a bench over several envs keeps going rather than stopping).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from llmgym.errors import LLMGymError

DEFAULT_OUT = "runs/bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", action="append", required=True, metavar="NAME[:k=v,...]",
                        help="environment to run (repeatable, each its own case), e.g. math, math:level=3, "
                             "counting:rubric=+exact@0.5; a training mixture's @WEIGHT is accepted and ignored")
    parser.add_argument("--policy", action="append", metavar="SPEC",
                        help="policy (repeatable): a registered name with options (hf:path=DIR, "
                             "openai:base_url=URL,model=NAME), a checkpoint or a run directory (default: smollm2); "
                             "add label=NAME to name it in reports")
    parser.add_argument("--samples", type=int, default=1, metavar="K", help="samples per task (pass@k, maj@k)")
    parser.add_argument("--tasks", type=int, default=50, metavar="N",
                        help="most tasks from each env's eval split (per level); a smaller split runs whole, "
                             "with a warning")
    parser.add_argument("--levels", default=None, metavar="all|1,2,...",
                        help="run each env at these levels (default: the level given with the env, else its default)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder (default: {DEFAULT_OUT}); rerunning into it resumes")
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (0: greedy)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling")
    parser.add_argument("--max-tokens", type=int, default=256, help="most tokens per completion")
    parser.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed for task selection and sampling")
    parser.add_argument("--batch-size", type=int, default=64, help="episodes per generate call")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from llmgym.io import check_out_dir
    from llmgym.plugins import default_gym

    from .bench import RESULTS, ResultsFile, parse_levels, read_settings, resolve_envs, resolve_policy, run_bench
    from .render import render_bench

    for flag, value in (("--samples", args.samples), ("--tasks", args.tasks), ("--batch-size", args.batch_size)):
        if value < 1:
            raise LLMGymError(f"{flag} must be >= 1, got {value}")
    params = sampling_params(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
                             stop=tuple(args.stop), seed=args.seed)
    gym = default_gym()
    # Every name and option is checked before any model loads or any episode runs.
    out = check_out_dir(args.out)
    envs = resolve_envs(args.env, gym, levels=parse_levels(args.levels), tasks=args.tasks, seed=args.seed)
    policies = [resolve_policy(spec, gym) for spec in (args.policy or ["smollm2"])]
    # A resumed bench's files: a bad row or settings file fails now, not after a model has loaded.
    read_settings(out)
    ResultsFile(out / RESULTS).load(repair=False, check=True)
    for case in envs:
        if len(case.tasks) < args.tasks:
            print(f"llmgym: warning: env {case.label!r} level {case.level} has {len(case.tasks)} eval tasks; "
                  f"running those {len(case.tasks)}, not --tasks {args.tasks}", file=sys.stderr)
    err = Console(highlight=False, stderr=True)
    total = sum(len(c.tasks) for c in envs) * len(policies) * args.samples
    err.print(f"llmgym bench: {len(envs)} env case(s) x {len(policies)} policy(ies), {args.samples} sample(s) "
              f"per task: {total} episodes -> {out}")
    written = [0]

    def progress(record: dict) -> None:
        written[0] += 1
        if written[0] % 32 == 0:
            err.print(f"  {written[0]} new episodes written")

    records = run_bench(envs, policies, out, samples=args.samples, params=params, seed=args.seed,
                        batch_size=args.batch_size, say=err.print, on_episode=progress)
    settings = read_settings(out) or {}
    paths = render_bench(out, records, {k: settings.get(k) for k in ("params", "seed")})
    print_results(paths["summary"])
    for what, path in paths.items():
        print(f"{what}: {path}")
    return 0


def sampling_params(**values: Any) -> Any:
    """`SamplingParams` from command-line values; a bad one is an `LLMGymError` naming its flag and value."""
    from llmgym.types import SamplingParams

    for name in ("temperature", "top_p"):
        if name in values and not math.isfinite(values[name]):
            raise LLMGymError(f"--{name.replace('_', '-')} must be a finite number, got {values[name]}")
    try:
        return SamplingParams(**values)
    except ValueError as exc:
        name = str(exc).split()[0]  # SamplingParams names the field first: "top_p must be in (0, 1]"
        raise LLMGymError(f"--{name.replace('_', '-')} {values.get(name)!r}: {exc}") from None


def print_results(summary_path: Path) -> None:
    """The overall table of a summary.json, on stdout."""
    from rich.console import Console
    from rich.table import Table

    from .render import overall_rows

    headers, rows = overall_rows(json.loads(summary_path.read_text())["results"])
    table = Table(title="llmgym bench", title_justify="left")
    for h in headers:
        table.add_column(h, overflow="fold")
    for row in rows:
        table.add_row(*row)
    # Piped output (a log, CI) gets a wide table instead of rich's 80-column default.
    Console(highlight=False, width=None if sys.stdout.isatty() else 200).print(table)
