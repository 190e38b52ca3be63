"""An env as TRL wants it: a dataset of chat prompts with the task in a column, and reward
functions with TRL's keyword signature `(prompts, completions, **columns) -> list[float]`.

Each rubric entry becomes its own TRL reward function with the rubric's weight, so TRL's weighted
sum equals the rubric's value and TRL logs every component (`rewards/correct/mean`, ...).
Weight-0 entries (metrics) are passed with weight 0: logged, never optimised.

For a `ToolEnv` (trained through `tool_env.environment_factory`) a completion is the whole episode:
assistant turns with tool calls, tool results, and a final assistant message. As in `ToolEnv.step`,
the rubric scores that final message, and an episode that ends on a tool call scores 0.

A `Mixture` (several envs, `llmgym.mixture`) works through the same three functions. Its rows carry
their env's label in the `env` column, with that env's system prompt, and each row is scored by its
own env's rubric. TRL takes one list of reward functions for the whole run, so there is one function
per component name across the envs (one per env where two envs weigh a name differently), and a
function returns None for rows whose env has no such component: TRL reads None as "not applicable"
(NaN, left out of its weighted `nansum` and of `rewards/<name>/mean`), so every row's reward is its
own env's rubric value. Per env, the reward functions also log through TRL's `log_metric`
`env/<label>/reward` (one value per completion) and `env/<label>/frac_reward_zero_std` (one per
group of completions of one task in the batch: 1 when they all scored alike, which gives GRPO no
signal). TRL averages them over the completions or groups of every process, so they land in the
step's metrics row.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from llmgym.env import TextEnv, ToolEnv, parse_tool_call
from llmgym.mixture import Mixture
from llmgym.rubric import score_batch_guarded
from llmgym.types import Task

TASK_COLUMN = "task"
ENV_COLUMN = "env"  # a mixture's rows: the label of the env that scores the row


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


def task_rows(env: TextEnv | Mixture, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` train-split tasks as rows `{"prompt": messages, "task": json}` (and `"env": label` for a
    mixture, whose rows are drawn from its envs by weight)."""
    if isinstance(env, Mixture):
        return [{"prompt": t.messages(share.env.system_prompt), TASK_COLUMN: json.dumps(t.to_dict()),
                 ENV_COLUMN: share.label} for share, t in env.draw(n, seed)]
    return [{"prompt": t.messages(env.system_prompt), TASK_COLUMN: json.dumps(t.to_dict())}
            for t in env.tasks("train", n=n, seed=seed)]


def prompt_dataset(env: TextEnv | Mixture, n: int, seed: int) -> Any:
    """A `datasets.Dataset` of train prompts for GRPO/RLOO (TRL repeats rows as steps need)."""
    from datasets import Dataset

    rows = task_rows(env, n, seed)
    if not rows:
        from llmgym.errors import LLMGymError

        raise LLMGymError(f"env {env.name} gave no train tasks")
    return Dataset.from_list(rows)


