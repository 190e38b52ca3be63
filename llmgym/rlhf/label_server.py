"""`llmgym label`: a local page where a person puts K samples of a prompt in order.

    llmgym label --env rlhf --policy smollm2 --out rankings.jsonl [--prompts 50 --k 5 --port 8765]

Served on 127.0.0.1 only (standard-library `http.server`; no data leaves the machine). The queue of
items (prompt + K samples, drawn once from the policy) is written next to the rankings file as
`FILE.queue.jsonl` before the first page is served, so a restarted session shows the same samples
and continues with the first item that has no record yet: each ranking or skip is appended
atomically to FILE (`llmgym.rlhf.rankings.append`) the moment it is submitted. Undo removes the
last record of the file (atomic rewrite) and shows its item again.

API (JSON): `GET /api/state` -> `{"done", "total", "ranked", "skipped", "item", "can_undo"}` where
`item` is `{"item", "prompt", "completions"}` or null when everything is ranked;
`POST /api/rank {"item", "ranking"}`, `POST /api/skip {"item"}`, `POST /api/undo {}` answer with
the new state (400 with `{"error"}` for a stale item or a bad ranking).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from llmgym.errors import LLMGymError
from llmgym.io import atomic_write_text

from . import rankings as rk


def queue_path(out: str | os.PathLike) -> Path:
    p = Path(out)
    return p.with_name(p.name + ".queue.jsonl")


def item_id(prompt: Any, completions: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps([prompt, list(completions)], sort_keys=True).encode()).hexdigest()[:16]


def build_queue(env: Any, sample: Any, n: int, k: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` items of the env's train split, each with `k` samples from `sample(chat_prompts, k, tasks) -> [[str]]`."""
    tasks = list(env.tasks("train", n=n, seed=seed))
    if not tasks:
        raise LLMGymError(f"env {env.name} gave no tasks to label")
    samples = sample([t.messages(env.system_prompt) for t in tasks], k, tasks)
    items = []
    for task, texts in zip(tasks, samples):
        # The record's prompt is the task's own messages, as the reward model reads them when scoring.
        prompt = task.messages()
        texts = [str(t) for t in texts]
        items.append({"item": item_id(prompt, texts), "prompt": prompt, "completions": texts, "task": task.to_dict()})
    return items


def write_queue(path: Path, items: Sequence[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))


def read_queue(path: Path) -> list[dict[str, Any]]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except ValueError:
                raise LLMGymError(f"{path}:{n}: not JSON; delete the queue file to draw new samples") from None
    return items


class LabelSession:
    """The queue, the rankings file and what has been done; thread-safe."""

    def __init__(self, out: str | os.PathLike, items: Sequence[dict[str, Any]], ranker: str):
        self.out = Path(out)
        self.items = list(items)
        self.by_id = {i["item"]: i for i in self.items}
        self.ranker = ranker
        self.lock = threading.Lock()

    def _records(self) -> list[dict[str, Any]]:
        return rk.read(self.out) if self.out.is_file() else []

    def state(self) -> dict[str, Any]:
        with self.lock:
            return self._state()

    def _state(self) -> dict[str, Any]:
        records = [r for r in self._records() if r.get("item") in self.by_id]
        done = {r["item"] for r in records}
        nxt = next((i for i in self.items if i["item"] not in done), None)
        skipped = sum(1 for r in records if r.get("ranking") is None)
        return {"done": len(done), "total": len(self.items), "ranked": len(records) - skipped, "skipped": skipped,
                "can_undo": bool(records),
                "item": None if nxt is None else {k: nxt[k] for k in ("item", "prompt", "completions")}}

    def _current(self, item: Any) -> dict[str, Any]:
        state = self._state()
        if state["item"] is None or state["item"]["item"] != item:
            raise LLMGymError("this item is not the one waiting (ranked in another tab?); reload the page")
        return self.by_id[item]

    def rank(self, item: Any, ranking: Any) -> dict[str, Any]:
        with self.lock:
            it = self._current(item)
            rk.append(self.out, [rk.make_record(it["prompt"], it["completions"], ranking, ranker=self.ranker,
                                                item=it["item"], task=it.get("task"))])
            return self._state()

    def skip(self, item: Any) -> dict[str, Any]:
        with self.lock:
            it = self._current(item)
            rk.append(self.out, [rk.make_record(it["prompt"], it["completions"], None, ranker=self.ranker,
                                                item=it["item"], task=it.get("task"))])
            return self._state()

    def undo(self) -> dict[str, Any]:
        with self.lock:
            records = self._records()
            ours = [i for i, r in enumerate(records) if r.get("item") in self.by_id]
            if ours:
                del records[ours[-1]]
                rk.rewrite(self.out, records)
            return self._state()


def page() -> bytes:
    return resources.files("llmgym.rlhf").joinpath("static", "label.html").read_bytes()


def make_server(session: LabelSession, port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:`port` (0 picks a free port: `server.server_address[1]`)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:  # keep the terminal for the summary
            pass

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            self._send(status, json.dumps(data, ensure_ascii=False).encode(), "application/json")

        def do_GET(self) -> None:
            if self.path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, page(), "text/html; charset=utf-8")
            elif self.path == "/api/state":
                self._json(HTTPStatus.OK, session.state())
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

        def do_POST(self) -> None:
            try:
                length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise LLMGymError("request body must be a JSON object")
                if self.path == "/api/rank":
                    self._json(HTTPStatus.OK, session.rank(body.get("item"), body.get("ranking")))
                elif self.path == "/api/skip":
                    self._json(HTTPStatus.OK, session.skip(body.get("item")))
                elif self.path == "/api/undo":
                    self._json(HTTPStatus.OK, session.undo())
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            except (LLMGymError, ValueError) as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc).splitlines()[0]})

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def policy_sampler(spec: str, params: Any) -> Any:
    """`sample(prompts, k, tasks)` from a policy name, or the simulated writer for "simulated"."""
    if spec == "simulated":
        import random

        from .simulate import simulated_completions

        rng = random.Random(0)
        return lambda prompts, k, tasks: [simulated_completions(t, k, rng) for t in tasks]
    import llmgym

    policy = llmgym.make_policy(spec)
    return lambda prompts, k, tasks: [[c.text for c in row] for row in policy.generate(prompts, n=k, params=params)]


def open_session(out: str, env_spec: str, policy: str, n: int, k: int, *, seed: int = 0, ranker: str = "human",
                 params: Any = None, say: Any = print) -> LabelSession:
    """Reuse the queue next to `out` or draw a new one, and return the session over it."""
    import llmgym

    qp = queue_path(out)
    if qp.is_file():
        items = read_queue(qp)
        say(f"continuing the queue in {qp} ({len(items)} items)")
    else:
        if k < 2:
            raise LLMGymError(f"--k must be at least 2 (a ranking orders samples), got {k}")
        say(f"sampling {k} completions for {n} prompts of {env_spec} from {policy} ...")
        items = build_queue(llmgym.make(env_spec), policy_sampler(policy, params), n, k, seed)
        qp.parent.mkdir(parents=True, exist_ok=True)
        write_queue(qp, items)
    return LabelSession(out, items, ranker)
