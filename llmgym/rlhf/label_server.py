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

Hostile requests get a status and a one-line `{"error"}`, and change nothing:

- Every request must name this server in `Host`: `127.0.0.1:PORT` or `localhost:PORT`, else 403. A
  page on another site that rebinds its DNS name to 127.0.0.1 reaches the port, but its requests
  carry its own name in `Host`.
- Every POST must carry `Origin: http://127.0.0.1:PORT` or `http://localhost:PORT`, else 403. Browsers
  send `Origin` on every POST, same-origin `fetch` included (so the page passes), and a page on any
  other site cannot forge it; a POST without `Origin` is refused too, since it cannot be told apart
  from an old browser's cross-site form. Scripts calling the API add the header themselves.
- A body is read only up to its `Content-Length`, at most 1 MiB (`MAX_BODY`); no `Content-Length`
  means no body. A length that is negative, not a number or given twice differently is 400, one over
  the cap is 413 (the excess is never read), `Transfer-Encoding` is 411, and a client that stops
  sending is dropped after `TIMEOUT_S`.
- A body that is not a JSON object (or nests deeper than the parser recurses), an `item` that is not
  an id string and a `ranking` that is not a list are 400, like a ranking with wrong indices.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from llmgym.errors import LLMGymError
from llmgym.io import read_jsonl, write_jsonl

from . import rankings as rk

MAX_BODY = 1 << 20  # bytes of a request body; a ranking of K samples is a few hundred
TIMEOUT_S = 30  # seconds a connection may stall mid-request before it is dropped
_LENGTH_RE = re.compile(r"[0-9]{1,15}")


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
    write_jsonl(path, items)


def read_queue(path: Path) -> list[dict[str, Any]]:
    try:
        return list(read_jsonl(path))
    except LLMGymError as exc:
        raise LLMGymError(f"{exc}; delete the queue file to draw new samples") from None


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


class Refused(Exception):
    """A request answered with `status` and the one-line `reason`, before it touched the session."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


def local_hosts(port: int) -> set[str]:
    """The `Host` values that name this server (lower case)."""
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    if port == 80:  # clients leave out the default port
        hosts |= {"127.0.0.1", "localhost"}
    return hosts


def check_host_and_origin(headers: Any, port: int, *, changes_state: bool) -> None:
    """Raise `Refused(403)` unless the request names this server (see the module docstring)."""
    hosts = local_hosts(port)
    host = headers.get("Host")
    if host is None:
        raise Refused(HTTPStatus.FORBIDDEN, f"the request has no Host header; open http://127.0.0.1:{port}/")
    if host.strip().lower() not in hosts:
        raise Refused(HTTPStatus.FORBIDDEN, f"Host {_short(host)} is not this server; open http://127.0.0.1:{port}/")
    if changes_state:
        origin = headers.get("Origin")
        if origin is None:
            raise Refused(HTTPStatus.FORBIDDEN, f"a POST needs the header Origin: http://127.0.0.1:{port} "
                                                "(browsers send it; add it in scripts)")
        if origin.strip().lower() not in {f"http://{h}" for h in hosts}:
            raise Refused(HTTPStatus.FORBIDDEN, f"Origin {_short(origin)} is not this server's page; "
                                                f"rank from http://127.0.0.1:{port}/")


def read_body(headers: Any, rfile: Any) -> bytes:
    """The request body, read only as far as a valid `Content-Length` of at most `MAX_BODY` says."""
    if headers.get("Transfer-Encoding") is not None:
        raise Refused(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length, not Transfer-Encoding")
    values = [v.strip() for v in headers.get_all("Content-Length") or []]
    if not values:
        return b""
    if len(set(values)) > 1:
        raise Refused(HTTPStatus.BAD_REQUEST, f"Content-Length given {len(values)} times with different values")
    if not _LENGTH_RE.fullmatch(values[0]):
        raise Refused(HTTPStatus.BAD_REQUEST, f"Content-Length must be a number of bytes, got {_short(values[0])}")
    length = int(values[0])
    if length > MAX_BODY:
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                      f"request body of {length} bytes is over the limit of {MAX_BODY} bytes")
    data = rfile.read(length)
    if len(data) < length:
        raise Refused(HTTPStatus.BAD_REQUEST, f"request body ended after {len(data)} of {length} bytes")
    return data


def parse_request(data: bytes) -> dict[str, Any]:
    """The JSON object of a POST body (empty means `{}`); `Refused(400)` for anything else."""
    try:
        body = json.loads(data or b"{}")
    except RecursionError:
        raise Refused(HTTPStatus.BAD_REQUEST, "request body nests too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise Refused(HTTPStatus.BAD_REQUEST, f"request body is not JSON: {_short(str(exc), 80)}") from None
    if not isinstance(body, dict):
        raise Refused(HTTPStatus.BAD_REQUEST, f"request body must be a JSON object, got {type(body).__name__}")
    return body


def _item(body: dict[str, Any]) -> str:
    item = body.get("item")
    if not isinstance(item, str):
        raise Refused(HTTPStatus.BAD_REQUEST, "item must be the id string of the waiting item")
    return item


def _ranking(body: dict[str, Any]) -> list[Any]:
    ranking = body.get("ranking")
    if not isinstance(ranking, list):
        raise Refused(HTTPStatus.BAD_REQUEST, "ranking must be a list of sample indices, best first "
                                              f"(a nested list is a tie), got {_short(ranking)}")
    return ranking


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def make_server(session: LabelSession, port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:`port` (0 picks a free port: `server.server_address[1]`)."""

    class Handler(BaseHTTPRequestHandler):
        timeout = TIMEOUT_S  # a stalled client costs one thread for this long, not forever

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

        def _error(self, status: int, reason: str) -> None:
            self._json(status, {"error": reason.splitlines()[0][:300] if reason else HTTPStatus(status).phrase})

        def do_GET(self) -> None:
            try:
                check_host_and_origin(self.headers, self.server.server_address[1], changes_state=False)
            except Refused as exc:
                return self._error(exc.status, str(exc))
            if self.path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, page(), "text/html; charset=utf-8")
            elif self.path == "/api/state":
                self._json(HTTPStatus.OK, session.state())
            else:
                self._error(HTTPStatus.NOT_FOUND, "not found")

        def do_POST(self) -> None:
            try:
                # Who is asking is checked before a byte of the body is read.
                check_host_and_origin(self.headers, self.server.server_address[1], changes_state=True)
                if self.path not in ("/api/rank", "/api/skip", "/api/undo"):
                    raise Refused(HTTPStatus.NOT_FOUND, "not found")
                body = parse_request(read_body(self.headers, self.rfile))
                if self.path == "/api/rank":
                    self._json(HTTPStatus.OK, session.rank(_item(body), _ranking(body)))
                elif self.path == "/api/skip":
                    self._json(HTTPStatus.OK, session.skip(_item(body)))
                else:
                    self._json(HTTPStatus.OK, session.undo())
            except Refused as exc:
                # The unread rest of a refused body must not be taken for the next request.
                self.close_connection = True
                self._error(exc.status, str(exc))
            except LLMGymError as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc))

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
