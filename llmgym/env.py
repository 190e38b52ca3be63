"""Text environments: `TextEnv` (a `gymnasium.Env` over text), `SingleTurnEnv` and `ToolEnv`, the
wrapper that adds tools (their protocol, `Tool` and the call format, is `llmgym.tools`).

An env hands the policy a task as text, the policy answers with text, the env scores it with its
`Rubric`. Tasks come from `tasks(split, n, seed)`; which split a task belongs to is decided by a hash
of its content, never by its position, so `eval` can never share a task with `train` whatever the
seed or the order of generation.

A procedural env only writes `generate_task(rng)`; a dataset env writes `task_list()` instead.

>>> import random
>>> from llmgym.rubric import FunctionReward, Rubric
>>> from llmgym.types import Score, Task
>>> class Add(SingleTurnEnv):
...     name = "add"
...     def generate_task(self, rng):
...         a, b = rng.randint(0, 99), rng.randint(0, 99)
...         return Task(f"{a}+{b}?", a + b)
...     def default_rubric(self):
...         return Rubric([(FunctionReward("correct", lambda c, t: float(c == str(t.answer))), 1.0)])
>>> env = Add()
>>> prompt, info = env.reset(seed=0)
>>> obs, reward, terminated, truncated, info = env.step(str(env.task.answer))
>>> reward, terminated, info["reason"]
(1.0, True, None)
"""

from __future__ import annotations

import copy
import hashlib
import random
from typing import Any, Iterator, Mapping, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.error import ResetNeeded

from .errors import LLMGymError, PluginError
from .rubric import Rubric
# The tool protocol lives in llmgym.tools; its names stay importable from here, as they always were.
from .tools import (  # noqa: F401
    MAX_TOOL_CALL_CHARS, RESERVED_TOOL_NAMES, TOOL_PROMPT, Tool, ToolCall, check_tools, parse_tool_call,
    run_tool_call, tools_prompt,
)
from .scoring import unanswered_score
from .types import Score, Task

SPLITS = ("train", "eval")
# The version of an env that declares none, and what a results row or run directory written before
# env versions were recorded counts as (see `TextEnv.version`).
UNVERSIONED = "unversioned"
UNRECORDED = "unrecorded"
# Keys every `info` dict from `step` carries (reset's info carries the first and "messages").
STEP_INFO_KEYS = ("task_id", "answer", "reward_components", "reason")
RESET_INFO_KEYS = ("task_id", "messages", "meta")


class TextSpace(gym.spaces.Space[str]):
    """Any Unicode string up to `max_length` characters.

    `gymnasium.spaces.Text` only admits a fixed charset (alphanumeric by default) and short strings;
    model output is arbitrary Unicode, so this space honestly admits all of it. `sample()` draws
    short strings from a mixed alphabet (ASCII, math, CJK, emoji, control characters).
    """

    _ALPHABET = (
        [chr(c) for c in range(32, 127)]
        + list("\n\t\\{}$∑√π≤≥±×÷αβγ一二三四五数学١٢٣😀🚀\u200b\u0301")
    )

    def __init__(self, max_length: int = 1 << 22, seed: int | np.random.Generator | None = None):
        self.max_length = max_length
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        length = int(self.np_random.integers(0, 48))
        idx = self.np_random.integers(0, len(self._ALPHABET), size=length)
        return "".join(self._ALPHABET[i] for i in idx)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length

    def to_jsonable(self, sample_n: Sequence[str]) -> list[str]:
        return list(sample_n)

    def from_jsonable(self, sample_n: Sequence[str]) -> list[str]:
        return list(sample_n)

    def __repr__(self) -> str:
        return f"TextSpace(max_length={self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, TextSpace) and other.max_length == self.max_length


def split_of(task_id: str, eval_fraction: float) -> str:
    """The split a task belongs to, from a hash of its id: stable across runs and machines."""
    bucket = int(hashlib.sha256(task_id.encode()).hexdigest()[:8], 16) / 0x1_0000_0000
    return "eval" if bucket < eval_fraction else "train"


