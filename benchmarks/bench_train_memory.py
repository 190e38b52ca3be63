"""Peak memory of `llmgym train`: the default run against the settings it replaced, in one run.

Each variant is a real `llmgym train --env math --steps N` in a child process; a poller sums the
resident set size (RSS) of that process and every descendant (the sympy verifier worker, any
conversion child) every 0.05 s, so the peak is what the machine had to hold for the whole run. Step
time is the mean `step_time` of the run's metrics.jsonl. The variants run one after the other under the
same load, and the table gives each figure beside the default's with the ratio.

    .venv/bin/python benchmarks/bench_train_memory.py                 # default, --lora and old settings, 2 steps
    .venv/bin/python benchmarks/bench_train_memory.py --steps 1 --eval-tasks 0
    .venv/bin/python benchmarks/bench_train_memory.py --variant "fp32 base=--base-dtype float32"
    .venv/bin/python benchmarks/bench_train_memory.py --steps 3 --eval-tasks 0 --only default,heap-grads,lazy-state --repeat 4

Variants (NAME=FLAGS): `default` is `llmgym train` with every default (all weights but the embeddings,
Adafactor, micro-batches of one group run as a packed shared-prompt row, activation recomputation, bf16
rollouts where faster); `lora` adds `--lora` (an adapter on frozen weights, bf16 where `fast_cpu_dtype`
measures it faster); `old` is the previous default (all weights in fp32, AdamW, the step's 16 sequences
in one pass, no recomputation); `heap-grads` is the default with PyTorch's own per-parameter gradients
instead of one buffer a step (`llmgym.memory.flat_gradients`), `lazy-state` with Adafactor's state made
inside its first step instead of before it (`llmgym.memory.eager_optimizer_state`). FLAGS may start with
`NAME=VALUE` words, set in the run's environment. Each variant also leaves `NAME.rss.tsv`, the tree's
RSS second by second beside the last line its log had then, to place the peak in the run, and the
table's line names each process's share of the peak. `--repeat N` runs the variants in turn N times: a
peak moves by tens of MiB between runs of the same flags, and the table gives each variant's median with
its range.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from llmgym.train.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")
VARIANTS = {
    "default": "",
    "lora": "--lora",
    "old": "--no-lora --no-gradient-checkpointing --micro-batch-size 16 --eval-temperature 0",
    "heap-grads": "LLMGYM_FLAT_GRADIENTS=0",
    "lazy-state": "LLMGYM_EAGER_OPTIMIZER_STATE=0",
}


def tree_rss(pid: int) -> tuple[int, dict[str, int]]:
    """Bytes resident in process `pid` and all its descendants (0 once it is gone), and the bytes of
    each of them by `NAME:PID` (NAME the kernel's command name)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after the command name, which may hold spaces
        p = int(entry)
        children.setdefault(int(fields[1]), []).append(p)
        rss[p] = int(fields[21]) * PAGE
        names[p] = stat[stat.index("(") + 1:stat.rindex(")")]
    total, each, todo = 0, {}, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        each[f"{names.get(p, '?')}:{p}"] = rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total, each


def processes(held: dict[str, int]) -> str:
    """Each process's MiB at the peak, largest first: `llmgym:812 1650, python:815 67`."""
    return ", ".join(f"{k} {v / 2**20:.0f}" for k, v in sorted(held.items(), key=lambda kv: -kv[1]))


def last_log_line(path: Path) -> str:
    """The last non-empty line of a log being written (its tail only), tabs and progress bars stripped."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 400))
            tail = f.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [ln.strip().replace("\t", " ") for ln in tail.replace("\r", "\n").splitlines() if ln.strip()]
    return lines[-1][:120] if lines else ""


def split_flags(flags: str) -> tuple[dict[str, str], list[str]]:
    """(environment, arguments) of a variant's FLAGS: leading NAME=VALUE words are the environment.

    >>> split_flags("LLMGYM_FLAT_GRADIENTS=0 --lora")
    ({'LLMGYM_FLAT_GRADIENTS': '0'}, ['--lora'])
    """
    words, env = shlex.split(flags), {}
    while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return env, words


def measure(name: str, flags: str, steps: int, extra: list[str], out: Path) -> dict:
    run = out / name
    env, words = split_flags(flags)
    cmd = [str(ROOT / ".venv/bin/llmgym"), "train", "--env", "math", "--steps", str(steps), "--out", str(run),
           "--save-every", "0", *extra, *words]
    log = open(out / f"{name}.log", "w")
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **env})
    peak = [0]
    done = threading.Event()

    trace = open(out / f"{name}.rss.tsv", "w")  # where in the run the memory goes
    trace.write("seconds\tMiB (max over the second)\tlast line of the run's log then\n")
    at_peak = [0.0]
    held: dict[str, int] = {}  # each process's share of the peak

    def poll() -> None:
        last, second, second_max = 0.0, 0, 0
        while not done.is_set():
            rss, each = tree_rss(proc.pid)
            now = time.perf_counter() - started
            if rss > peak[0]:
                peak[0], at_peak[0] = rss, now
                held.clear()
                held.update(each)
            second_max = max(second_max, rss)
            if int(now) > second:
                trace.write(f"{second}\t{second_max / 2**20:.0f}\t{last_log_line(out / f'{name}.log')}\n")
                trace.flush()
                second, second_max = int(now), 0
            if time.perf_counter() - last > 5:  # the peak so far survives a run that is killed
                (out / f"{name}.peak").write_text(f"{peak[0] / 2**20:.0f} MiB at {at_peak[0]:.0f} s: {processes(held)}\n")
                last = time.perf_counter()
            done.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    code = proc.wait()
    done.set()
    poller.join()
    trace.close()
    wall = time.perf_counter() - started
    if code:
        sys.exit(f"{name}: llmgym train exited {code}; see {out / (name + '.log')}")
    rows = RunDir(run).rows()
    step_times = [r["step_time"] for r in rows if "step_time" in r]
    (out / f"{name}.peak").write_text(f"{peak[0] / 2**20:.0f} MiB at {at_peak[0]:.0f} s: {processes(held)}\n")
    return {"name": name, "flags": flags or "(defaults)", "peak_mib": peak[0] / 2**20, "peak_at_s": at_peak[0],
            "processes": processes(held),
            "step_s": statistics.mean(step_times) if step_times else float("nan"), "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--eval-tasks", type=int, default=None, help="passed to llmgym train (default: its own)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS",
                        help="another variant to measure after default, lora and old")
    parser.add_argument("--only", default=None, help="comma-separated variant names to run (default: all)")
    parser.add_argument("--out", default=None, help="folder for the runs (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=1, help="run the variants in turn this many times")
    args = parser.parse_args()
    variants = dict(VARIANTS)
    for item in args.variant:
        name, _, flags = item.partition("=")
        variants[name.strip()] = flags
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only.split(",")}
    extra = [] if args.eval_tasks is None else ["--eval-tasks", str(args.eval_tasks)]
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_train_memory-"))
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {name: [] for name in variants}
    for round_ in range(args.repeat):
        for name, flags in variants.items():
            label = name if args.repeat == 1 else f"{name}-{round_ + 1}"
            print(f"measuring {label}: llmgym train --env math --steps {args.steps} {' '.join(extra)} {flags}",
                  flush=True)
            r = measure(label, flags, args.steps, extra, out)
            results[name].append(r)
            print(f"  {label}: peak {r['peak_mib']:.0f} MiB at {r['peak_at_s']:.0f} s ({r['processes']}; trace: "
                  f"{label}.rss.tsv), step {r['step_s']:.1f} s", flush=True)
    rows = {name: {"peak": statistics.median(r["peak_mib"] for r in rs), "low": min(r["peak_mib"] for r in rs),
                   "high": max(r["peak_mib"] for r in rs), "step": statistics.median(r["step_s"] for r in rs),
                   "wall": statistics.median(r["wall_s"] for r in rs), "flags": rs[0]["flags"]}
            for name, rs in results.items()}
    base = next(iter(rows.values()))
    runs = "" if args.repeat == 1 else f", median of {args.repeat} runs each [range]"
    print(f"\npeak RSS of the process tree, {args.steps} steps{runs}, run folder {out}")
    print(f"{'variant':<10} {'peak MiB':>9} {'range':>13} {'x default':>9} {'step s':>8} {'x default':>9} {'wall s':>7}  flags")
    for name, r in rows.items():
        spread = f"[{r['low']:.0f}, {r['high']:.0f}]" if args.repeat > 1 else ""
        print(f"{name:<10} {r['peak']:>9.0f} {spread:>13} {r['peak'] / base['peak']:>9.2f} {r['step']:>8.1f} "
              f"{r['step'] / base['step']:>9.2f} {r['wall']:>7.0f}  {r['flags']}")

if __name__ == "__main__":
    main()
