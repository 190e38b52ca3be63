"""One scoring path (`llmgym.scoring`): a tool episode scores alike whether `ToolEnv.step`, the
TRL reward functions of `llmgym train` or the verifiers adapter scores it; sub-components reach the
trainer's metrics; samples carry the rubric's own value."""

from __future__ import annotations

import asyncio
import json

import llmgym
from llmgym.adapters.verifiers import _reward_functions as verifiers_functions
from llmgym.rubric import FunctionReward, Rubric
from llmgym.scoring import UNANSWERED, score_episodes
from llmgym.train.data import reward_functions, task_rows
from llmgym.types import Score


def episodes(answer):
    call = {"type": "function", "function": {"name": "python", "arguments": {"code": "print(1)"}}}
    steps = [{"role": "assistant", "content": "let me check", "tool_calls": [call]},
             {"role": "tool", "name": "python", "content": "status: ok"}]
    return {"answered": [*steps, {"role": "assistant", "content": f"\\boxed{{{answer}}}"}],
            "wrong": [*steps, {"role": "assistant", "content": "\\boxed{-1}"}],
            "cut off": [*steps, {"role": "assistant", "content": f"\\boxed{{{answer}}}", "tool_calls": [call]}],
            "malformed call": [*steps, {"role": "assistant", "content": f"\\boxed{{{answer}}} <tool_call>{{"}]}


def test_a_tool_episode_scores_the_same_through_every_path():
    env = llmgym.make("counting", tools=["python"], max_turns=1)
    row = task_rows(env, 1, seed=0)[0]
    task = llmgym.Task.from_dict(json.loads(row["task"]))
    cases = episodes(task.answer)
    texts, scores = score_episodes(env, list(cases.values()), [task] * len(cases))
    by_case = dict(zip(cases, scores))
    assert by_case["answered"].value > by_case["wrong"].value
    assert [by_case[k].reason for k in ("cut off", "malformed call")] == [UNANSWERED] * 2
    assert all(by_case[k].value == 0.0 for k in ("cut off", "malformed call"))

    funcs, weights = reward_functions(env)
    columns = [fn(prompts=[row["prompt"]] * len(cases), completions=list(cases.values()),
                  task=[row["task"]] * len(cases)) for fn in funcs]
    trl_values = [sum(w * col[i] for w, col in zip(weights, columns)) for i in range(len(cases))]
    assert trl_values == [s.value for s in scores]

    vf_funcs = verifiers_functions(env)
    info = json.dumps({"llmgym_task": task.to_dict()})
    for (name, completion), score in zip(cases.items(), scores):
        state: dict = {}
        got = [asyncio.run(fn(completion, info, state)) for fn in vf_funcs]
        assert got == [score.components[r.name] for r, _ in env.rubric.entries], name

    # The env's own loop: an answer ends the episode with the rubric's value; a call on the last
    # allowed turn ends it with the same zero score.
    env.reset(options={"task": task})
    assert env.step("\\boxed{%s}" % task.answer)[1] == by_case["answered"].value
    env.reset(options={"task": task})
    _, reward, _, truncated, info = env.step('<tool_call>{"name": "python", "arguments": {"code": "1"}}</tool_call>')
    assert (reward, truncated, info["reason"]) == (0.0, True, UNANSWERED)


def test_sub_components_reach_the_trainers_metrics_and_samples_get_the_rubrics_value():
    def graded(completion, task):
        return Score(0.5 if completion.strip() else 0.0, {"graded": 0.5, "parsed": float(bool(completion.strip()))})

    rubric = Rubric([(FunctionReward("correct", graded), 1.0), (FunctionReward("short", lambda c, t: 1.0), 0.25)])
    env = llmgym.make("counting", rubric=rubric)
    row = task_rows(env, 1, seed=0)[0]
    logged, seen = [], []
    funcs, weights = reward_functions(env, on_scores=lambda *a, scores: seen.append(scores))
    for fn in funcs:
        fn(prompts=[row["prompt"]] * 2, completions=["4", " "], task=[row["task"]] * 2,
           log_metric=lambda name, value: logged.append((name, value)))
    assert len(seen) == 1, "the batch is scored once for all reward functions"
    assert [s.value for s in seen[0]] == [0.75, 0.25]
    assert sorted(logged) == [("rewards/correct/graded", 0.5), ("rewards/correct/graded", 0.5),
                              ("rewards/correct/parsed", 0.0), ("rewards/correct/parsed", 1.0)]
