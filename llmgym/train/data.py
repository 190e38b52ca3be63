"""An env as TRL wants it: a dataset of chat prompts with the task in a column, and reward
functions with TRL's keyword signature `(prompts, completions, **columns) -> list[float]`.

Each rubric entry becomes its own TRL reward function with the rubric's weight, so TRL's weighted
sum equals the rubric's value and TRL logs every component (`rewards/correct/mean`, ...).
Weight-0 entries (metrics) are passed with weight 0: logged, never optimised.

For a `ToolEnv` (trained through `tool_env.environment_factory`) a completion is the whole episode:
assistant turns with tool calls, tool results, and a final assistant message. As in `ToolEnv.step`,
the rubric scores that final message, and an episode that ends on a tool call scores 0.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from llmgym.env import TextEnv, ToolEnv, parse_tool_call
from llmgym.rubric import score_batch_guarded
from llmgym.types import Task

TASK_COLUMN = "task"


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or the last assistant message of chat messages (in a
    tool episode the earlier ones were tool calls)."""
    if isinstance(completion, str):
        return completion
    parts = [m.get("content") or "" for m in completion if m.get("role") == "assistant"]
    return str(parts[-1]) if parts else "".join(str(m.get("content") or "") for m in completion)


def ends_in_tool_call(completion: Any) -> bool:
    """Whether a tool episode stopped on a tool call (turn or length limit) instead of an answer:
    `ToolEnv` scores that 0. A malformed call, which TRL leaves as text, counts as a call too."""
    if isinstance(completion, str):
        return parse_tool_call(completion) is not None
    last = ([m for m in completion if m.get("role") == "assistant"] or [{}])[-1]
    return bool(last.get("tool_calls")) or parse_tool_call(str(last.get("content") or "")) is not None


def task_rows(env: TextEnv, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` train-split tasks as rows `{"prompt": messages, "task": json}`."""
    return [{"prompt": t.messages(env.system_prompt), TASK_COLUMN: json.dumps(t.to_dict())}
            for t in env.tasks("train", n=n, seed=seed)]


def prompt_dataset(env: TextEnv, n: int, seed: int) -> Any:
    """A `datasets.Dataset` of train prompts for GRPO/RLOO (TRL repeats rows as steps need)."""
    from datasets import Dataset

    rows = task_rows(env, n, seed)
    if not rows:
        from llmgym.errors import LLMGymError

        raise LLMGymError(f"env {env.name} gave no train tasks")
    return Dataset.from_list(rows)


def reference_dataset(env: TextEnv, n: int, seed: int) -> Any:
    """Prompt-completion rows from the env's reference solutions (for `sft`); tasks without one are skipped."""
    from datasets import Dataset

    from llmgym.errors import LLMGymError

    rows = []
    for task in env.tasks("train", n=n, seed=seed):
        ref = env.reference(task)
        if ref:
            rows.append({"prompt": task.messages(env.system_prompt),
                         "completion": [{"role": "assistant", "content": ref}]})
    if not rows:
        raise LLMGymError(f"env {env.name} has no reference solutions (task.meta['solution']); "
                          "sft needs them: use --algo grpo, rloo or bon")
    return Dataset.from_list(rows)


def decode_tasks(column: Sequence[str]) -> list[Task]:
    return [Task.from_dict(json.loads(s)) for s in column]


def reward_functions(env: TextEnv, on_scores: Callable[..., None] | None = None
                     ) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """One TRL reward function per rubric entry, and their weights.

    TRL calls them one after another on the same batch; the first scores every entry once and the
    others read their column from that, so an expensive reward (a sandbox) runs once per batch.
    `on_scores(prompts, texts, tasks, components, trainer_state)` is called once per batch with every
    component's values, so the run can log samples.
    """
    entries = list(env.rubric.entries)
    batch: dict[str, Any] = {}

    def score_all(prompts: list, completions: list, columns: dict[str, Any]) -> dict[str, list[float]]:
        texts = [completion_text(c) for c in completions]
        unanswered = [isinstance(env, ToolEnv) and ends_in_tool_call(c) for c in completions]
        key = (tuple(texts), tuple(unanswered), tuple(columns[TASK_COLUMN]))
        if batch.get("key") != key:
            tasks = decode_tasks(columns[TASK_COLUMN])
            components = {r.name: [0.0 if u else s.value for s, u in zip(score_batch_guarded(r, texts, tasks), unanswered)]
                          for r, _ in entries}
            batch.update(key=key, components=components)
            if on_scores is not None:
                on_scores(prompts, texts, tasks, components, columns.get("trainer_state"))
        return batch["components"]

    funcs = []
    for reward, _ in entries:
        def fn(prompts: list, completions: list, _name: str = reward.name, **columns: Any) -> list[float]:
            return score_all(prompts, completions, columns)[_name]

        fn.__name__ = reward.name  # TRL logs rewards/<__name__>/mean
        funcs.append(fn)
    return funcs, [float(w) for _, w in entries]
