"""The envs a server exposes, by name, and the tasks it knows: what every endpoint looks up.

Each `--env` spec (`math`, `math:level=3`, `dataset:path=qa.jsonl`, `easy=math:level=1`) is built
once, through the registry like any other caller; `NAME=SPEC` exposes it under another name, so one
server can hold two variants of the same env. Other levels of an env (`level` in a request) are
built on first use and kept.

A task reaches scoring as its full JSON (stateless: any replica scores it) or by id. Ids resolve
from the tasks of dataset envs (the same on every replica) and from the tasks this process handed
out (`/v1/tasks`, sessions), kept in a bounded memo; an id a procedural env drew on another replica
is unknown here, so clients behind a load balancer send the task JSON (the exporters write it).

>>> catalog = Catalog(["add1=math:level=1"])            # doctest: +SKIP
>>> [t.id for t in catalog.draw("add1", "train", n=2, seed=0)]   # doctest: +SKIP
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from llmgym.env import SPLITS, TextEnv, ToolEnv
from llmgym.errors import LLMGymError
from llmgym.registry import parse_name_options
from llmgym.types import Task

from .protocol import ServeError

MEMO_SIZE = 100_000  # task ids remembered per process (a few hundred bytes each)


def split_alias(spec: str) -> tuple[str, str]:
    """`"easy=math:level=1"` -> `("easy", "math:level=1")`; a plain spec is named after its env.

    >>> split_alias("easy=math:level=1"), split_alias("math:level=3")
    (('easy', 'math:level=1'), ('math', 'math:level=3'))
    """
    head, eq, rest = spec.partition("=")
    if eq and ":" not in head and head.strip().isidentifier():
        return head.strip(), rest.strip()
    return parse_name_options(spec)[0], spec.strip()


@dataclass
class ServedEnv:
    """One exposed env: the instance built from its spec, and its other levels on demand."""

    name: str
    spec: str
    env: TextEnv
    source: str
    version: str
    _levels: dict[Any, TextEnv] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def at_level(self, level: Any, build: Any) -> TextEnv:
        """This env at `level` (None: as served). Levels outside `env.levels` are a 422."""
        if level is None or level == self.env.level:
            return self.env
        if level not in self.env.levels:
            raise ServeError(422, f"env {self.name!r}: level must be one of {list(self.env.levels)}, got {level!r}")
        with self._lock:
            if level not in self._levels:
                self._levels[level] = build(self.spec_name, **{**self.options, "level": level})
            return self._levels[level]

    @property
    def spec_name(self) -> str:
        return parse_name_options(self.spec)[0]

    @property
    def options(self) -> dict[str, Any]:
        return parse_name_options(self.spec)[1]

    def describe(self) -> dict[str, Any]:
        env = self.env
        lo, hi = env.reward_bounds
        out = {"name": self.name, "spec": self.spec, "version": self.version, "source": self.source,
               "source_version": source_version(self.source),
               "description": env.description, "levels": list(env.levels), "level": env.level,
               "families": list(getattr(env, "families", ()) or ()), "system_prompt": env.system_prompt,
               "reward_range": [lo, hi], "components": dict(env.rubric.weights), "multi_turn": isinstance(env, ToolEnv)}
        if isinstance(env, ToolEnv):
            out["tools"] = env.tool_schemas()
            out["max_turns"] = env.max_turns
        return out


def env_version(env: TextEnv) -> str:
    """The env's declared version (dataset envs hash their data), which results should record."""
    return str(getattr(env, "version", None) or "unversioned")


def source_version(source: str) -> str | None:
    """The installed version of the distribution that registered an env, if it is installed."""
    try:
        return importlib.metadata.version(source)
    except importlib.metadata.PackageNotFoundError:
        return None


