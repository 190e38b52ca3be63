"""The `dataset` env on a large JSONL file: what building it, drawing a few tasks and `llmgym info`
cost, side by side with reading the whole file with `json`.

Writes a JSONL file of `--rows` question/answer/solution rows (default 1,000,000) to a temporary
folder, then runs each measurement in its own Python process, so that each peak memory (the
process's maximum resident set) is its own and not the high-water mark of an earlier one. Every
process first imports llmgym and the env module; that import alone is measured too (`baseline`),
and the `extra` column is the peak above it. The ratio column compares each with the whole-file read.
`--full` adds `stats` (one pass over every row, keeping 16 bytes a row). Prints figures, never
passes or fails on them.

    .venv/bin/python benchmarks/bench_dataset.py               # 1,000,000 rows
    .venv/bin/python benchmarks/bench_dataset.py --rows 10000 --full
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Each snippet runs after `import llmgym, llmgym.envs.dataset` with `PATH` bound to the file.
MEASUREMENTS = {
    "baseline (imports only)": "pass",
    "build the env": "llmgym.make('dataset', path=PATH)",
    "tasks('train', n=10)": "list(llmgym.make('dataset', path=PATH).tasks('train', n=10))",
    "llmgym info": ("import contextlib, io\n"
                    "from llmgym.cli import main\n"
                    "with contextlib.redirect_stdout(io.StringIO()):\n"
                    "    assert main(['info', 'dataset:path=' + PATH]) == 0"),
    "json: read the whole file": "rows = [json.loads(line) for line in open(PATH, 'rb')]",
}
FULL = {"stats (every row, one pass)": "llmgym.make('dataset', path=PATH).stats"}

CHILD = """
import json, resource, sys, time
import llmgym, llmgym.envs.dataset
PATH = sys.argv[1]
start = time.perf_counter()
exec(compile(sys.argv[2], "<measurement>", "exec"))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_file(path: Path, rows: int) -> None:
    with open(path, "w") as fh:
        for i in range(rows):
            a, b = i // 1000, i % 1000
            fh.write(json.dumps({"question": f"What is {a} + {b}? (row {i})", "answer": a + b,
                                 "solution": f"{a} + {b} = {a + b}."}) + "\n")


def measure(path: Path, code: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), code], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"measurement failed:\n{code}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the JSONL file")
    parser.add_argument("--full", action="store_true", help="also measure `stats`, a pass over every row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmgym-bench-dataset-") as tmp:
        path = Path(tmp) / "qa.jsonl"
        started = time.perf_counter()
        write_file(path, args.rows)
        size_mb = path.stat().st_size / 2**20
        print(f"{args.rows:,} rows, {size_mb:,.1f} MB of JSONL (written in {time.perf_counter() - started:.1f} s)\n")
        todo = {**MEASUREMENTS, **(FULL if args.full else {})}
        results = {name: measure(path, code) for name, code in todo.items()}
    base = results["baseline (imports only)"]["peak_mb"]
    ref = results["json: read the whole file"]
    ref_extra = max(ref["peak_mb"] - base, 1e-9)
    print(f"{'measurement':<30} {'time':>9} {'peak RSS':>10} {'extra':>10}   {'time / json':>11} {'extra / json':>12}")
    for name, r in results.items():
        extra = max(r["peak_mb"] - base, 0.0)
        print(f"{name:<30} {r['seconds']:>8.3f}s {r['peak_mb']:>8.0f}MB {extra:>8.0f}MB   "
              f"{r['seconds'] / ref['seconds']:>11.3f} {extra / ref_extra:>12.3f}")


if __name__ == "__main__":
    main()
