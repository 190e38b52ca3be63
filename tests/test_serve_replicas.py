"""Scaling out and shutting down: two replicas behind a client-side round-robin, one SIGKILLed mid-load,
and a SIGTERM that lets the request in flight finish."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from serve_process import ServeProcess

import llmgym

REQUESTS = 200
KILL_AFTER = 60


def test_two_replicas_one_killed_mid_load_every_request_gets_exactly_one_correct_result():
    env = llmgym.make("math", level=2)
    tasks = list(env.tasks("eval", n=40, seed=0))
    batches = []
    for i in range(REQUESTS):
        picked = [tasks[(i + k) % len(tasks)] for k in range(4)]
        completions = [f"\\boxed{{{t.answer}}}" if (i + k) % 3 else "\\boxed{-1}" for k, t in enumerate(picked)]
        batches.append((completions, picked))
    expected = [[s.value for s in env.rubric.score_batch(c, t)] for c, t in batches]

    replicas = [ServeProcess("--env", "math:level=2"), ServeProcess("--env", "math:level=2")]
    results: dict[int, list[float]] = {}
    retried: list[int] = []
    done = 0
    lock = threading.Lock()
    http = httpx.Client(headers=replicas[0].headers, timeout=60)

    def send(i: int) -> None:
        nonlocal done
        completions, picked = batches[i]
        body = {"env": "math", "items": [{"completion": c, "task": t.to_dict()} for c, t in zip(completions, picked)]}
        for attempt in range(2):  # this request's replica, then the other one
            replica = replicas[(i + attempt) % 2]
            try:
                response = http.post(replica.url + "/v1/score", json=body)
            except httpx.TransportError:
                retried.append(i)
                continue
            response.raise_for_status()
            with lock:
                assert i not in results
                results[i] = [r["reward"] for r in response.json()["results"]]
                done += 1
                if done == KILL_AFTER:
                    os.killpg(replicas[0].proc.pid, signal.SIGKILL)
            return
        raise AssertionError(f"request {i} got no answer from either replica")

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(send, range(REQUESTS)))
    finally:
        http.close()
        for r in replicas:
            r.kill()
    assert replicas[0].proc.returncode == -signal.SIGKILL
    assert sorted(results) == list(range(REQUESTS))
    assert [results[i] for i in range(REQUESTS)] == [pytest.approx(e) for e in expected]
    assert retried and all(i % 2 == 0 for i in retried)  # only requests sent to the killed replica moved


def test_sigterm_finishes_the_request_in_flight_then_exits_zero():
    server = ServeProcess("--env", "code")
    try:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
            task = client.post("/v1/tasks", json={"env": "code", "n": 1, "seed": 4}).json()["tasks"][0]
            solution = task["meta"]["solution"].replace("```python\n", "```python\nimport time\ntime.sleep(2)\n", 1)
            answer: dict = {}

            def slow() -> None:
                answer["response"] = client.post("/v1/score", json={"env": "code", "items": [
                    {"completion": solution, "task": task}]})

            worker = threading.Thread(target=slow)
            worker.start()
            for _ in range(500):  # until the server holds the request
                if client.get("/v1/health").json()["in_flight"] >= 1:
                    break
                time.sleep(0.01)
            else:
                raise AssertionError("the scoring request never reached the server")
            server.terminate()
            worker.join(timeout=60)
        assert answer["response"].status_code == 200
        assert answer["response"].json()["results"][0]["reward"] == 1.0
        assert server.proc.wait(timeout=60) == 0
        assert server.log[-1].strip() == "llmgym serve: stopped"
    finally:
        server.kill()
