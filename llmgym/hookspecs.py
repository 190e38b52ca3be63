"""pluggy hook specifications of llmgym. Specs only; implementations live in plugins.

A plugin is a module (or object) with functions marked `@llmgym.hookimpl`, exposed through the
entry-point group `llmgym`. Each hook receives a `register(name, factory, **metadata)` callback:
`factory` is a callable or a `"module:attr"` string (imported only when the entry is built, so that
listing plugins stays cheap); `metadata` may carry `description` and anything else to show.
"""

from __future__ import annotations

from typing import Callable

import pluggy

PROJECT = "llmgym"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@hookspec
def llmgym_register_envs(register: Register) -> None:
    """Register environments: `register("math", "pkg.mod:MathEnv", description="...")`.

    The factory is called with the env's keyword options (`level`, ...) and returns a `TextEnv`.
    """


@hookspec
def llmgym_register_rewards(register: Register) -> None:
    """Register rewards: the factory returns an object with `name`, `score` and `score_batch`."""


@hookspec
def llmgym_register_policies(register: Register) -> None:
    """Register policies: the factory returns an object with `name` and `generate`."""


@hookspec
def llmgym_register_algorithms(register: Register) -> None:
    """Register training algorithms: `register("grpo", "pkg.mod:GRPO", description="...")`.

    The factory is called with no arguments and returns an `llmgym.train.algorithm.Algorithm`: what it
    declares (`min_generations`, `trains_mixtures`, ...) is checked before any work, and
    `fit(ctx: RunContext) -> FitResult` trains; `llmgym train --algo NAME` selects it.
    """


@hookspec
def llmgym_register_tools(register: Register) -> None:
    """Register tools for tool envs: `register("python", "pkg.mod:python_tool", description="...")`.

    The factory is called with the tool's keyword options (none for `tools=["python"]`) and returns a
    `llmgym.Tool`; `llmgym.make(env, tools=[name, ...])` wraps the env in a `ToolEnv` with them.
    """


