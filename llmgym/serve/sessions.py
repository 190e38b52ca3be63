"""Multi-turn episodes held by the server: `reset` starts one, `step` advances it, with a cap and a TTL.

A session is one episode of one env: its own shallow copy of the served env (per-episode state,
shared stateless rubric and tools, as `llmgym.rollout` does), created by `open` and stepped with
text actions. Tool envs answer tool calls with the tool's output, so a trainer on another machine
runs llmgym's tools (the sandboxed python tool included) exactly as an in-process rollout would.

Sessions are the one stateful part of the server: they live in the process that opened them, so a
load balancer must keep a session's requests on one replica (its id is all a client needs; replicas
refuse ids they do not hold). A session idle longer than `ttl` seconds is dropped, and at most
`cap` sessions live at once (the HTTP API and OpenEnv's WebSocket sessions share the cap); a
request past the cap is refused rather than queued, because a trainer that leaks sessions should
hear about it.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from gymnasium.error import ResetNeeded

from llmgym.env import TextEnv
from llmgym.types import Task

from .protocol import ServeError


@dataclass
class Session:
    id: str
    env_name: str
    env: TextEnv
    task: Task
    created: float
    last_used: float
    steps: int = 0
    done: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


async def start_episode(env: TextEnv, *, seed: int | None, task: Task | None) -> tuple[TextEnv, str, dict]:
    """A fresh copy of `env`, reset on `task` (or on a task drawn with `seed`): (env, observation, info)."""
    episode = copy.copy(env)
    options = {"task": task} if task is not None else None
    obs, info = await asyncio.to_thread(episode.reset, seed=seed, options=options)
    return episode, obs, info


class SessionStore:
    """Live sessions by id. Methods are called from the event loop; env work runs in threads."""

    def __init__(self, cap: int = 256, ttl: float = 600.0, clock: Any = time.monotonic):
        if cap < 1 or ttl <= 0:
            raise ValueError("sessions need cap >= 1 and ttl > 0")
        self.cap = cap
        self.ttl = ttl
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._reserved = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def sweep(self) -> int:
        """Drop sessions idle past the TTL; returns how many went."""
        now = self.clock()
        with self._lock:
            stale = [sid for sid, s in self._sessions.items() if now - s.last_used > self.ttl and not s.lock.locked()]
            for sid in stale:
                del self._sessions[sid]
        return len(stale)

    def reserve(self) -> None:
        """Take a slot before building the session's env (which may take a while), or refuse."""
        self.sweep()
        with self._lock:
            if len(self._sessions) + self._reserved >= self.cap:
                raise ServeError(429, f"{self.cap} sessions are live (the cap); close finished sessions, "
                                      "wait for idle ones to expire, or start the server with a larger --max-sessions")
            self._reserved += 1

    def release(self) -> None:
        with self._lock:
            self._reserved -= 1

    async def open(self, env_name: str, env: TextEnv, *, seed: int | None, task: Task | None) -> tuple[Session, str, dict]:
        """Start an episode on a copy of `env` (pinned to `task`, else drawn with `seed`)."""
        self.reserve()
        try:
            episode, obs, info = await start_episode(env, seed=seed, task=task)
            now = self.clock()
            session = Session(secrets.token_urlsafe(16), env_name, episode, episode.task, now, now)
            with self._lock:
                self._sessions[session.id] = session
        finally:
            self.release()
        return session, obs, info

    def get(self, session_id: Any) -> Session:
        self.sweep()
        session = self._sessions.get(session_id) if isinstance(session_id, str) else None
        if session is None:
            raise ServeError(404, f"no live session {str(session_id)[:64]!r} here: it expired (TTL {self.ttl:g} s), "
                                  "was closed, or lives on another replica")
        return session

    async def step(self, session: Session, action: str) -> tuple[str, float, bool, bool, dict]:
        async with session.lock:  # one step at a time per episode; other sessions run in parallel
            if session.done:
                raise ServeError(409, f"session {session.id} has ended; open a new one")
            try:
                out = await asyncio.to_thread(session.env.step, action)
            except ResetNeeded:
                session.done = True
                raise ServeError(409, f"session {session.id} has ended; open a new one") from None
            session.steps += 1
            session.last_used = self.clock()
            session.done = bool(out[2] or out[3])
            return out

    def touch(self, session: Session) -> None:
        session.last_used = self.clock()

    def close(self, session_id: str) -> bool:
        with self._lock:
            return self._sessions.pop(session_id, None) is not None

    def describe(self, session: Session) -> Mapping[str, Any]:
        return {"session_id": session.id, "env": session.env_name, "task_id": session.task.id,
                "steps": session.steps, "done": session.done, "ttl_s": self.ttl}
