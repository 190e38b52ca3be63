"""llmgym: a plugin-based gym of reinforcement-learning environments for language models.

    >>> import llmgym
    >>> env = llmgym.make("math", level=1)          # doctest: +SKIP
    >>> prompt, info = env.reset(seed=0)             # doctest: +SKIP

Importing llmgym imports no torch, transformers or trl: those load where they are used.
"""

from __future__ import annotations

from typing import Any

from .check import check_env
from .env import SingleTurnEnv, TextEnv, Tool, ToolEnv
from .errors import EnvCheckError, LLMGymError, PluginError, UnknownNameError
from .hookspecs import hookimpl
from .plugins import Gym, default_gym
from .rubric import BaseReward, FunctionReward, Rubric
from .types import Completion, Episode, Message, SamplingParams, Score, Task, Turn

__version__ = "0.1.0"

__all__ = [
    "BaseReward", "Completion", "EnvCheckError", "Episode", "FunctionReward", "Gym", "LLMGymError",
    "Message", "PluginError", "Rubric", "SamplingParams", "Score", "SingleTurnEnv", "Task", "TextEnv",
    "Tool", "ToolEnv", "Turn", "UnknownNameError", "check_env", "default_gym", "environment_factory", "hookimpl",
    "make", "make_policy", "make_reward", "prompt_dataset", "reward_functions",
]


# TRL adapters (`llmgym.adapters.trl`), loaded on first use so that `import llmgym` stays light.
_LAZY = {"reward_functions": "llmgym.adapters.trl", "prompt_dataset": "llmgym.adapters.trl",
         "environment_factory": "llmgym.adapters.trl"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'llmgym' has no attribute {name!r}")


def make(name: str, **kwargs: Any) -> TextEnv:
    """Build a registered env: `make("math", level=3)`, `make("math:level=3")`, `tools=["python"]`."""
    return default_gym().make_env(name, **kwargs)


def make_reward(name: str, **kwargs: Any) -> Any:
    return default_gym().make_reward(name, **kwargs)


def make_policy(name: str, **kwargs: Any) -> Any:
    return default_gym().make_policy(name, **kwargs)
