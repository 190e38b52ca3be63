"""Scoring through `llmgym serve` against scoring in process: requests/s and p50/p99 latency of math and
code scoring at concurrency 1, 8 and 32, the same batches both ways in the same run.

The server is a real `llmgym serve --env math --env code` subprocess on 127.0.0.1; the client sends
`concurrency` requests at a time with aiohttp. In process, `concurrency` threads call the env's
`rubric.score_batch` on the same batches (the threads share the GIL and the process's sandbox pool,
as reward code inside a trainer would). Every server answer is checked against the in-process one.
Printed: a table, the server/in-process throughput ratio, the HTTP hop's cost per scored completion,
and the two floors: math through the server at >= 50% of in-process throughput at concurrency 8,
and code scoring bounded by the sandbox (server throughput about in-process throughput, or better).
Figures, not a test: on a shared machine read the ratios more than the absolute numbers.

    .venv/bin/python benchmarks/bench_serve.py [--requests 400] [--batch 8] [--code-requests 48]
        [--code-batch 4] [--concurrency 1,8,32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def start_server(*args: str) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if k != "LLMGYM_SERVE_TOKEN"}
    proc = subprocess.Popen([sys.executable, "-m", "llmgym.cli", "serve", *args, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    for line in proc.stdout:
        if line.startswith("llmgym serve: listening on "):
            return proc, line.split()[4]
    raise RuntimeError("llmgym serve did not start")


def make_batches(env_name: str, n: int, size: int) -> tuple[Any, list[tuple[list[str], list[Any]]]]:
    import llmgym

    env = llmgym.make(env_name, level=2)
    tasks = list(env.tasks("eval", n=max(size, 64), seed=0))
    batches = []
    for i in range(n):
        picked = [tasks[(i * size + k) % len(tasks)] for k in range(size)]
        if env_name == "math":
            texts = [f"So the answer is \\boxed{{{t.answer}}}." if k % 2 else "I think \\boxed{-1}"
                     for k, t in enumerate(picked)]
        else:
            texts = [t.meta["solution"] if k % 2 else "```python\ndef f():\n    return None\n```"
                     for k, t in enumerate(picked)]
        batches.append((texts, picked))
    return env, batches


def in_process(env: Any, batches: list, concurrency: int) -> tuple[float, list[float], list[list[float]]]:
    def one(batch):
        start = time.perf_counter()
        scores = env.rubric.score_batch(*batch)
        return time.perf_counter() - start, [s.value for s in scores]

    env.rubric.score_batch(*batches[0])  # warm: sympy worker, sandboxes
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        out = list(pool.map(one, batches))
    return time.perf_counter() - start, [o[0] for o in out], [o[1] for o in out]


def through_server(url: str, env_name: str, batches: list, concurrency: int) -> tuple[float, list[float], list[list[float]]]:
    """`concurrency` requests in flight at a time from one aiohttp session (a lighter client than httpx,
    so that on a small machine the figures are the server's more than the client's)."""
    import json

    import aiohttp

    bodies = [json.dumps({"env": env_name, "items": [{"completion": c, "task": t.to_dict()} for c, t in zip(*batch)]})
              for batch in batches]
    headers = {"content-type": "application/json"}

    async def run() -> tuple[float, list[tuple[float, list[float]]]]:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as client:
            async with client.post("/v1/score", data=bodies[0], headers=headers) as response:  # warm
                response.raise_for_status()
            gate = asyncio.Semaphore(concurrency)

            async def one(body):
                async with gate:
                    start = time.perf_counter()
                    async with client.post("/v1/score", data=body, headers=headers) as response:
                        response.raise_for_status()
                        results = (await response.json())["results"]
                    return time.perf_counter() - start, [r["reward"] for r in results]

            start = time.perf_counter()
            out = await asyncio.gather(*(one(b) for b in bodies))
            return time.perf_counter() - start, out

    wall, out = asyncio.run(run())
    return wall, [o[0] for o in out], [o[1] for o in out]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="math scoring requests per cell")
    parser.add_argument("--batch", type=int, default=8, help="completions per math request")
    parser.add_argument("--code-requests", type=int, default=48, help="code scoring requests per cell")
    parser.add_argument("--code-batch", type=int, default=4, help="completions per code request")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated concurrency levels")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    proc, url = start_server("--env", "math:level=2", "--env", "code:level=2")
    rows, ratio = [], {}
    try:
        for kind, n, size in (("math", args.requests, args.batch), ("code", args.code_requests, args.code_batch)):
            env, batches = make_batches(kind, n, size)
            for c in levels:
                local_wall, local_lat, local_out = in_process(env, batches, c)
                served_wall, served_lat, served_out = through_server(url, kind, batches, c)
                assert served_out == local_out, f"{kind}: the server's scores differ from in-process scores"
                for mode, wall, lat in (("in-process", local_wall, local_lat), ("server", served_wall, served_lat)):
                    rows.append((kind, mode, c, n / wall, n * size / wall, pct(lat, 0.5), pct(lat, 0.99)))
                ratio[(kind, c)] = (local_wall / served_wall, (served_wall - local_wall) / (n * size) * 1000)
    finally:
        proc.terminate()
        proc.wait(timeout=60)

    print(f"llmgym serve vs in-process scoring ({os.cpu_count()} CPUs; math batches of {args.batch}, "
          f"code batches of {args.code_batch})\n")
    print(f"{'kind':<5} {'mode':<11} {'conc':>4} {'req/s':>9} {'compl/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for kind, mode, c, rps, cps, p50, p99 in rows:
        print(f"{kind:<5} {mode:<11} {c:>4} {rps:>9.1f} {cps:>9.1f} {p50:>8.1f} {p99:>8.1f}")
    print(f"\n{'kind':<5} {'conc':>4} {'server/in-process':>18} {'HTTP hop ms/compl':>18}")
    for (kind, c), (r, hop) in ratio.items():
        print(f"{kind:<5} {c:>4} {r:>17.0%} {hop:>18.3f}")
    if ("math", 8) in ratio:
        r = ratio[("math", 8)][0]
        print(f"\nfloor: math through the server at concurrency 8 = {r:.0%} of in-process "
              f"(>= 50%: {'met' if r >= 0.5 else 'NOT met'})")
    if ("code", 8) in ratio:
        r = ratio[("code", 8)][0]
        print(f"floor: code through the server at concurrency 8 = {r:.0%} of in-process, whose rate is the sandbox's "
              f"({'bounded by the sandbox' if r >= 0.8 else 'NOT bounded by the sandbox: the server costs more'})")


if __name__ == "__main__":
    main()
