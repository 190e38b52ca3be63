"""What `llmgym bench` costs on top of the episodes, and what the `openai` policy's concurrency buys.

1. Bookkeeping: the same episodes with an instant policy through plain `llmgym.rollout.rollout`
   and through `run_bench` (a results.jsonl line per episode, an fsync per batch, resume keys),
   then the time to render summary.json, report.md and report.html from them.
2. Serving: a llama-cpp-python server on 127.0.0.1 with the SmolLM2 GGUF; the same greedy
   requests through `OpenAIPolicy` with concurrency 1 and 4 (tokens/s and the ratio).

Figures, not a test: the machine may be shared, so read the ratios more than the absolute numbers.

    .venv/bin/python benchmarks/bench_report.py [--episodes 4000] [--requests 16] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import AddEnv  # noqa: E402

from llmgym.report.bench import EnvCase, PolicyCase, run_bench  # noqa: E402
from llmgym.report.render import render_bench  # noqa: E402
from llmgym.rollout import rollout  # noqa: E402
from llmgym.types import Completion, SamplingParams  # noqa: E402


class BigAdd(AddEnv):
    """Sums of two numbers below 1000: enough distinct eval tasks for thousands of episodes."""

    name = "bigadd"

    def generate_task(self, rng):
        from llmgym.types import Task

        a, b = rng.randint(0, 999), rng.randint(0, 999)
        return Task(f"What is {a} + {b}?", a + b, {"level": 1})


class Instant:
    name = "instant"

    def generate(self, prompts, n=1, params=None):
        return [[Completion("so \\boxed{7}", 10, 4, 0.0)] * n for _ in prompts]


def bookkeeping(episodes: int) -> None:
    env = BigAdd()
    samples = 4
    tasks = list(env.tasks("eval", n=episodes // samples))
    t0 = time.perf_counter()
    rollout(env, Instant(), tasks, n=samples)
    plain = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        records = run_bench([EnvCase("bigadd", 1, env, tasks)], [PolicyCase("instant", Instant)], out, samples=samples)
        bench = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_bench([EnvCase("bigadd", 1, env, tasks)], [PolicyCase("instant", Instant)], out, samples=samples)
        resume = time.perf_counter() - t0
        t0 = time.perf_counter()
        render_bench(out, records)
        render = time.perf_counter() - t0
        size = os.path.getsize(Path(out) / "results.jsonl")
    n = len(records)
    print(f"bookkeeping, {n} episodes (instant policy, toy env):")
    print(f"  plain rollout        {plain:7.2f} s  ({n / plain:8.0f} episodes/s)")
    print(f"  run_bench            {bench:7.2f} s  ({n / bench:8.0f} episodes/s)  overhead x{bench / plain:.2f}")
    print(f"  rerun, all finished  {resume:7.2f} s  (reads and skips {n} records)")
    print(f"  render 3 outputs     {render:7.2f} s  results.jsonl {size / 1e6:.1f} MB")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving(requests: int, max_tokens: int) -> None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("serving: llama-cpp-python is not installed (make install), skipped")
        return
    from llmgym.policies.openai import OpenAIPolicy
    from llmgym.policies.smollm2 import gguf_path

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--host",
                             "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "False"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)], daemon=True).start()
    try:
        while True:
            line = lines.get(timeout=120)
            if line is None:
                raise RuntimeError("the server exited")
            if "Uvicorn running on" in line:
                break
        prompts = [[{"role": "user", "content": f"Count from {i} to {i + 20}."}] for i in range(requests)]
        params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
        print(f"serving, {requests} requests x <= {max_tokens} tokens, llama-cpp-python server, SmolLM2 Q4_1:")
        rates = {}
        for concurrency in (1, 4):
            policy = OpenAIPolicy(f"http://127.0.0.1:{port}/v1", concurrency=concurrency)
            policy.generate(prompts[:1], 1, params)  # warm-up
            t0 = time.perf_counter()
            out = policy.generate(prompts, 1, params)
            seconds = time.perf_counter() - t0
            tokens = sum(c.completion_tokens for group in out for c in group)
            rates[concurrency] = tokens / seconds
            print(f"  concurrency {concurrency}: {tokens} tokens in {seconds:6.2f} s = {rates[concurrency]:7.1f} tokens/s")
        print(f"  ratio concurrency 4 / 1: x{rates[4] / rates[1]:.2f}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=4000)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    bookkeeping(args.episodes)
    serving(args.requests, args.max_tokens)


if __name__ == "__main__":
    main()
