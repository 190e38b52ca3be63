"""`llmgym export`: an env's train and eval splits as the files another trainer reads.

    llmgym export --env math --format verl --out data/math           # train.parquet, test.parquet
    llmgym export --env math --format openrlhf --out data/math       # train.jsonl, eval.jsonl

verl rows follow its data-preprocessing examples: `data_source` (`llmgym/<spec>`, which
`llmgym.adapters.verl.compute_score` routes back to the env), `prompt` (chat messages, the env's
system prompt first), `ability`, `reward_model` (`{"style": "rule", "ground_truth": ...}`) and
`extra_info` (`split`, `index`, `task_id` and `llmgym_task`, the task's JSON, so scoring needs no
lookup). OpenRLHF rows are `{"input": messages, "label": ..., "datasource": ...}` for
`--data.input_key input --data.label_key label --data.apply_chat_template`; the label is the JSON
string `{"env": NAME, "task": {...}}` that `llmgym serve`'s `/get_reward` scores. The folder is
written whole or not at all.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from llmgym.errors import LLMGymError

FORMATS = ("verl", "openrlhf")
FILES = {"verl": ("train.parquet", "test.parquet"), "openrlhf": ("train.jsonl", "eval.jsonl")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, metavar="[NAME=]SPEC",
                        help="env to export: math, math:level=3, dataset:path=qa.jsonl; NAME=SPEC names it "
                             "as `llmgym serve` serves it (the OpenRLHF label's env)")
    parser.add_argument("--format", required=True, choices=FORMATS, help="verl (parquet) or openrlhf (JSONL)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (replaced as a whole)")
    parser.add_argument("--train", type=int, default=1000, metavar="N", help="train tasks (default 1000)")
    parser.add_argument("--eval", type=int, default=200, metavar="N", help="eval tasks (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the task draw (default 0)")


def run(args: argparse.Namespace) -> int:
    from llmgym.io import check_out_dir
    from llmgym.serve.catalog import split_alias

    from . import env_of

    if args.train < 0 or args.eval < 0:
        raise LLMGymError("--train and --eval must be >= 0")
    check_out_dir(args.out)  # before the env is built and its tasks drawn
    name, spec = split_alias(args.env)
    env = env_of(spec)
    counts = export(env, name, spec, args.format, Path(args.out), n_train=args.train, n_eval=args.eval, seed=args.seed)
    for file, n in counts.items():
        print(f"{Path(args.out) / file}: {n} rows")
    return 0


def export(env: Any, name: str, spec: str, fmt: str, out: Path, *, n_train: int, n_eval: int, seed: int) -> dict[str, int]:
    """Write the two splits of `env` into `out` in `fmt`; rows per file."""
    from llmgym.io import atomic_dir

    if fmt not in FORMATS:
        raise LLMGymError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    splits = {"train": list(env.tasks("train", n=n_train, seed=seed)),
              "eval": list(env.tasks("eval", n=n_eval, seed=seed))}
    if not splits["train"] and not splits["eval"]:
        raise LLMGymError(f"env {spec!r} gave no tasks to export")
    counts = {}
    with atomic_dir(out) as tmp:
        for (split, tasks), file in zip(splits.items(), FILES[fmt]):
            rows = [(verl_row if fmt == "verl" else openrlhf_row)(env, name, spec, split, i, t)
                    for i, t in enumerate(tasks)]
            (_write_parquet if fmt == "verl" else _write_jsonl)(tmp / file, rows)
            counts[file] = len(rows)
    return counts


def verl_row(env: Any, name: str, spec: str, split: str, index: int, task: Any) -> dict[str, Any]:
    answer = task.answer if isinstance(task.answer, str) else json.dumps(task.answer, ensure_ascii=False)
    return {"data_source": f"llmgym/{spec}", "prompt": task.messages(env.system_prompt),
            "ability": str(task.meta.get("family") or env.name),
            "reward_model": {"style": "rule", "ground_truth": answer},
            "extra_info": {"split": split, "index": index, "task_id": task.id,
                           "llmgym_task": json.dumps(task.to_dict(), ensure_ascii=False)}}


def openrlhf_row(env: Any, name: str, spec: str, split: str, index: int, task: Any) -> dict[str, Any]:
    label = json.dumps({"env": name, "task": task.to_dict()}, ensure_ascii=False)
    return {"input": task.messages(env.system_prompt), "label": label, "datasource": f"llmgym/{spec}"}


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", pa.struct([("split", pa.string()), ("index", pa.int64()), ("task_id", pa.string()),
                                  ("llmgym_task", pa.string())])),
    ])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    from llmgym.io import write_jsonl

    write_jsonl(path, rows)  # atomic: an export killed midway leaves the previous file, not half of one
