"""The FastAPI app of `llmgym serve`: routes, limits, the bearer token and error shapes.

Every refusal is a 4xx whose JSON body is `{"error": "<one line>"}`: 400 unreadable JSON, 401 a
missing or wrong token, 404 an unknown env, task id, session or route, 409 a step on a finished
episode, 413 a body or batch over its cap, 422 a field of the wrong type or value, 429 the session
cap. A bug while scoring is a 500 with the same shape, logged with its traceback, and the server
keeps serving. The limits are checked before any work: the body size from `Content-Length` (and
while reading, for bodies without it), then nesting depth, then batch size.

    app = create_app(Catalog(["math"]), Settings(token="s3cret"))      # uvicorn.run(app, ...)
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
from dataclasses import dataclass
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from llmgym.types import Score, Task

from .catalog import Catalog
from .protocol import ServeError, check_batch_size, count, expect_object, field, parse_json, score_json
from .scoring import Scorer
from .sessions import SessionStore

log = logging.getLogger("llmgym.serve")
OPEN_PATHS = ("/v1/health",)  # load-balancer probes carry no token and learn nothing but liveness


@dataclass(frozen=True)
class Settings:
    """Limits of one server (the CLI's options)."""

    token: str | None = None
    max_body_bytes: int = 8 << 20
    max_batch: int = 1024
    max_sessions: int = 256
    session_ttl: float = 600.0


class Guard:
    """ASGI middleware: the bearer token, the body-size cap, and a count of requests in flight."""

    def __init__(self, app: Any, settings: Settings, state: dict):
        self.app = app
        self.settings = settings
        self.state = state

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.settings.token and scope.get("path") not in OPEN_PATHS and not _authorised(headers, self.settings.token):
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
            return await _reply(send, 401, "missing or wrong token: send 'Authorization: Bearer <token>' "
                                           "(or put it in the URL as http://user:<token>@host/)")
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        cap = self.settings.max_body_bytes
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > cap):
            return await _reply(send, 413 if length.isdigit() else 400,
                                f"body of {length} bytes is over the cap of {cap} bytes" if length.isdigit()
                                else "malformed Content-Length")
        seen = 0

        async def capped_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:  # a chunked body has no Content-Length to refuse it by
                    raise ServeError(413, f"body over the cap of {cap} bytes")
            return message

        counted = scope.get("path") not in OPEN_PATHS
        self.state["in_flight"] += counted
        try:
            await self.app(scope, capped_receive, send)
        finally:
            self.state["in_flight"] -= counted


def _authorised(headers: dict[str, str], token: str) -> bool:
    value = headers.get("authorization", "")
    scheme, _, credential = value.partition(" ")
    if scheme.lower() == "basic":  # `http://user:TOKEN@host` in a client that cannot set headers
        try:
            credential = base64.b64decode(credential, validate=True).decode("utf-8").partition(":")[2]
        except ValueError:
            return False
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credential.encode(), token.encode())


