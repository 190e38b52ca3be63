"""`llmgym.rollout`: batched single-turn episodes and the multi-turn tool loop."""

from __future__ import annotations

from llmgym.env import SingleTurnEnv, Tool, ToolEnv
from llmgym.rollout import rollout, summarize
from llmgym.rubric import FunctionReward, Rubric
from llmgym.types import Completion, SamplingParams, Task


class Say(SingleTurnEnv):
    name = "say"

    def generate_task(self, rng):
        n = rng.randint(0, 999)
        return Task(f"say {n}", str(n))

    def default_rubric(self):
        return Rubric([(FunctionReward("correct", lambda c, t: float(c.strip() == t.answer)), 1.0)])


class Scripted:
    """A policy that answers from a function of the conversation and records every call."""

    name = "scripted"

    def __init__(self, answer):
        self.answer = answer
        self.calls: list[list[list[dict]]] = []

    def generate(self, prompts, n=1, params=None):
        self.calls.append([list(p) for p in prompts])
        return [[Completion(self.answer(p), prompt_tokens=3, completion_tokens=2, seconds=0.5)
                 for _ in range(n)] for p in prompts]


def test_single_turn_episodes_come_task_major_from_one_generate_call_per_batch():
    env = Say()
    tasks = list(env.tasks("eval", n=5))
    policy = Scripted(lambda p: p[-1]["content"].split()[-1] if "7" not in p[-1]["content"] else "no")
    eps = rollout(env, policy, tasks, n=3, batch_size=64)
    assert len(policy.calls) == 1 and len(policy.calls[0]) == 15
    assert [e.task.id for e in eps] == [t.id for t in tasks for _ in range(3)]
    assert [e.info["sample"] for e in eps[:3]] == [0, 1, 2]
    expected = [0.0 if "7" in t.text else 1.0 for t in tasks for _ in range(3)]
    assert [e.reward for e in eps] == expected
    assert all(e.info["completion_tokens"] == 2 and e.info["prompt_tokens"] == 3 for e in eps)
    assert all(e.terminated and len(e.turns) == 1 for e in eps)
    s = summarize(eps)
    assert s["accuracy"] == sum(expected) / len(expected) and s["length"] == 2 and s["n"] == 15


def test_batch_size_splits_generate_calls():
    env = Say()
    policy = Scripted(lambda p: "0")
    rollout(env, policy, list(env.tasks("train", n=10)), n=1, batch_size=4)
    assert [len(c) for c in policy.calls] == [4, 4, 2]


def test_tool_episodes_loop_until_a_final_answer_and_show_the_tool_output():
    calc = Tool("add1", "adds one", lambda args: str(int(args["x"]) + 1),
                {"type": "object", "properties": {"x": {"type": "integer"}}})
    env = ToolEnv(Say(), [calc], max_turns=3)
    tasks = list(env.tasks("eval", n=2))

    def answer(messages):
        if messages[-1]["role"] == "tool":
            return str(int(messages[-1]["content"]) - 1)  # undo the +1: the task's number
        n = messages[-1]["content"].split()[-1]
        return f'<tool_call>{{"name": "add1", "arguments": {{"x": {n}}}}}</tool_call>'

    policy = Scripted(answer)
    eps = rollout(env, policy, tasks, params=SamplingParams(max_tokens=8))
    assert len(policy.calls) == 2  # both episodes' second turns went out in one batch
    second = policy.calls[1][0]
    assert [m["role"] for m in second][-2:] == ["assistant", "tool"]
    assert all(e.reward == 1.0 and len(e.turns) == 2 and e.info["tool_calls"] == 1 for e in eps)
    assert all(e.info["completion_tokens"] == 4 for e in eps)  # both turns counted


def test_tool_episode_that_never_answers_is_truncated_at_the_turn_limit():
    calc = Tool("noop", "does nothing", lambda args: "ok")
    env = ToolEnv(Say(), [calc], max_turns=2)
    policy = Scripted(lambda p: '<tool_call>{"name": "noop", "arguments": {}}</tool_call>')
    (ep,) = rollout(env, policy, list(env.tasks("eval", n=1)))
    assert ep.truncated and not ep.terminated and ep.reward == 0.0 and ep.score.reason == "turn_limit"
    assert len(ep.turns) == 2
