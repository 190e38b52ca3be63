"""Running episodes of an env with a policy: THE one place that does it (training's held-out
evaluation and `llmgym bench` both come here).

Episodes run in lock-step batches: every live episode's conversation goes to the policy in one
`generate` call, each answer is stepped through its own env copy, and episodes that are not done
(a `ToolEnv` answered a tool call) get the assistant and tool messages appended and go round again.
Single-turn envs finish in one round, so a batch of 64 prompts is one `generate` call.

>>> import random
>>> from llmgym.env import SingleTurnEnv
>>> from llmgym.rubric import FunctionReward, Rubric
>>> from llmgym.types import Completion, Task
>>> class Echo(SingleTurnEnv):
...     name = "echo"
...     def generate_task(self, rng):
...         n = rng.randint(0, 9)
...         return Task(f"say {n}", str(n))
...     def default_rubric(self):
...         return Rubric([(FunctionReward("correct", lambda c, t: float(c == t.answer)), 1.0)])
>>> class Parrot:
...     name = "parrot"
...     def generate(self, prompts, n=1, params=None):
...         return [[Completion(p[-1]["content"].split()[-1], completion_tokens=1)] * n for p in prompts]
>>> eps = rollout(Echo(), Parrot(), list(Echo().tasks("eval", n=3)))
>>> [e.reward for e in eps]
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

from .env import TextEnv
from .types import Episode, SamplingParams, Score, Task, Turn


@dataclass
class _EpisodeInProgress:
    env: TextEnv
    task: Task
    sample: int
    messages: list[dict[str, str]]
    turns: list[Turn]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


def rollout(env: TextEnv, policy: Any, tasks: Sequence[Task], *, n: int = 1,
            params: SamplingParams | None = None, batch_size: int = 64) -> list[Episode]:
    """Run `n` episodes per task; returns them task-major (all samples of task 0 first).

    Each episode's `info` carries `sample` (0..n-1), `prompt_tokens`, `completion_tokens`,
    `seconds` (its share of generation time) and `turns`; the env's final info is merged in.
    """
    params = params or SamplingParams()
    calls = 0  # `generate` calls so far: each batch samples from its own seed (`batch_seed`)
    live: list[_EpisodeInProgress] = []
    for task in tasks:
        for k in range(n):
            e = _fresh(env)
            _, info = e.reset(options={"task": task})
            live.append(_EpisodeInProgress(e, task, k, list(info["messages"]), []))
    done: dict[int, Episode] = {}
    pending = list(range(len(live)))
    while pending:
        for start in range(0, len(pending), batch_size):
            chunk = pending[start:start + batch_size]
            t0 = time.perf_counter()
            seeded = params if params.seed is None else replace(params, seed=batch_seed(params.seed, calls))
            calls += 1
            outs = policy.generate([live[i].messages for i in chunk], 1, seeded)
            elapsed = time.perf_counter() - t0
            for i, out in zip(chunk, outs):
                ep, c = live[i], out[0]
                ep.prompt_tokens += c.prompt_tokens
                ep.completion_tokens += c.completion_tokens
                ep.seconds += c.seconds or elapsed / len(chunk)
                obs, reward, terminated, truncated, info = ep.env.step(c.text)
                ep.turns.append(Turn(c.text, obs or None, float(reward), _without_messages(info)))
                ep.messages.append({"role": "assistant", "content": c.text})
                if terminated or truncated:
                    done[i] = _finish(ep, info, reward, terminated, truncated)
                else:
                    ep.messages.append({"role": "tool", "content": obs})
        pending = [i for i in pending if i not in done]
    return [done[i] for i in range(len(live))]


def batch_seed(seed: int, call: int) -> int:
    """The seed of the `call`-th `generate` call of a rollout seeded with `seed`.

    A policy seeds its sampler at each call, so passing the rollout's seed to every batch would give
    every batch the same random numbers (two batches of one prompt: the same answers). Each call gets
    its own seed, drawn from the rollout's: one seed still fixes the whole rollout.

    >>> batch_seed(0, 0) == batch_seed(0, 0), batch_seed(0, 0) == batch_seed(0, 1)
    (True, False)
    """
    return random.Random(f"rollout:{seed}:{call}").getrandbits(63)


def _fresh(env: TextEnv) -> TextEnv:
    # Each episode needs its own env state (task, turn count, messages); a shallow copy shares the
    # rubric and tools, which are stateless, and costs nothing.
    return copy.copy(env)


def _without_messages(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k != "messages"}


def _finish(ep: _EpisodeInProgress, info: dict[str, Any], reward: float, terminated: bool,
            truncated: bool) -> Episode:
    score = Score(float(reward), info.get("reward_components", {}), info.get("reason"), info.get("answer"))
    extra = {**_without_messages(info), "sample": ep.sample, "prompt_tokens": ep.prompt_tokens,
             "completion_tokens": ep.completion_tokens, "seconds": ep.seconds, "turns": len(ep.turns)}
    return Episode(ep.task, tuple(ep.turns), score, terminated, truncated, extra)


def summarize(episodes: Sequence[Episode], success: str | None = None, solved_at: float = 1.0) -> dict[str, float]:
    """Accuracy (the component `success` names at or above `solved_at`, else reward >= 1), mean reward
    and mean completion tokens. `success` names the env's success entry, `component_with_role(env.rubric,
    SUCCESS)`, and `solved_at` its threshold, `solved_at(env.rubric)` (`llmgym.rubric.is_solved`)."""
    from .rubric import is_solved

    if not episodes:
        return {"accuracy": 0.0, "reward": 0.0, "length": 0.0, "n": 0}
    k = len(episodes)
    return {"accuracy": sum(is_solved(e.score.components, e.reward, success, solved_at) for e in episodes) / k,
            "reward": sum(e.reward for e in episodes) / k,
            "length": sum(e.info.get("completion_tokens", 0) for e in episodes) / k,
            "n": k}
