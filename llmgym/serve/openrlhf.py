"""OpenRLHF's remote reward protocol: `POST /get_reward`, so `--reward.remote_url` (older releases:
`--remote_rm_url`) points an OpenRLHF run at llmgym's rewards unchanged.

What OpenRLHF sends (`openrlhf/utils/agent.py`, `SingleTurnAgentExecutor._fetch_rewards_via_http`;
older releases `openrlhf/utils/remote_rm_utils.py`) and what it reads (its own reward server,
`openrlhf/cli/serve_rm.py`, answers the same shape):

    request  {"query":   [prompt + response, decoded with special tokens],
              "prompts": [prompt, as the dataset's chat template rendered it],
              "labels":  [the row's --data.label_key value]}
    response {"rewards": [float], "scores": [float], "extra_logs": {name: [float]}}

The label says which env and task: `llmgym export --format openrlhf` writes it as the JSON string
`{"env": NAME, "task": {...}}` (a task id instead of the task works for dataset envs). A bare label
is taken as a task id of the only served env. The response is the query with the prompt taken off
the front, and trailing end-of-turn tokens removed. `scores` repeats the rewards (OpenRLHF's dynamic
filtering reads it); `extra_logs` carries every reward component, which OpenRLHF logs per step.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from llmgym.types import Task

from .catalog import Catalog
from .protocol import ServeError, check_batch_size, expect_object, field

# Chat templates close the assistant turn with one of these; decoded with special tokens they end the
# query. A reward should see what the model wrote, not the template's bookkeeping.
END_MARKERS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "</s>", "<eos>", "<|end_of_text|>")


def response_text(query: str, prompt: str | None) -> str:
    """The model's response inside an OpenRLHF query (prompt + response, special tokens kept).

    >>> response_text("<|im_start|>user\\nq<|im_end|>\\n<|im_start|>assistant\\n\\\\boxed{4}<|im_end|>",
    ...               "<|im_start|>user\\nq<|im_end|>\\n<|im_start|>assistant\\n")
    '\\\\boxed{4}'
    """
    text = query
    if prompt:
        if query.startswith(prompt):
            text = query[len(prompt):]
        elif prompt in query:  # a BOS token or left padding the prompt did not carry
            text = query[query.rindex(prompt) + len(prompt):]
    text = text.rstrip()
    stripped = True
    while stripped:
        stripped = False
        for marker in END_MARKERS:
            if text.endswith(marker):
                text = text[: -len(marker)].rstrip()
                stripped = True
    return text


def parse_reward_request(body: Any, catalog: Catalog, max_batch: int) -> tuple[list[tuple[str, str, Task]], int]:
    """(env name, response, task) for every query, in order; and how many queries there were."""
    data = expect_object(body)
    queries = field(data, "query", list)
    prompts = field(data, "prompts", list, default=[None] * len(queries))
    labels = field(data, "labels", list, default=None)
    check_batch_size(len(queries), max_batch, "queries")
    if labels is None or len(labels) != len(queries) or len(prompts) != len(queries):
        raise ServeError(422, "body needs 'query' and 'labels' of the same length (and 'prompts', if given): "
                              "export the data with `llmgym export --format openrlhf` and pass "
                              "--data.label_key label")
    rows = []
    for i, (query, prompt, label) in enumerate(zip(queries, prompts, labels)):
        if not isinstance(query, str) or not (prompt is None or isinstance(prompt, str)):
            raise ServeError(422, f"query[{i}] and prompts[{i}] must be strings")
        name, item = _label(label, catalog, i)
        task = catalog.resolve(name, item, f"labels[{i}]")
        rows.append((name, response_text(query, prompt), task))
    return rows, len(queries)


def _label(label: Any, catalog: Catalog, i: int) -> tuple[str, dict[str, Any]]:
    if isinstance(label, str):
        try:
            decoded = json.loads(label)
        except ValueError:
            decoded = None
        label = decoded if isinstance(decoded, dict) else label
    if isinstance(label, dict):
        name = label.get("env")
        if name is None and len(catalog.envs) == 1:
            name = next(iter(catalog.envs))
        catalog.get(name)
        return name, label
    if isinstance(label, str) and len(catalog.envs) == 1:
        return next(iter(catalog.envs)), {"task_id": label}
    raise ServeError(422, f"labels[{i}] must be the JSON string {{\"env\": NAME, \"task\": {{...}}}} that "
                          "`llmgym export --format openrlhf` writes (a bare task id works only when one env is served)")


def reward_response(scores: Sequence[Any]) -> dict[str, Any]:
    """OpenRLHF's response: rewards, scores (the same) and every component under extra_logs."""
    rewards = [s.value for s in scores]
    names = list(dict.fromkeys(name for s in scores for name in s.components))
    logs = {name: [float(s.components.get(name, 0.0)) for s in scores] for name in names}
    return {"rewards": rewards, "scores": rewards, "extra_logs": logs}
