"""OpenEnv's protocol for every served env, at `/openenv/{env}`: what `openenv-core`'s clients speak.

    from openenv.core import GenericEnvClient
    async with GenericEnvClient(base_url="http://127.0.0.1:8000/openenv/math") as env:
        result = await env.reset(seed=0)                   # or reset(task={...}) to pin a task
        result = await env.step({"text": "... \\\\boxed{4}"})
        result.reward, result.done, result.observation["info"]["reward_components"]

One WebSocket connection (`/ws`) is one session, as in OpenEnv's own server: messages
`{"type": "reset"|"step"|"state"|"close", "data": {...}}` answered by `{"type": "observation",
"data": {"observation": {...}, "reward": r, "done": d}}`, `{"type": "state", ...}` or
`{"type": "error", "data": {"message", "code"}}`. Connections count against the server's session cap
and close after the session TTL without a message. `reset` takes `seed`, `task` (a task's JSON),
`task_id`, `level` and `split`; several connections that reset on the same task are a GRPO group.
The action is `{"text": completion}`: a final answer, or in a tool env a `<tool_call>` block whose
output comes back as the next observation. `/schema`, `/metadata` and `/health` answer over HTTP
as OpenEnv's server does (verifiers' `openenv` taskset reads `/schema`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from llmgym.env import SPLITS, ToolEnv

from .catalog import Catalog
from .protocol import ServeError, parse_json
from .sessions import SessionStore, start_episode

ACTION_SCHEMA = {
    "title": "LLMGymAction", "type": "object", "additionalProperties": False,
    "properties": {"text": {"type": "string", "description": "the model's completion: an answer, or a tool call"},
                   "metadata": {"type": "object"}},
    "required": ["text"],
}
OBSERVATION_SCHEMA = {
    "title": "LLMGymObservation", "type": "object",
    "properties": {"text": {"type": "string", "description": "the prompt after reset; a tool's output after a tool call"},
                   "messages": {"type": "array", "items": {"type": "object"}},
                   "task_id": {"type": "string"}, "task": {"type": "object"}, "info": {"type": "object"},
                   "done": {"type": "boolean"}, "reward": {"type": ["number", "null"]}},
}
log = logging.getLogger("llmgym.serve")
STATE_SCHEMA = {"title": "LLMGymState", "type": "object",
                "properties": {"episode_id": {"type": ["string", "null"]}, "step_count": {"type": "integer"},
                               "task_id": {"type": ["string", "null"]}, "done": {"type": "boolean"}}}


def register(app: Any, catalog: Catalog, store: SessionStore, max_message_bytes: int) -> None:
    """Add the OpenEnv routes of every served env to a FastAPI app."""

    @app.get("/openenv/{env_name}/health")
    async def health(env_name: str) -> dict:
        catalog.get(env_name)
        return {"status": "healthy"}

    @app.get("/openenv/{env_name}/schema")
    async def schema(env_name: str) -> dict:
        catalog.get(env_name)
        return {"action": ACTION_SCHEMA, "observation": OBSERVATION_SCHEMA, "state": STATE_SCHEMA}

    @app.get("/openenv/{env_name}/metadata")
    async def metadata(env_name: str) -> dict:
        served = catalog.get(env_name).describe()
        return {"name": served["name"], "description": served["description"], "version": served["version"],
                "readme_content": None, "author": None, "documentation_url": None}

    @app.websocket("/openenv/{env_name}/ws")
    async def session(websocket: WebSocket, env_name: str) -> None:
        await websocket.accept()
        try:
            catalog.get(env_name)
            store.reserve()
        except ServeError as exc:
            code = "CAPACITY_REACHED" if exc.status == 429 else "SESSION_ERROR"
            await _send_error(websocket, exc.message, code)
            await websocket.close()
            return
        episode = Episode(catalog, env_name)
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(websocket.receive_text(), timeout=store.ttl)
                except asyncio.TimeoutError:
                    await _send_error(websocket, f"session idle for {store.ttl:g} s (the TTL); reconnect", "SESSION_ERROR")
                    break
                if len(raw) > max_message_bytes:
                    await _send_error(websocket, f"message over {max_message_bytes} bytes", "VALIDATION_ERROR")
                    continue
                kind = None
                try:
                    message = parse_json(raw.encode("utf-8", "surrogatepass"))
                    if not isinstance(message, dict) or not isinstance(message.get("data", {}), dict):
                        raise ServeError(422, 'messages are {"type": ..., "data": {...}}')
                    kind, data = message.get("type"), message.get("data") or {}
                    if kind == "close":
                        break
                    if kind == "reset":
                        reply = {"type": "observation", "data": await episode.reset(data)}
                    elif kind == "step":
                        reply = {"type": "observation", "data": await episode.step(data)}
                    elif kind == "state":
                        reply = {"type": "state", "data": episode.state()}
                    else:
                        await _send_error(websocket, f"unknown message type {kind!r}; use reset, step, state or close",
                                          "UNKNOWN_TYPE")
                        continue
                except ServeError as exc:
                    await _send_error(websocket, exc.message, "VALIDATION_ERROR" if exc.status == 422 else "EXECUTION_ERROR")
                    continue
                except Exception as exc:  # a bug in an env: this message fails, the connection stays up
                    log.exception("openenv %s: %s failed", env_name, kind)
                    await _send_error(websocket, f"{type(exc).__name__}: {exc}", "EXECUTION_ERROR")
                    continue
                await websocket.send_text(json.dumps(reply, default=str))
        except WebSocketDisconnect:
            pass
        finally:
            store.release()
            try:
                await websocket.close()
            except RuntimeError:  # already closed by the client
                pass


class Episode:
    """The episode one WebSocket connection plays; `reset` replaces it with a new one."""

    def __init__(self, catalog: Catalog, env_name: str):
        self.catalog = catalog
        self.env_name = env_name
        self.env: Any = None
        self.id: str | None = None
        self.steps = 0
        self.done = False

    async def reset(self, data: dict) -> dict:
        level = data.get("level")
        split = data.get("split")
        seed = data.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ServeError(422, f"reset: seed must be a non-negative integer, got {seed!r}")
        if split is not None and split not in SPLITS:
            raise ServeError(422, f"reset: split must be one of {list(SPLITS)}, got {split!r}")
        served = self.catalog.env_for(self.env_name, level)
        if split is not None and split != served.split:
            served = _with_split(served, split)
        task = None
        if data.get("task") is not None or data.get("task_id") is not None:
            task = self.catalog.resolve(self.env_name, data, "reset")
        self.env, obs, info = await start_episode(served, seed=seed, task=task)
        self.catalog.remember(self.env_name, [self.env.task])
        self.id = data.get("episode_id") if isinstance(data.get("episode_id"), str) else self.env.task.id
        self.steps, self.done = 0, False
        observation = {"text": obs, "messages": info["messages"], "task_id": self.env.task.id,
                       "task": self.env.task.to_dict(), "info": _jsonable(info)}
        if isinstance(self.env, ToolEnv):
            observation["tools"] = self.env.tool_schemas()
        return {"observation": observation, "reward": None, "done": False}

    async def step(self, data: dict) -> dict:
        if self.env is None or self.done:
            raise ServeError(409, "send reset before step (and again after the episode is done)")
        text = data.get("text")
        if not isinstance(text, str):
            raise ServeError(422, 'step: the action is {"text": "<completion>"}')
        obs, reward, terminated, truncated, info = await asyncio.to_thread(self.env.step, text)
        self.steps += 1
        self.done = bool(terminated or truncated)
        observation = {"text": obs, "task_id": self.env.task.id, "info": _jsonable(info),
                       "terminated": bool(terminated), "truncated": bool(truncated)}
        return {"observation": observation, "reward": float(reward), "done": self.done}

    def state(self) -> dict:
        return {"episode_id": self.id, "step_count": self.steps, "done": self.done, "env": self.env_name,
                "task_id": self.env.task.id if self.env is not None else None}


def _with_split(env: Any, split: str) -> Any:
    import copy

    other = copy.copy(env)
    other.split = split  # which split reset() draws from; tasks() takes the split as an argument
    return other


def _jsonable(info: dict) -> dict:
    return json.loads(json.dumps(info, default=str))


async def _send_error(websocket: Any, message: str, code: str) -> None:
    await websocket.send_text(json.dumps({"type": "error", "data": {"message": message, "code": code}}))
