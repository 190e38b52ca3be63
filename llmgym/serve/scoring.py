"""Scoring requests coalesced into batches, one batch at a time per env, off the event loop.

Expensive rewards are built for batches (`Reward.score_batch`): the code env's tests run all of a
batch's programs in parallel in the process's sandbox pool, and the pool runs one batch at a time.
So when requests arrive together, scoring each alone would leave sandboxes idle while requests
queue on the pool's lock. Instead, each env has one queue: whatever requests are waiting when its
worker comes round are scored as one `rubric.score_batch` call (up to `max_items` completions), in a
thread, and each request gets its own slice back. An idle server scores a lone request at once; under
load the batches grow, which is what lets code scoring run at the sandbox's speed.

Scoring is a pure function of (completion, task): results do not depend on what a request was
batched with, so batching changes throughput, never answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Sequence

from llmgym.errors import LLMGymError
from llmgym.rubric import Rubric
from llmgym.types import Score, Task

from .protocol import ServeError

log = logging.getLogger("llmgym.serve")


@dataclass
class _Job:
    completions: Sequence[str]
    tasks: Sequence[Task]
    future: asyncio.Future


class Scorer:
    """Per-env queues of scoring jobs, each drained by one worker task."""

    def __init__(self, max_items: int = 1024):
        self.max_items = max_items
        self._queues: dict[str, tuple[deque[_Job], asyncio.Event]] = {}
        self._workers: dict[str, asyncio.Task] = {}

    async def score(self, key: str, rubric: Rubric, completions: Sequence[str], tasks: Sequence[Task]) -> list[Score]:
        """Scores of `completions` against `tasks` by `rubric`, batched with concurrent requests for `key`."""
        if not completions:
            return []
        future = asyncio.get_running_loop().create_future()
        if key not in self._queues:
            self._queues[key] = (deque(), asyncio.Event())
            self._workers[key] = asyncio.create_task(self._work(*self._queues[key], rubric),
                                                     name=f"llmgym-score-{key}")
        pending, wake = self._queues[key]
        pending.append(_Job(completions, tasks, future))
        wake.set()
        return await future

    async def _work(self, pending: deque[_Job], wake: asyncio.Event, rubric: Rubric) -> None:
        while True:
            while not pending:
                wake.clear()
                await wake.wait()
            jobs = [pending.popleft()]
            size = len(jobs[0].completions)
            while pending and size + len(pending[0].completions) <= self.max_items:
                jobs.append(pending.popleft())
                size += len(jobs[-1].completions)
            completions = [c for job in jobs for c in job.completions]
            tasks = [t for job in jobs for t in job.tasks]
            try:
                scores = await asyncio.to_thread(rubric.score_batch, completions, tasks)
            except LLMGymError as exc:  # the server's setup (a missing sandbox), not the request
                self._fail(jobs, ServeError(503, str(exc)))
                continue
            except Exception as exc:  # a bug in a reward: this batch fails, the server keeps serving
                log.exception("scoring failed")
                self._fail(jobs, ServeError(500, f"scoring failed: {type(exc).__name__}: {exc}"))
                continue
            start = 0
            for job in jobs:
                end = start + len(job.completions)
                if not job.future.done():  # a client that hung up cancelled its future
                    job.future.set_result(scores[start:end])
                start = end

    @staticmethod
    def _fail(jobs: list[_Job], error: ServeError) -> None:
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(error)

    async def close(self) -> None:
        for worker in self._workers.values():
            worker.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._workers.clear()
        self._queues.clear()
