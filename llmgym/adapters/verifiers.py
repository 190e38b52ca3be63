"""Any llmgym env as a verifiers Environment: `load_environment`, the entry point verifiers loads.

    import verifiers as vf
    env = vf.load_environment("llmgym.adapters.verifiers", env="math:level=2", num_eval_examples=50)
    results = env.evaluate_sync(client=vf.ClientConfig(api_base_url="http://127.0.0.1:8000/v1"), model="m")

    vf-eval llmgym.adapters.verifiers -a '{"env": "math"}' -b http://127.0.0.1:8000/v1 -m m

This is verifiers' Environment API (`vf.SingleTurnEnv`, `vf.MultiTurnEnv`, `vf.Rubric`), which verifiers
0.1-0.2 ship; 0.3 replaced it with tasksets run by harnesses that install `uv` scripts over the
network (for those, point verifiers' `openenv` taskset at `llmgym serve`'s OpenEnv endpoint).

The dataset is the env's train split (and eval split for evaluation) with the task's JSON in `info`;
the rubric has one function per rubric entry with the entry's weight, so verifiers reports every
component and weight-0 entries stay metrics. The env's rubric scores each rollout once (in a thread,
so sandboxed code does not block verifiers' event loop); the other entries read that score. A tool
env (`env="counting:tools=['python']"`) is a `vf.MultiTurnEnv`: each assistant turn with a
`<tool_call>` runs the tool through llmgym's ToolEnv, whose output comes back as the next user
message (verifiers' tool role needs native tool-call ids), and the first turn without one is the
final answer; an episode that ends on a tool call scores 0, as in `llmgym.rollout`.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from llmgym.env import ToolEnv, parse_tool_call
from llmgym.scoring import message_role, message_text, score_episodes
from llmgym.types import Task

from . import env_of

SCORE_KEY = "llmgym_score"
EPISODE_KEY = "llmgym_episode"


def load_environment(env: Any = "math", num_train_examples: int = 1000, num_eval_examples: int = 100,
                     seed: int = 0, **kwargs: Any) -> Any:
    """A verifiers Environment for the llmgym env `env` (an env object or a spec such as `"math:level=2"`)."""
    import verifiers as vf
    from datasets import Dataset

    llm_env = env_of(env)
    train = Dataset.from_list(_rows(llm_env, "train", num_train_examples, seed))
    evaluation = Dataset.from_list(_rows(llm_env, "eval", num_eval_examples, seed))
    rubric = vf.Rubric(funcs=_reward_functions(llm_env), weights=[w for _, w in llm_env.rubric.entries])
    if isinstance(llm_env, ToolEnv):
        return _tool_env_class(vf)(llm_env, dataset=train, eval_dataset=evaluation, rubric=rubric,
                                   max_turns=llm_env.max_turns, **kwargs)
    return vf.SingleTurnEnv(dataset=train, eval_dataset=evaluation, rubric=rubric, **kwargs)


def _rows(env: Any, split: str, n: int, seed: int) -> list[dict[str, Any]]:
    return [{"prompt": t.messages(env.system_prompt), "answer": json.dumps(t.answer, ensure_ascii=False),
             "info": json.dumps({"llmgym_task": t.to_dict()}, ensure_ascii=False)}
            for t in env.tasks(split, n=n, seed=seed)]


def _reward_functions(env: Any) -> list[Any]:
    async def score_of(completion: Any, info: Any, state: Any) -> Any:
        if SCORE_KEY not in state:
            info = json.loads(info) if isinstance(info, str) else info
            task = Task.from_dict(info["llmgym_task"])
            _, (score,) = await asyncio.to_thread(score_episodes, env, [completion], [task])
            state[SCORE_KEY] = score
        return state[SCORE_KEY]

    funcs = []
    for reward, _ in env.rubric.entries:
        async def fn(completion: Any, info: Any, state: Any, _name: str = reward.name, **_: Any) -> float:
            score = await score_of(completion, info, state)
            return float(score.components.get(_name, 0.0))

        fn.__name__ = reward.name  # verifiers reports each function's value under its name
        funcs.append(fn)
    return funcs


def _tool_env_class(vf: Any) -> type:
    class LLMGymToolEnv(vf.MultiTurnEnv):
        """A llmgym ToolEnv played through verifiers' multi-turn loop."""

        def __init__(self, tool_env: ToolEnv, **kwargs: Any):
            super().__init__(**kwargs)
            self.tool_env = tool_env

        async def setup_state(self, state: Any) -> Any:
            episode = copy.copy(self.tool_env)
            info = state["info"]
            info = json.loads(info) if isinstance(info, str) else info
            await asyncio.to_thread(episode.reset, options={"task": info["llmgym_task"]})
            state[EPISODE_KEY] = episode
            return state

        @vf.stop
        async def answered(self, state: Any) -> bool:
            trajectory = state.get("trajectory") or []
            if not trajectory:
                return False
            last = [m for m in trajectory[-1]["completion"] if message_role(m) == "assistant"]
            return bool(last) and parse_tool_call(message_text(last[-1])) is None

        async def env_response(self, messages: Any, state: Any, **kwargs: Any) -> Any:
            episode = state[EPISODE_KEY]
            action = message_text([m for m in messages if message_role(m) == "assistant"][-1])
            observation, _, _, truncated, _ = await asyncio.to_thread(episode.step, action)
            if truncated:  # the ToolEnv's turn limit: its answer is final
                state["final_env_response"] = [vf.UserMessage(content=observation)]
            return [vf.UserMessage(content=observation)]

    return LLMGymToolEnv