class Catalog:
    """The served envs and the tasks this process can resolve by id."""

    def __init__(self, specs: Sequence[str], gym: Any = None, memo_size: int = MEMO_SIZE):
        from llmgym.plugins import default_gym

        if not specs:
            raise LLMGymError("llmgym serve needs at least one --env (for example --env math)")
        self.gym = gym or default_gym()
        self.envs: dict[str, ServedEnv] = {}
        for raw in specs:
            name, spec = split_alias(raw)
            if name in self.envs:
                raise LLMGymError(f"two --env options are served as {name!r}: name one of them, "
                                  f"e.g. --env {name}2={spec}")
            base = parse_name_options(spec)[0]
            source = self.gym.registry("envs").spec(base).source
            env = self.gym.make_env(spec)
            self.envs[name] = ServedEnv(name, spec, env, source, env_version(env))
        self._memo: OrderedDict[tuple[str, str], Task] = OrderedDict()
        self._memo_size = memo_size
        self._memo_lock = threading.Lock()
        self._fixed: dict[str, dict[str, Task] | None] = {}

    def get(self, name: Any) -> ServedEnv:
        if not isinstance(name, str) or name not in self.envs:
            raise ServeError(404, f"unknown env {name!r}; served: {', '.join(self.envs)}")
        return self.envs[name]

    def env_for(self, name: str, level: Any = None) -> TextEnv:
        return self.get(name).at_level(level, self.gym.make_env)

    # -- tasks ---------------------------------------------------------------------------------
    def draw(self, name: str, split: str, n: int, seed: int, level: Any = None) -> list[Task]:
        """`n` tasks of a split, deterministic in (env, level, split, seed), remembered by id."""
        if split not in SPLITS:
            raise ServeError(422, f"split must be one of {list(SPLITS)}, got {split!r}")
        try:
            tasks = list(self.env_for(name, level).tasks(split, n=n, seed=seed))
        except LLMGymError as exc:
            raise ServeError(422, str(exc)) from None
        self.remember(name, tasks)
        return tasks

    def remember(self, name: str, tasks: Sequence[Task]) -> None:
        with self._memo_lock:
            for task in tasks:
                self._memo[(name, task.id)] = task
                self._memo.move_to_end((name, task.id))
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)

    def resolve(self, name: str, item: Mapping[str, Any], where: str) -> Task:
        """The task of a request item: `{"task": {...}}` (full JSON) or `{"task_id": "..."}`."""
        if "task" in item and item["task"] is not None:
            return task_from_json(item["task"], f"{where}.task")
        task_id = item.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise ServeError(422, f"{where}: give the task as 'task' (its JSON) or 'task_id' (a string)")
        with self._memo_lock:
            known = self._memo.get((name, task_id))
        if known is None:
            known = self._fixed_tasks(name).get(task_id)
        if known is None:
            raise ServeError(404, f"{where}: unknown task id {task_id!r} for env {name!r}; send the task JSON "
                                  "instead (ids of generated tasks are known only to the replica that drew them)")
        return known

    def _fixed_tasks(self, name: str) -> dict[str, Task]:
        """Dataset envs' tasks by id (every replica has the same ones); none for procedural envs."""
        if name not in self._fixed:
            fixed = self.get(name).env.task_list()
            self._fixed[name] = {t.id: t for t in fixed} if fixed is not None else None
        return self._fixed[name] or {}


def task_from_json(data: Any, where: str) -> Task:
    """A `Task` from client JSON; a malformed one is a 422 naming what is wrong."""
    if not isinstance(data, Mapping):
        raise ServeError(422, f"{where} must be an object with 'prompt' (and 'answer', 'meta', 'id'), "
                              f"got {type(data).__name__}")
    if "prompt" not in data:
        raise ServeError(422, f"{where} has no 'prompt'")
    if not isinstance(data.get("meta", {}), Mapping) or not isinstance(data.get("id", ""), str):
        raise ServeError(422, f"{where}: 'meta' must be an object and 'id' a string")
    try:
        return Task.from_dict(data)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ServeError(422, f"{where}: {exc}") from None
