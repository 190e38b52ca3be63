"""A small client of `llmgym serve` for trainers' reward code: score through one or more replicas.

    client = ServeClient(["http://10.0.0.5:8000", "http://10.0.0.6:8000"])
    client.score("math", ["\\\\boxed{4}"], [task])          # -> [{"reward": 1.1, "components": ..., ...}]

Requests go round-robin over the replicas; a replica that cannot be reached, or that answers 5xx,
is skipped and the request is sent to the next one (scoring is idempotent, so a request a dying
replica may have scored is safely scored again). A 4xx is the request's fault and raises at once.
The token comes from `$LLMGYM_SERVE_TOKEN` unless given.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import weakref
from typing import Any, Sequence

from llmgym.errors import LLMGymError
from llmgym.types import Task

TOKEN_ENV = "LLMGYM_SERVE_TOKEN"


class ServeClient:
    """Round-robin over replicas with failover; safe to share between threads."""

    def __init__(self, urls: str | Sequence[str], *, token: str | None = None, timeout: float = 180.0,
                 attempts: int | None = None, backoff: float = 0.2):
        import httpx

        self.urls = [u.rstrip("/") for u in ([urls] if isinstance(urls, str) else urls)]
        if not self.urls:
            raise LLMGymError("ServeClient needs at least one server URL")
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(timeout=timeout, headers=headers)
        # Its pooled keep-alive sockets are closed when the client is collected or the process exits,
        # not left to the garbage collector (a ResourceWarning): trainers keep clients in closures and caches.
        self._finalizer = weakref.finalize(self, self.http.close)
        self.attempts = attempts or 2 * len(self.urls)
        self.backoff = backoff
        self._next = itertools.count()
        self._lock = threading.Lock()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` to `path` on the next live replica; the decoded JSON answer."""
        import httpx

        with self._lock:
            start = next(self._next)
        errors = []
        for attempt in range(self.attempts):
            url = self.urls[(start + attempt) % len(self.urls)] + path
            try:
                response = self.http.post(url, json=body)
            except httpx.TransportError as exc:  # refused, reset, timed out: try the next replica
                errors.append(f"{url}: {type(exc).__name__}: {exc}")
            else:
                if response.status_code < 500:
                    if response.status_code >= 400:
                        raise LLMGymError(f"{url} refused the request (HTTP {response.status_code}): "
                                          f"{_reason(response)}")
                    return response.json()
                errors.append(f"{url}: HTTP {response.status_code}: {_reason(response)}")
            if (attempt + 1) % len(self.urls) == 0:
                time.sleep(self.backoff * (attempt + 1) / len(self.urls))
        raise LLMGymError(f"no llmgym server answered after {self.attempts} attempts; last: {errors[-1]} "
                          "(is `llmgym serve` running there?)")

    def score(self, env: str, completions: Sequence[str], tasks: Sequence[Task | dict]) -> list[dict[str, Any]]:
        """One result per completion: `reward`, `components`, `reason`, `answer`, `task_id`."""
        if len(completions) != len(tasks):
            raise ValueError(f"{len(completions)} completions for {len(tasks)} tasks")
        items = [{"completion": c, "task": t.to_dict() if isinstance(t, Task) else t}
                 for c, t in zip(completions, tasks)]
        return self.post("/v1/score", {"env": env, "items": items})["results"]

    def close(self) -> None:
        self._finalizer()


def _reason(response: Any) -> str:
    try:
        return str(response.json().get("error") or response.text)[:300]
    except ValueError:
        return response.text[:300]
