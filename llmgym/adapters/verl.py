"""verl's reward hooks over llmgym envs: `compute_score` for `custom_reward_function`.

    custom_reward_function:
      path: pkg://llmgym.adapters.verl
      name: compute_score             # compute_score_batch with reward_model.reward_manager=batch
      reward_kwargs: {}               # {server_url: http://10.0.0.5:8000} scores through `llmgym serve`

verl calls `compute_score(data_source=, solution_str=, ground_truth=, extra_info=)` once per response
(its `naive` reward manager) and `compute_score_batch(data_sources=, solution_strs=, ground_truths=,
extra_infos=)` once per batch (its `batch` manager), merging `reward_kwargs` into the keywords; both
are here. `data_source` names the env: `llmgym/math`, `llmgym/math:level=3` (the spec after the
prefix), or any source when `reward_kwargs` sets `env`. The task is `extra_info["llmgym_task"]`,
which `llmgym export --format verl` writes; a row without it (a dataset prepared for verl by other
means, gsm8k say) is scored as the task `(extra_info["question"], ground_truth)`.

The result is `{"score": reward, <component>: value, ...}`: verl trains on `score` and logs the
rest. verl collects each key into one list per batch, so when one batch mixes data sources whose
rubrics differ, set `reward_kwargs: {components: false}` and only `score` comes back.

In process, each env is built once per reward worker; sandboxed code runs in that worker's sandbox
pool. With `server_url` (a URL or a list: replicas, tried round-robin with failover) scoring
happens in `llmgym serve` on CPU machines, and the GPU workers only send text.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Sequence

from llmgym.errors import LLMGymError
from llmgym.types import Score, Task

from . import env_of

DATA_SOURCE_PREFIX = "llmgym/"
_clients: dict[tuple[str, ...], Any] = {}
_clients_lock = threading.Lock()


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None, *,
                  env: str | None = None, server_url: str | Sequence[str] | None = None,
                  components: bool = True, **_: Any) -> dict[str, float]:
    """The score verl trains on, and every reward component of the env's rubric.

    >>> task = {"prompt": "What is 2 + 2?", "answer": "4"}
    >>> compute_score("llmgym/math", "\\\\boxed{4}", "4", {"llmgym_task": json.dumps(task)})["score"]   # doctest: +SKIP
    1.1
    """
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], env=env,
                               server_url=server_url, components=components)[0]


def compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[dict | None], *, env: str | None = None,
                        server_url: str | Sequence[str] | None = None, components: bool = True,
                        **_: Any) -> list[dict[str, float]]:
    """`compute_score` for a whole batch: rows of one env are scored in one `score_batch` call."""
    n = len(solution_strs)
    if not len(data_sources) == len(ground_truths) == len(extra_infos) == n:
        raise ValueError("data_sources, solution_strs, ground_truths and extra_infos must have one entry per response")
    groups: dict[str, list[int]] = {}
    for i, source in enumerate(data_sources):
        groups.setdefault(env or env_spec(source), []).append(i)
    out: list[dict[str, float] | None] = [None] * n
    for spec, rows in groups.items():
        tasks = [task_of(ground_truths[i], extra_infos[i]) for i in rows]
        texts = [str(solution_strs[i]) for i in rows]
        scores = _remote(spec, texts, tasks, server_url) if server_url else env_of(spec).rubric.score_batch(texts, tasks)
        for i, score in zip(rows, scores):
            out[i] = {"score": score.value, **(dict(score.components) if components else {})}
    return [o for o in out if o is not None]


def env_spec(data_source: Any) -> str:
    """The env a verl `data_source` names: `llmgym/math:level=3` -> `math:level=3`."""
    source = str(data_source)
    if not source.startswith(DATA_SOURCE_PREFIX):
        raise LLMGymError(f"data_source {source!r} names no llmgym env: write the data with `llmgym export "
                          f"--format verl` (data_source '{DATA_SOURCE_PREFIX}<env>'), or set reward_kwargs.env")
    return source[len(DATA_SOURCE_PREFIX):]


def task_of(ground_truth: Any, extra_info: dict | None) -> Task:
    """The task of one verl row: the exported task JSON, else the question and ground truth."""
    info = extra_info if isinstance(extra_info, dict) else {}
    data = info.get("llmgym_task")
    if isinstance(data, str):
        data = json.loads(data)
    if isinstance(data, dict):
        return Task.from_dict(data)
    return Task(str(info.get("question") or ""), ground_truth)


def _remote(spec: str, texts: list[str], tasks: list[Task], server_url: str | Sequence[str]) -> list[Score]:
    from llmgym.serve.catalog import split_alias
    from llmgym.serve.client import ServeClient

    urls = (server_url,) if isinstance(server_url, str) else tuple(server_url)
    with _clients_lock:
        if urls not in _clients:
            _clients[urls] = ServeClient(list(urls))
        client = _clients[urls]
    results = client.score(split_alias(spec)[0], texts, tasks)
    return [Score(r["reward"], r["components"], r["reason"], r["answer"]) for r in results]
