"""`llmgym report DIR`: render the report of a training run directory (curves, before/after), or
re-render a bench directory's summary.json, report.md and report.html from its results.jsonl.

A results.jsonl holding rows of one env and level written by two env versions (files concatenated)
is refused: their episodes are not comparable, so no report merges them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llmgym.errors import LLMGymError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="a training run directory (metrics.jsonl) or a bench output folder")


def run(args: argparse.Namespace) -> int:
    path = Path(args.dir)
    if not path.is_dir():
        raise LLMGymError(f"{path} is not a directory" + (" (it is a file)" if path.exists() else ""))
    if (path / "metrics.jsonl").is_file():
        from .run_report import render_run

        paths = render_run(path)
    elif (path / "results.jsonl").is_file():
        from .bench import ResultsFile, read_settings, recorded_versions
        from .render import render_bench

        records = ResultsFile(path / "results.jsonl").load(repair=False, check=True)
        if not records:
            raise LLMGymError(f"{path / 'results.jsonl'} holds no finished episode")
        recorded_versions(records, path / "results.jsonl")  # rows of two versions of one env: refused
        raw = read_settings(path) or {}
        settings = {k: raw.get(k) for k in ("params", "seed")} if raw else {}
        paths = render_bench(path, records, settings)
    else:
        raise LLMGymError(f"{path} holds neither metrics.jsonl (a training run) nor results.jsonl (a bench)")
    for what, p in paths.items():
        print(f"{what}: {p}")
    return 0
