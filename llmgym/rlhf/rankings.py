"""The rankings file: one JSON object per line, each a person's (or a simulated labeler's) ordering
of K completions of one prompt.

Format (version 1), one line per ranked prompt::

    {"prompt": "Tell a joke about pelicans.",            # text, or chat messages [{"role", "content"}]
     "completions": ["...", "...", "...", "...", "..."],  # K >= 2 samples
     "ranking": [2, [0, 3], 4, 1],                        # best first; a list is a tie group
     "ranker": "human:alice",                             # who ranked: "human:NAME", "gold", ...
     "time": "2026-11-29T23:59:01Z",                      # when (ISO 8601, UTC)
     "item": "3f2a...",                                   # optional: id of the queued item it answers
     "task": {...}}                                       # optional: the llmgym Task (lets gold re-score)

`ranking` lists every index 0..K-1 exactly once. A skipped prompt is a line with `"ranking": null`
and `"skipped": true`: it records that the person saw the item (a restarted session does not show
it again) and contributes no pairs.

Pairs: a ranking G1 > G2 > ... (Gi a tie group) implies "a beats b" for every a in Gi, b in Gj, i < j;
members of one tie group imply nothing (Bradley-Terry has no term for a tie, so a tie is not
evidence either way). `pairs([0, [1, 2]])` is [(0, 1), (0, 2)].

Appends go through `llmgym.io.append_jsonl`: one `write` of whole lines to a file opened with
O_APPEND under an exclusive `flock`, then fsynced, so concurrent writers and a kill never leave half
a line behind a whole one (a torn last line from a crash mid-write is skipped on read, and cut
before the next append).

>>> rec = make_record("Joke?", ["a", "b", "c"], [1, [0, 2]], ranker="gold")
>>> pairs(rec["ranking"])
[(1, 0), (1, 2)]
>>> validate({"prompt": "x", "completions": ["a", "b"], "ranking": [0, 0], "ranker": "me", "time": "t"})
Traceback (most recent call last):
...
llmgym.errors.LLMGymError: ranking lists index 0 twice
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from llmgym.errors import LLMGymError
from llmgym.io import append_jsonl, iter_jsonl, write_jsonl

REQUIRED = ("prompt", "completions", "ranking", "ranker", "time")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def groups(ranking: Sequence[Any]) -> list[list[int]]:
    """The tie groups of a ranking, best first: `[2, [0, 3], 1]` -> `[[2], [0, 3], [1]]`."""
    return [list(g) if isinstance(g, (list, tuple)) else [g] for g in ranking]


def pairs(ranking: Sequence[Any]) -> list[tuple[int, int]]:
    """(better, worse) index pairs implied by a ranking; tied indices give no pair."""
    gs = groups(ranking)
    return [(a, b) for i, gi in enumerate(gs) for gj in gs[i + 1:] for a in gi for b in gj]


def tied_pairs(ranking: Sequence[Any]) -> int:
    """How many unordered pairs a ranking leaves tied."""
    return sum(len(g) * (len(g) - 1) // 2 for g in groups(ranking))


def validate(record: Any) -> dict[str, Any]:
    """Check one record; returns it, or raises `LLMGymError` with a one-line reason."""
    if not isinstance(record, Mapping):
        raise LLMGymError(f"a rankings record must be a JSON object, got {type(record).__name__}")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise LLMGymError(f"record lacks {', '.join(missing)}")
    prompt = record["prompt"]
    if not (isinstance(prompt, str) or (isinstance(prompt, list) and all(
            isinstance(m, Mapping) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in prompt))):
        raise LLMGymError("prompt must be text or a list of {role, content} messages")
    comps = record["completions"]
    if not isinstance(comps, list) or len(comps) < 2 or not all(isinstance(c, str) for c in comps):
        raise LLMGymError("completions must be a list of at least 2 strings")
    if not isinstance(record["ranker"], str) or not record["ranker"]:
        raise LLMGymError("ranker must be a non-empty string")
    if not isinstance(record["time"], str):
        raise LLMGymError("time must be an ISO 8601 string")
    if record.get("task") is not None:
        from llmgym.types import Task

        try:
            Task.from_dict(record["task"])
        except (AttributeError, KeyError, TypeError, ValueError):
            raise LLMGymError("task must be an llmgym Task object (as Task.to_dict writes it), got "
                              f"{json.dumps(record['task'])[:60]}") from None
    ranking = record["ranking"]
    if ranking is None:
        if not record.get("skipped"):
            raise LLMGymError("ranking is null but the record is not marked skipped")
        return dict(record)
    if not isinstance(ranking, list) or not ranking:
        raise LLMGymError("ranking must be a non-empty list of indices (a nested list is a tie)")
    seen: set[int] = set()
    for group in groups(ranking):
        if not group:
            raise LLMGymError("ranking holds an empty tie group")
        for i in group:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(comps):
                raise LLMGymError(f"ranking index {i!r} is not in 0..{len(comps) - 1}")
            if i in seen:
                raise LLMGymError(f"ranking lists index {i} twice")
            seen.add(i)
    if len(seen) != len(comps):
        left = sorted(set(range(len(comps))) - seen)
        raise LLMGymError(f"ranking leaves out completion(s) {left}")
    return dict(record)


def make_record(prompt: Any, completions: Sequence[str], ranking: Sequence[Any] | None, *, ranker: str,
                item: str | None = None, task: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A validated record stamped with the current time."""
    rec: dict[str, Any] = {"prompt": prompt, "completions": list(completions),
                           "ranking": None if ranking is None else list(ranking), "ranker": ranker,
                           "time": now_iso()}
    if ranking is None:
        rec["skipped"] = True
    if item is not None:
        rec["item"] = item
    if task is not None:
        rec["task"] = dict(task)
    rec.update(extra)
    return validate(rec)


