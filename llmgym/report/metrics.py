"""Benchmark metrics over episode records (the rows of `results.jsonl`).

An episode record is a dict with at least `env`, `policy`, `task_id`, `sample`, `correct`,
`format_ok`, `answer`, `reward`, `components`, `completion_tokens`, `seconds` and `wall_seconds`;
`level`, `family` and `tool_calls` are used when present. `llmgym.report.bench` writes them.

Definitions (also in docs/reports.md):

- **accuracy** is pass@1: the mean over tasks of c/n (c correct of n samples). Its 95% interval is
  Wilson's score interval with the number of *tasks* as the sample size: samples of one task are
  correlated, so counting episodes would overstate the evidence; with one sample per task this is
  exactly the textbook Wilson interval.
- **pass@k** is the unbiased estimator of Chen et al. (2021), 1 - C(n-c, k) / C(n, k), per task,
  averaged over tasks, computed as a product so that large n never overflows.
- **maj@k** takes the first k samples of a task (by sample index), votes on their parsed answers
  (no answer casts no vote) and scores the winning answer; a tie splits the credit evenly.
- **format-failure rate** is the share of episodes with `format_ok` false.
- **tokens/s** is completion tokens over generation seconds; **wall time** sums each episode's share
  of the wall-clock time of the batch it ran in.

>>> round(pass_at_k(10, 3, 1), 6), round(pass_at_k(10, 3, 5), 6)
(0.3, 0.916667)
>>> [round(x, 4) for x in wilson_interval(8, 10)]
[0.4902, 0.9433]
>>> majority_vote(["4", "4", "5", None], [True, True, False, False])
1.0
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion `successes / n` (successes may be fractional).

    >>> wilson_interval(0, 0)
    (0.0, 1.0)
    >>> [round(x, 4) for x in wilson_interval(0, 20)]
    [0.0, 0.1611]
    """
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p) / n + z2 / (4 * n * n), 0.0)) / denom
    # The interval always holds p; rounding would otherwise put 1.0 just above a 0.9999... bound.
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task with `c` correct of `n` samples (Chen et al. 2021, Fig. 3).

    1 - C(n-c, k)/C(n, k) written as 1 - prod_{i=n-c+1}^{n} (1 - k/i): no huge binomials.

    >>> pass_at_k(4, 0, 2), pass_at_k(4, 4, 2), pass_at_k(4, 3, 2)
    (0.0, 1.0, 1.0)
    >>> round(pass_at_k(4, 1, 2), 6)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    0.5
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def majority_vote(answers: Sequence[str | None], correct: Sequence[bool]) -> float:
    """Credit of the majority answer among `answers` (None casts no vote); ties split the credit.

    >>> majority_vote(["3", "5", None], [False, True, False])  # 1-1 tie: half credit
    0.5
    >>> majority_vote([None, None], [False, False])
    0.0
    """
    votes: dict[str, int] = defaultdict(int)
    right: dict[str, bool] = {}
    for answer, ok in zip(answers, correct):
        if answer is None:
            continue
        votes[answer] += 1
        right[answer] = right.get(answer, False) or bool(ok)
    if not votes:
        return 0.0
    top = max(votes.values())
    winners = [a for a, v in votes.items() if v == top]
    return sum(right[a] for a in winners) / len(winners)


def k_values(n: int) -> list[int]:
    """The k reported for n samples per task: powers of two below n, and n itself.

    >>> k_values(1), k_values(4), k_values(10)
    ([1], [1, 2, 4], [1, 2, 4, 8, 10])
    """
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n] if n >= 1 else []


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def by_task(records: Iterable[Mapping[str, Any]]) -> dict[tuple[Any, str], list[Mapping[str, Any]]]:
    """Records grouped by (level, task id), each group sorted by sample index.

    The level is part of the key because two levels of an env may draw the same task.
    """
    groups: dict[tuple[Any, str], list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r.get("level"), r["task_id"])].append(r)
    return {t: sorted(rs, key=lambda r: r["sample"]) for t, rs in groups.items()}


def group_metrics(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every metric of one group of episodes (one env x policy, or a level or family of it)."""
    tasks = by_task(records)
    n_tasks = len(tasks)
    per_task = [sum(bool(r["correct"]) for r in rs) / len(rs) for rs in tasks.values()]
    accuracy = _mean(per_task) or 0.0
    low, high = wilson_interval(accuracy * n_tasks, n_tasks)
    min_n = min((len(rs) for rs in tasks.values()), default=0)
    pass_k = {str(k): _mean([pass_at_k(len(rs), sum(bool(r["correct"]) for r in rs), k)
                             for rs in tasks.values()]) for k in k_values(min_n)}
    maj_k = {str(k): _mean([majority_vote([r.get("answer") for r in rs[:k]], [bool(r["correct"]) for r in rs[:k]])
                            for rs in tasks.values()]) for k in k_values(min_n) if k > 1}
    rewards = [float(r["reward"]) for r in records]
    names = sorted({name for r in records for name in (r.get("components") or {})})
    components = {name: _mean([float((r.get("components") or {}).get(name, 0.0)) for r in records])
                  for name in names}
    lengths = [int(r.get("completion_tokens") or 0) for r in records]
    tool_calls = [r["tool_calls"] for r in records if r.get("tool_calls") is not None]
    gen_seconds = sum(float(r.get("seconds") or 0.0) for r in records)
    return {
        "tasks": n_tasks,
        "episodes": len(records),
        "samples_per_task": min_n,
        "accuracy": {"value": accuracy, "low": low, "high": high},
        "pass_at_k": pass_k,
        "maj_at_k": maj_k,
        "reward": {"mean": _mean(rewards), "components": components},
        "format_failure_rate": _mean([0.0 if r.get("format_ok") else 1.0 for r in records]),
        "length": {"mean": _mean(lengths), "median": statistics.median(lengths) if lengths else None},
        "tool_calls": {"mean": _mean(tool_calls)} if tool_calls else None,
        "tokens_per_s": sum(lengths) / gen_seconds if gen_seconds > 0 else None,
        "wall_seconds": sum(float(r.get("wall_seconds") or 0.0) for r in records),
    }


def _sort_key(value: Any) -> tuple[int, Any]:
    # Levels are ints and families strings; None (no family) sorts last.
    return (0, value) if isinstance(value, (int, float)) else (1, str(value)) if value is not None else (2, "")


def summarize(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (env, policy), in first-seen order, with `by_level` and `by_family` breakdowns."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["env"], r["policy"]), []).append(r)
    out = []
    for (env, policy), rs in groups.items():
        entry = {"env": env, "policy": policy, **group_metrics(rs)}
        for field in ("level", "family"):
            parts: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
            for r in rs:
                if r.get(field) is not None:
                    parts[r[field]].append(r)
            entry[f"by_{field}"] = {str(v): group_metrics(parts[v]) for v in sorted(parts, key=_sort_key)}
        out.append(entry)
    return out
