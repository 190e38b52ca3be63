"""An env as TRL wants it: a dataset of chat prompts with the task in a column, and reward
functions with TRL's keyword signature `(prompts, completions, **columns) -> list[float]`.

Each rubric entry becomes its own TRL reward function with the rubric's weight, so TRL's weighted
sum equals the rubric's value and TRL logs every component (`rewards/correct/mean`, ...).
Weight-0 entries (metrics) are passed with weight 0: logged, never optimised.

For a `ToolEnv` (trained through `tool_env.environment_factory`) a completion is the whole episode:
assistant turns with tool calls, tool results, and a final assistant message. As in `ToolEnv.step`,
the rubric scores that final message, and an episode that ends on a tool call scores 0 (both in
`llmgym.scoring`, the one path every score of a batch takes). Components an entry reports below its
own (`ENTRY/SUB`) reach the step's metrics as `rewards/ENTRY/SUB`, averaged over the completions.

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

from llmgym.env import TextEnv
from llmgym.mixture import Mixture
# completion_text and ends_in_tool_call are importable from here, where they used to live.
from llmgym.scoring import completion_text, component_columns, ends_in_tool_call, score_episodes  # noqa: F401
from llmgym.scoring import sub_components
from llmgym.types import Score, Task

TASK_COLUMN = "task"
ENV_COLUMN = "env"  # a mixture's rows: the label of the env that scores the row


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

    TRL calls them one after another on the same batch; the first scores the batch once through
    `llmgym.scoring.score_episodes` (the env's `rubric.score_batch`, and a tool episode that ended on a
    call scores 0) and the others read their column from that, so an expensive reward (a sandbox) runs
    once per batch. `on_scores(prompts, texts, tasks, components, trainer_state, scores=[Score, ...])`
    is called once per batch with every component's values and the rubric's scores, so the run can log
    samples. For a mixture it is called once per env present
    in the batch, with that env's rows and components and the keyword `env=label`.
    """
    if isinstance(env, Mixture):
        return _mixture_reward_functions(env, on_scores)
    entries = list(env.rubric.entries)
    batch: dict[str, Any] = {}

    def score_all(prompts: list, completions: list, columns: dict[str, Any]) -> dict[str, list[float]]:
        key = (tuple(map(repr, completions)), tuple(columns[TASK_COLUMN]))
        if batch.get("key") != key:
            tasks = decode_tasks(columns[TASK_COLUMN])
            texts, scores = score_episodes(env, completions, tasks)
            batch.update(key=key, components=component_columns(env.rubric, scores))
            _log_figures(columns.get("log_metric"), None, env.rubric, list(columns[TASK_COLUMN]), scores)
            if on_scores is not None:
                on_scores(prompts, texts, tasks, batch["components"], columns.get("trainer_state"), scores=scores)
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
        labels, encoded = list(columns[ENV_COLUMN]), list(columns[TASK_COLUMN])
        key = (tuple(map(repr, completions)), tuple(encoded), tuple(labels))
        if batch.get("key") != key:
            tasks = decode_tasks(encoded)
            values: dict[str, list[float | None]] = {name: [None] * len(completions) for name in slots}
            for label in dict.fromkeys(labels):
                share = shares[label]
                rows = [i for i, row_label in enumerate(labels) if row_label == label]
                sub_tasks = [tasks[i] for i in rows]
                sub_texts, scores = score_episodes(share.env, [completions[i] for i in rows], sub_tasks)
                components = component_columns(share.env.rubric, scores)
                for name, (_, reads) in slots.items():
                    if label in reads:
                        for j, i in enumerate(rows):
                            values[name][i] = components[reads[label]][j]
                _log_figures(columns.get("log_metric"), label, share.env.rubric, [encoded[i] for i in rows], scores)
                if on_scores is not None:
                    on_scores([prompts[i] for i in rows], sub_texts, sub_tasks, components,
                              columns.get("trainer_state"), env=label, scores=scores)
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


def _log_figures(log_metric: Any, label: str | None, rubric: Any, encoded_tasks: list[str],
                 scores: Sequence[Score]) -> None:
    """Through TRL's `log_metric` (absent when the functions are called outside a trainer): the
    components an entry reports below its own, `rewards/ENTRY/SUB` (one value per completion that has
    it); for an env of a mixture, `env/<label>/reward` per completion and `env/<label>/frac_reward_zero_std`
    per group."""
    if not callable(log_metric):
        return
    for name, values in sub_components(rubric, scores).items():
        for value in values:
            log_metric(f"rewards/{name}" if label is None else f"env/{label}/rewards/{name}", value)
    if label is None:
        return
    groups: dict[str, list[float]] = {}
    for task, score in zip(encoded_tasks, scores):
        groups.setdefault(task, []).append(score.value)
        log_metric(f"env/{label}/reward", score.value)
    for group in groups.values():
        log_metric(f"env/{label}/frac_reward_zero_std", float(max(group) == min(group)))