def curriculum_dataset(arms: Sequence[Any], n: int, seed: int) -> tuple[Any, dict[str, list[int]]]:
    """The prompt dataset of a curriculum (`llmgym.train.curriculum.Arm`s): `n` train tasks split
    evenly across the arms, in rows like `task_rows`' (an arm of a mixture fills the `env` column),
    and each arm's row indices."""
    from datasets import Dataset

    from llmgym.errors import LLMGymError

    from .curriculum import arm_tasks

    rows: list[dict[str, Any]] = []
    pools: dict[str, list[int]] = {}
    each = max(1, -(-n // len(arms)))
    for arm in arms:
        tasks = arm_tasks(arm, each, seed)
        if not tasks:
            raise LLMGymError(f"curriculum arm {arm.name} of {arm.env.name} gave no train tasks")
        pools[arm.name] = list(range(len(rows), len(rows) + len(tasks)))
        rows += [{"prompt": t.messages(arm.env.system_prompt), TASK_COLUMN: json.dumps(t.to_dict()),
                  **({ENV_COLUMN: arm.label} if arm.label is not None else {})} for t in tasks]
    return Dataset.from_list(rows), pools


def success_column(env: TextEnv | Mixture, funcs: Sequence[Callable[..., Any]], label: str | None = None) -> int | None:
    """The index in `funcs` (from `reward_functions(env)`) of the function that holds the success
    component (role `success`) of the env, or of the mixture's env `label`; None if it has none."""
    from llmgym.rubric import SUCCESS, component_with_role

    scorer = env if label is None or not isinstance(env, Mixture) else next(s.env for s in env if s.label == label)
    if isinstance(scorer, Mixture):
        scorer = scorer.shares[0].env
    name = component_with_role(scorer.rubric, SUCCESS)
    return next((i for i, fn in enumerate(funcs) if name is not None and getattr(fn, "reads", {}).get(label) == name),
                None)


def reference_dataset(env: TextEnv | Mixture, n: int, seed: int) -> Any:
    """Prompt-completion rows from the env's reference solutions (for `sft`); tasks without one are
    skipped. A mixture draws its tasks by weight, and each of its envs must have references."""
    from datasets import Dataset

    from llmgym.errors import LLMGymError

    pairs = env.draw(n, seed) if isinstance(env, Mixture) else [(None, t) for t in env.tasks("train", n=n, seed=seed)]
    rows, found = [], set()
    for share, task in pairs:
        source = env if share is None else share.env
        ref = source.reference(task)
        if ref:
            rows.append({"prompt": task.messages(source.system_prompt),
                         "completion": [{"role": "assistant", "content": ref}]})
            found.add(None if share is None else share.label)
    if isinstance(env, Mixture):
        missing = [s.label for s in env if s.label not in found]
        if missing:
            raise LLMGymError(f"env {missing[0]!r} of the mixture has no reference solutions "
                              "(task.meta['solution']); sft needs them from every env: use --algo grpo or rloo")
    if not rows:
        raise LLMGymError(f"env {env.name} has no reference solutions (task.meta['solution']); "
                          "sft needs them: use --algo grpo, rloo or bon")
    return Dataset.from_list(rows)


def decode_tasks(column: Sequence[str]) -> list[Task]:
    return [Task.from_dict(json.loads(s)) for s in column]


def reward_functions(env: TextEnv | Mixture, on_scores: Callable[..., None] | None = None
                     ) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """One TRL reward function per rubric entry, and their weights.

    TRL calls them one after another on the same batch; the first scores every entry once and the
    others read their column from that, so an expensive reward (a sandbox) runs once per batch.
    `on_scores(prompts, texts, tasks, components, trainer_state)` is called once per batch with every
    component's values, so the run can log samples. For a mixture it is called once per env present
    in the batch, with that env's rows and components and the keyword `env=label`.
    """
    if isinstance(env, Mixture):
        return _mixture_reward_functions(env, on_scores)
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
        fn.reads = {None: reward.name}  # type: ignore[attr-defined]  # the component it returns (success_column)
        funcs.append(fn)
    return funcs, [float(w) for _, w in entries]


def _mixture_reward_functions(mixture: Mixture, on_scores: Callable[..., None] | None
                              ) -> tuple[list[Callable[..., list[float | None]]], list[float]]:
    """The reward functions of a mixture (see the module docstring): one per component name, None
    where a row's env has no such component."""
    # function name -> (weight, {env label: the component it reads in that env's rubric})
    slots: dict[str, tuple[float, dict[str, str]]] = {}
    for share in mixture:
        for reward, weight in share.env.rubric.entries:
            name = reward.name
            if name in slots and slots[name][0] != weight:
                name = f"{reward.name}@{share.label}"  # TRL has one weight per function
            slots.setdefault(name, (float(weight), {}))[1][share.label] = reward.name
    shares = {share.label: share for share in mixture}
    batch: dict[str, Any] = {}

    def score_all(prompts: list, completions: list, columns: dict[str, Any]) -> dict[str, list[float | None]]:
        texts = [completion_text(c) for c in completions]
        labels, encoded = list(columns[ENV_COLUMN]), list(columns[TASK_COLUMN])
        key = (tuple(texts), tuple(encoded), tuple(labels))
        if batch.get("key") != key:
            tasks = decode_tasks(encoded)
            values: dict[str, list[float | None]] = {name: [None] * len(texts) for name in slots}
            for label in dict.fromkeys(labels):
                share = shares[label]
                rows = [i for i, row_label in enumerate(labels) if row_label == label]
                sub_texts, sub_tasks = [texts[i] for i in rows], [tasks[i] for i in rows]
                components = {r.name: [s.value for s in score_batch_guarded(r, sub_texts, sub_tasks)]
                              for r, _ in share.env.rubric.entries}
                for name, (_, reads) in slots.items():
                    if label in reads:
                        for j, i in enumerate(rows):
                            values[name][i] = components[reads[label]][j]
                _log_env_figures(columns.get("log_metric"), share, [encoded[i] for i in rows], components)
                if on_scores is not None:
                    on_scores([prompts[i] for i in rows], sub_texts, sub_tasks, components,
                              columns.get("trainer_state"), env=label)
            batch.update(key=key, values=values)
        return batch["values"]

    funcs = []
    for name in slots:
        def fn(prompts: list, completions: list, _name: str = name, **columns: Any) -> list[float | None]:
            return score_all(prompts, completions, columns)[_name]

        fn.__name__ = name  # TRL logs rewards/<__name__>/mean, over the rows it applies to
        fn.reads = dict(slots[name][1])  # type: ignore[attr-defined]  # env label -> component (success_column)
        funcs.append(fn)
    return funcs, [weight for weight, _ in slots.values()]


def _log_env_figures(log_metric: Any, share: Any, encoded_tasks: list[str], components: dict[str, list[float]]) -> None:
    """`env/<label>/reward` per completion and `env/<label>/frac_reward_zero_std` per group, through
    TRL's `log_metric` (absent when the functions are called outside a trainer)."""
    if not callable(log_metric):
        return
    weights = share.env.rubric.weights
    rewards = [sum(weights[name] * values[i] for name, values in components.items()) for i in range(len(encoded_tasks))]
    groups: dict[str, list[float]] = {}
    for task, reward in zip(encoded_tasks, rewards):
        groups.setdefault(task, []).append(reward)
        log_metric(f"env/{share.label}/reward", reward)
    for group in groups.values():
        log_metric(f"env/{share.label}/frac_reward_zero_std", float(max(group) == min(group)))