def check_tasks_request(split: str, n: int | None) -> None:
    """The arguments of `tasks(split, n)`, checked the same way by every env."""
    if split not in SPLITS:
        raise LLMGymError(f"split must be one of {SPLITS}, got {split!r}")
    if n is not None and n < 0:
        raise LLMGymError(f"n must be >= 0, got {n}")


class TextEnv(gym.Env[str, str]):
    """Base class of every llmgym environment: observations and actions are text.

    Subclasses set `name`, `levels`, `description` and `version`, implement `default_rubric()` and one of
    `generate_task(rng)` (procedural) or `task_list()` (a fixed dataset), and `step`.
    `level` is a constructor argument so that curricula and reports can vary difficulty.
    """

    metadata = {"render_modes": ["ansi"]}
    name: str = "text"
    description: str = ""
    levels: tuple[int, ...] = (1,)
    families: tuple[str, ...] = ()  # task families selectable with a `family` argument, if any
    system_prompt: str | None = None
    eval_fraction: float = 0.2
    # Which eval set this is: bump it whenever a change to the generator, prompts, defaults or rubric
    # changes the tasks a split holds or how they score. Bench results and run directories record it,
    # and `llmgym bench` refuses to resume (or `llmgym report` to merge) episodes of another version.
    # Options (level, family, ...) are not folded in: a bench labels each env with its options and
    # keys episodes by level, and a run directory records its env spec. An env whose version depends
    # on its data (the `dataset` env: a hash of the file) defines it as a property.
    version: str = UNVERSIONED
    # Give up on drawing new tasks after this many draws in a row produced nothing new.
    max_stale_draws: int = 2000

    def __init__(self, *, level: int = 1, split: str = "train", rubric: Rubric | None = None,
                 render_mode: str | None = None):
        if level not in self.levels:
            raise LLMGymError(f"{self.name}: level must be one of {list(self.levels)}, got {level!r}")
        if split not in SPLITS:
            raise LLMGymError(f"split must be one of {SPLITS}, got {split!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise LLMGymError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.level = level
        self.split = split
        self.render_mode = render_mode
        self.rubric = rubric if rubric is not None else self.default_rubric()
        self.observation_space = TextSpace()
        self.action_space = TextSpace()
        self.task: Task | None = None
        self._done = True
        self._last_action: str | None = None

    # -- what subclasses provide -------------------------------------------------------------
    def default_rubric(self) -> Rubric:
        """The rubric the env scores with unless given `rubric=`; every env implements it."""
        raise PluginError(f"env class {type(self).__name__} ({self.name!r}) has no rubric: implement "
                          "default_rubric(self) returning a llmgym.Rubric, or pass rubric= to the constructor")

    def generate_task(self, rng: random.Random) -> Task:
        """Draw one task (procedural envs). Must depend only on `rng` and the constructor args."""
        raise PluginError(f"env class {type(self).__name__} ({self.name!r}) has no tasks: implement "
                          "generate_task(self, rng) (procedural) or task_list(self) (a dataset)")

    def task_list(self) -> Sequence[Task] | None:
        """All tasks of a dataset env, or None for a procedural env."""
        return None

    def reference(self, task: Task) -> str | None:
        """A reference completion that earns full reward (for SFT and reports), if the env has one."""
        solution = task.meta.get("solution")
        return solution if isinstance(solution, str) else None

    def documents(self, split: str = "train", n: int | None = None, seed: int = 0) -> Iterator[str]:
        """Plain text to pretrain on (`--algo pretrain`), no chat template: by default each of `n` tasks
        of `split` with a reference solution, as its prompt, a newline and the solution. An env may
        override it with any corpus of its domain."""
        for task in self.tasks(split, n=n, seed=seed):
            solution = self.reference(task)
            if solution:
                yield f"{task.text}\n{solution}"

    # -- tasks and splits ----------------------------------------------------------------------
    def split_of(self, task: Task) -> str:
        return split_of(task.id, self.eval_fraction)

    def tasks(self, split: str = "train", n: int | None = None, seed: int = 0) -> Iterator[Task]:
        """Deterministic stream of distinct tasks of one split; stops at `n` or when exhausted."""
        check_tasks_request(split, n)
        if n == 0:
            return
        fixed = self.task_list()
        if fixed is not None:
            pool = [t for t in fixed if self.split_of(t) == split]
            random.Random(seed).shuffle(pool)
            yield from pool[:n]
            return
        rng = random.Random(f"{self.name}/{self.level}/{seed}")
        seen: set[str] = set()
        stale = 0
        while stale < self.max_stale_draws:
            task = self.generate_task(rng)
            if task.id in seen or self.split_of(task) != split:
                stale += 1
                continue
            stale = 0
            seen.add(task.id)
            yield task
            if n is not None and len(seen) >= n:
                return

    def _draw_task(self) -> Task:
        rng = random.Random(int(self.np_random.integers(0, 2**63 - 1)))
        fixed = self.task_list()
        if fixed is not None:
            pool = [t for t in fixed if self.split_of(t) == self.split]
            if not pool:
                raise LLMGymError(f"{self.name} has no {self.split} tasks")
            return rng.choice(pool)
        for _ in range(self.max_stale_draws):
            task = self.generate_task(rng)
            if self.split_of(task) == self.split:
                return task
        raise LLMGymError(f"{self.name} level {self.level} produced no {self.split} task")

    # -- gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None) -> tuple[str, dict]:
        """Start an episode on a drawn task; `options={"task": task}` pins one (a Task or its dict)."""
        super().reset(seed=seed)
        pinned = (options or {}).get("task")
        if pinned is None:
            self.task = self._draw_task()
        elif isinstance(pinned, Task):
            self.task = pinned
        elif isinstance(pinned, Mapping):
            self.task = Task.from_dict(pinned)
        else:
            raise LLMGymError(f"options['task'] must be a Task or a dict, got {type(pinned).__name__}")
        self._done = False
        self._last_action = None
        return self.task.text, self._reset_info()

    def _reset_info(self) -> dict[str, Any]:
        assert self.task is not None
        return {
            "task_id": self.task.id,
            "messages": self.task.messages(self.system_prompt),
            "meta": dict(self.task.meta),
            "level": self.level,
        }

    def _check_can_step(self, action: Any) -> str:
        if self.task is None or self._done:
            raise ResetNeeded("call reset() before step(), and again after an episode ends")
        if not isinstance(action, str):
            raise TypeError(f"actions are text, got {type(action).__name__}")
        self._last_action = action
        return action

    def _final_info(self, score: Score, **extra: Any) -> dict[str, Any]:
        assert self.task is not None
        return {
            "task_id": self.task.id,
            "answer": score.answer,
            "reward_components": dict(score.components),
            "reason": score.reason,
            **extra,
        }

    @property
    def reward_bounds(self) -> tuple[float, float]:
        """The interval every reward of this env lies in (from the rubric)."""
        return self.rubric.value_range

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.task is None:
            return None
        out = f"[{self.name} level {self.level}] task {self.task.id}\n{self.task.text}\n"
        if self._last_action is not None:
            out += f"--- action ---\n{self._last_action}\n"
        return out


class SingleTurnEnv(TextEnv):
    """One prompt, one answer: the first step scores the answer and terminates."""

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        action = self._check_can_step(action)
        assert self.task is not None
        score = self.rubric.score(action, self.task)
        self._done = True
        return "", score.value, True, False, self._final_info(score)


# -- tools ---------------------------------------------------------------------------------------
class _Forwarded:
    """An attribute that every `TextEnv` has, read from and written to a wrapper's `env`.

    `__getattr__` is asked only for names that normal lookup misses, and TextEnv's class-level
    defaults (`name`, `levels`, `version`, ...) and methods (`tasks`, `reference`, ...) never miss;
    writes go through too, so that `env.split = "eval"` on a copy changes the env that draws tasks.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else getattr(obj.env, self.attr)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj.env, self.attr, value)


class ToolEnv(TextEnv):
    """A wrapper that lets the policy call tools before it answers the task of the env it wraps.

    Each step whose action holds a tool call runs the tool and returns its output as the next
    observation (reward 0). The first action without a tool call is the final answer: it is scored
    by the wrapped env's rubric and terminates the episode. At `max_turns` actions the episode is
    truncated with reward 0 and reason `turn_limit`. `info["tool_calls"]` counts calls so far.

    Like gymnasium's `Wrapper`, it changes one thing and forwards the rest: tasks, splits, levels,
    rubric, reference solutions, version and any attribute of the wrapped env (`env.family`) are the
    wrapped env's; `env` (also `base`) is that env and `unwrapped` the innermost one. Resets go to
    the wrapped env, which draws (or pins) the task; the system prompt adds the tools to its own.
    """

    # What the wrapped env is; the tools are part of the env's options (`tools=[...]`), so its
    # version is the wrapped env's too.
    name = _Forwarded()
    description = _Forwarded()
    levels = _Forwarded()
    families = _Forwarded()
    eval_fraction = _Forwarded()
    version = _Forwarded()
    max_stale_draws = _Forwarded()
    metadata = _Forwarded()
    spec = _Forwarded()
    np_random = _Forwarded()
    np_random_seed = _Forwarded()
    default_rubric = _Forwarded()
    generate_task = _Forwarded()
    task_list = _Forwarded()
    reference = _Forwarded()
    split_of = _Forwarded()
    tasks = _Forwarded()
    level = _Forwarded()
    split = _Forwarded()
    rubric = _Forwarded()
    task = _Forwarded()

    def __init__(self, base: TextEnv, tools: Sequence[Tool], *, max_turns: int = 4,
                 render_mode: str | None = None):
        if max_turns < 1:
            raise LLMGymError(f"max_turns must be >= 1, got {max_turns}")
        if not tools:
            raise LLMGymError("a ToolEnv needs at least one tool")
        check_tools(tools)
        self.env = base
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise LLMGymError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.tools = {t.name: t for t in tools}
        self.max_turns = max_turns
        self.messages: list[dict[str, str]] = []
        self.tool_calls = 0
        self.turns = 0
        self._done = True
        self._last_action: str | None = None

    def __getattr__(self, name: str) -> Any:
        # Only names normal lookup missed arrive here. Private names are not forwarded (as gymnasium's
        # wrappers did), which also keeps copy and pickle, which probe `__setstate__` and friends on
        # an object whose `env` is not set yet, away from the wrapped env.
        if name.startswith("_") or "env" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self.env, name)

    def __copy__(self) -> ToolEnv:
        # Episodes run on shallow copies (llmgym.rollout, serve sessions, TRL's rollout slots); the
        # wrapped env holds the task, so each copy wraps its own shallow copy of it.
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.env = copy.copy(self.env)
        return other

    def __str__(self) -> str:
        return f"<{type(self).__name__}{self.env}>"

    @property
    def base(self) -> TextEnv:
        """The wrapped env (the name `env` has in gymnasium's wrappers)."""
        return self.env

    @property
    def unwrapped(self) -> gym.Env:
        return self.env.unwrapped

    @property
    def system_prompt(self) -> str:  # type: ignore[override]
        return "\n\n".join(p for p in (self.env.system_prompt, tools_prompt(list(self.tools.values()))) if p)

    def tool_schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self.tools.values()]

    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None) -> tuple[str, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        assert self.task is not None
        self._done = False
        self._last_action = None
        self.messages = self.task.messages(self.system_prompt)
        self.tool_calls = 0
        self.turns = 0
        return obs, {**info, "messages": self.messages, "tool_calls": 0}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        action = self._check_can_step(action)
        assert self.task is not None
        self.turns += 1
        self.messages = [*self.messages, {"role": "assistant", "content": action}]
        call = parse_tool_call(action)
        if call is None:
            score = self.rubric.score(action, self.task)
            self._done = True
            return "", score.value, True, False, self._final_info(score, tool_calls=self.tool_calls,
                                                                    messages=self.messages)
        self.tool_calls += 1
        output = run_tool_call(self.tools, call)
        self.messages = [*self.messages, {"role": "tool", "content": output}]
        if self.turns >= self.max_turns:
            self._done = True
            score = unanswered_score(self.rubric)
            return output, 0.0, False, True, self._final_info(score, tool_calls=self.tool_calls,
                                                               messages=self.messages)
        info = {"task_id": self.task.id, "answer": None, "reward_components": {}, "reason": None,
                "tool_calls": self.tool_calls, "messages": self.messages}
        return output, 0.0, False, False, info

    def close(self) -> None:
        self.env.close()