async def _reply(send: Callable, status: int, message: str) -> None:
    import json

    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(catalog: Catalog, settings: Settings = Settings()) -> Any:
    """The server for `catalog`'s envs under `settings`' limits."""
    import contextlib

    from . import openenv
    from .openrlhf import parse_reward_request, reward_response

    scorer = Scorer(max_items=settings.max_batch)
    store = SessionStore(cap=settings.max_sessions, ttl=settings.session_ttl)
    state = {"in_flight": 0}

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        sweeper = asyncio.create_task(_sweep(store))
        yield
        sweeper.cancel()
        await scorer.close()

    app = FastAPI(title="llmgym serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.catalog, app.state.store, app.state.scorer = catalog, store, scorer

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, exc: ServeError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"[:300]}, status_code=500)

    async def body(request: Request) -> dict:
        return dict(expect_object(parse_json(await request.body())))

    async def score_rows(rows: list[tuple[str, str, Task]]) -> list[Score]:
        """Scores of (env, completion, task) rows, in order; rows of one env are one scoring job."""
        by_env: dict[str, list[int]] = {}
        for i, (name, _, _) in enumerate(rows):
            by_env.setdefault(name, []).append(i)
        out: list[Score | None] = [None] * len(rows)

        async def one(name: str, idx: list[int]) -> None:
            rubric = catalog.get(name).env.rubric
            scores = await scorer.score(name, rubric, [rows[i][1] for i in idx], [rows[i][2] for i in idx])
            for i, s in zip(idx, scores):
                out[i] = s

        await asyncio.gather(*(one(name, idx) for name, idx in by_env.items()))
        return [s for s in out if s is not None]

    @app.get("/v1/health")
    async def health() -> dict:
        return {"status": "ok", "in_flight": state["in_flight"], "sessions": len(store), "envs": list(catalog.envs)}

    @app.get("/v1/envs")
    async def envs() -> dict:
        from llmgym import __version__

        return {"llmgym_version": __version__, "envs": [e.describe() for e in catalog.envs.values()]}

    @app.post("/v1/tasks")
    async def tasks(request: Request) -> dict:
        data = await body(request)
        name = field(data, "env", str)
        served = catalog.get(name)
        level = data.get("level")
        n = count(data, "n", default=1, low=0, high=settings.max_batch)
        seed = count(data, "seed", default=0, low=0, high=2**63 - 1)
        split = field(data, "split", str, default="train")
        drawn = await asyncio.to_thread(catalog.draw, name, split, n, seed, level)
        system = catalog.env_for(name, level).system_prompt
        return {"env": name, "version": served.version, "split": split, "level": level if level is not None else served.env.level,
                "tasks": [{**t.to_dict(), "messages": t.messages(system)} for t in drawn]}

    @app.post("/v1/score")
    async def score(request: Request) -> JSONResponse:
        data = await body(request)
        name = field(data, "env", str)
        served = catalog.get(name)
        items = field(data, "items", list)
        check_batch_size(len(items), settings.max_batch)
        rows = []
        for i, item in enumerate(items):
            item = expect_object(item, f"items[{i}]")
            completion = field(item, "completion", str, where=f"items[{i}]")
            rows.append((name, completion, catalog.resolve(name, item, f"items[{i}]")))
        scores = await score_rows(rows)
        # Rendered straight to JSON: FastAPI's encoder would walk every value of every result again.
        return JSONResponse({"env": name, "version": served.version,
                             "results": [score_json(s, task.id) for s, (_, _, task) in zip(scores, rows)]})

    @app.post("/get_reward")
    async def get_reward(request: Request) -> JSONResponse:
        rows, _ = parse_reward_request(parse_json(await request.body()), catalog, settings.max_batch)
        return JSONResponse(reward_response(await score_rows(rows)))

    @app.post("/v1/sessions")
    async def open_session(request: Request) -> dict:
        data = await body(request)
        name = field(data, "env", str)
        env = catalog.env_for(name, data.get("level"))
        seed = count(data, "seed", default=0, low=0, high=2**63 - 1) if data.get("seed") is not None else None
        task = catalog.resolve(name, data, "body") if (data.get("task") or data.get("task_id")) else None
        session, obs, info = await store.open(name, env, seed=seed, task=task)
        catalog.remember(name, [session.task])
        out = {**store.describe(session), "observation": obs, "messages": info["messages"],
               "task": session.task.to_dict(), "info": _jsonable(info)}
        if hasattr(env, "tool_schemas"):
            out["tools"] = env.tool_schemas()
        return out

    @app.post("/v1/sessions/{session_id}/step")
    async def step(session_id: str, request: Request) -> dict:
        data = await body(request)
        action = field(data, "action", str)
        session = store.get(session_id)
        obs, reward, terminated, truncated, info = await store.step(session, action)
        if session.done:  # the answer carries everything; a finished episode only holds a slot
            store.close(session.id)
        return {**store.describe(session), "observation": obs, "reward": float(reward),
                "terminated": bool(terminated), "truncated": bool(truncated), "info": _jsonable(info)}

    @app.delete("/v1/sessions/{session_id}")
    async def close_session(session_id: str) -> dict:
        return {"closed": store.close(session_id)}

    openenv.register(app, catalog, store, settings.max_body_bytes)
    return Guard(app, settings, state)


async def _sweep(store: SessionStore) -> None:
    while True:
        await asyncio.sleep(max(1.0, min(30.0, store.ttl / 4)))
        store.sweep()


def _jsonable(info: dict) -> dict:
    import json

    return json.loads(json.dumps(info, default=str))
