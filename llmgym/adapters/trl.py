"""Any llmgym env for TRL used directly (your own `GRPOTrainer`, under DeepSpeed or FSDP, with vLLM):

    import llmgym
    from trl import GRPOConfig, GRPOTrainer

    env = llmgym.make("math", level=2)
    funcs, weights = llmgym.reward_functions(env)
    trainer = GRPOTrainer(model=..., reward_funcs=funcs, train_dataset=llmgym.prompt_dataset(env, n=2000),
                          args=GRPOConfig(reward_weights=weights, ...))

    # a tool env: TRL runs the tools, llmgym scores the final answer
    env = llmgym.make("counting", tools=["python"])
    funcs, weights = llmgym.reward_functions(env)
    trainer = GRPOTrainer(..., environment_factory=llmgym.environment_factory(env), ...)

These are the functions `llmgym train` itself hands TRL (`llmgym.train.data`, `llmgym.train.tool_env`):
one reward function per rubric entry with the rubric's weight, so TRL logs every component and its
weighted sum is the rubric's value; the task travels in the dataset's `task` column. With
`server_url=` the rewards are scored by `llmgym serve` replicas instead (for trainer processes on GPU
machines whose sandboxes live elsewhere); sandboxed code otherwise runs in each trainer process.
Nothing here imports torch or TRL: TRL calls these functions, they never call TRL.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from llmgym.types import Score

from . import env_of


def reward_functions(env: Any, *, server_url: str | Sequence[str] | None = None,
                     served_name: str | None = None) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """TRL reward functions for `env` (an env or a spec such as `"math:level=2"`) and their weights."""
    from llmgym.train.data import reward_functions as in_process

    env = env_of(env)
    if server_url is None:
        return in_process(env)
    return _served_reward_functions(env, server_url, served_name or env.name)


def prompt_dataset(env: Any, n: int = 1000, seed: int = 0) -> Any:
    """A `datasets.Dataset` of `n` train-split prompts (chat messages) with their tasks in a `task` column."""
    from llmgym.train.data import prompt_dataset as build

    return build(env_of(env), n, seed)


def environment_factory(env: Any) -> Callable[[], Any]:
    """TRL's `environment_factory` for a tool env (`llmgym.make(name, tools=[...])`): one slot per rollout."""
    from llmgym.env import ToolEnv
    from llmgym.errors import LLMGymError
    from llmgym.train.tool_env import environment_factory as build

    env = env_of(env)
    if not isinstance(env, ToolEnv):
        raise LLMGymError(f"env {env.name!r} has no tools: build it with tools, e.g. "
                          f"llmgym.make({env.name!r}, tools=['python'])")
    return build(env)


def _served_reward_functions(env: Any, server_url: str | Sequence[str], name: str
                             ) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """`llmgym.train.data.reward_functions` of a copy of `env` whose rubric entries read their values
    from one `llmgym serve` scoring call per batch (shared by the entries)."""
    import copy

    from llmgym.rubric import Rubric
    from llmgym.serve.client import ServeClient
    from llmgym.train.data import reward_functions as in_process

    client = ServeClient(server_url)
    last: dict[str, Any] = {}

    def component(completions: Sequence[str], tasks: Sequence[Any], reward_name: str) -> list[Score]:
        key = (tuple(completions), tuple(t.id for t in tasks))
        if last.get("key") != key:
            last.update(key=key, results=client.score(name, list(completions), list(tasks)))
        return [Score(r["components"].get(reward_name, 0.0), reason=r["reason"], answer=r["answer"])
                for r in last["results"]]

    served = copy.copy(env)
    served.rubric = Rubric([(_ServedReward(r.name, getattr(r, "value_range", (0.0, 1.0)), component), w)
                            for r, w in env.rubric.entries])
    return in_process(served)


class _ServedReward:
    """One rubric entry whose values come from the server's answer for the whole rubric."""

    def __init__(self, name: str, value_range: tuple[float, float], component: Callable[..., list[Score]]):
        self.name, self.value_range, self._component = name, value_range, component

    def score(self, completion: str, task: Any) -> Score:
        return self.score_batch([completion], [task])[0]

    def score_batch(self, completions: Sequence[str], tasks: Sequence[Any]) -> list[Score]:
        return self._component(completions, tasks, self.name)