def append(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> None:
    """Append validated records, each as one atomic line (see module docstring)."""
    append_jsonl(path, [validate(r) for r in records])


def read(path: str | os.PathLike, *, strict: bool = False) -> list[dict[str, Any]]:
    """All records of a rankings file (skipped ones included).

    With `strict`, a bad line raises `LLMGymError` naming the file and line; otherwise bad lines
    are dropped. A torn last line (a crash mid-write) is skipped either way.
    """
    p = Path(path)
    if p.is_dir():
        raise LLMGymError(f"rankings file {p} is a folder; name a rankings JSONL file")
    if not p.is_file():
        raise LLMGymError(f"rankings file {p} does not exist")
    out = []
    # Too deep a value is refused in either mode (parse_json's LLMGymError names the line).
    for n, record in iter_jsonl(p, skip_bad=not strict):
        try:
            out.append(validate(record))
        except LLMGymError as exc:
            if strict:
                raise LLMGymError(f"{p}:{n}: {str(exc).splitlines()[0]}") from None
    return out


def rewrite(path: str | os.PathLike, records: Sequence[Mapping[str, Any]]) -> None:
    """Replace the file's content atomically (undo drops a record this way)."""
    write_jsonl(path, [validate(r) for r in records])


def preference_pairs(records: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every (chosen, rejected) pair the ranked records imply, with the prompt and its task.

    Rows: `{"prompt", "chosen", "rejected", "task", "group"}`; `group` numbers the record, so a
    held-out split can keep all pairs of one prompt together.
    """
    for g, rec in enumerate(records):
        if rec.get("ranking") is None:
            continue
        comps = rec["completions"]
        for a, b in pairs(rec["ranking"]):
            if comps[a] == comps[b]:
                continue  # identical texts ranked apart teach nothing but noise
            yield {"prompt": rec["prompt"], "chosen": comps[a], "rejected": comps[b],
                   "task": rec.get("task"), "group": g}
