"""The `rubric=` option of an env spec: an env's rubric from registered rewards, named on the
command line, so a reward plugin scores any env without Python.

    counting:rubric=exact                    `exact` alone replaces counting's rubric (weight 1)
    counting:rubric=[exact@0.5,length@0]     several rewards, each NAME[:k=v][@WEIGHT]
    counting:rubric=+exact@0.5               counting's own rubric plus `exact` at weight 0.5
    counting:rubric=+[exact@0.5,length@0]    ... plus several (or [+exact@0.5,+length@0])

A weight-0 entry is a metric (logged, moving nothing); the default weight is 1. Without `+` the
rewards replace the env's rubric; with `+` they join it, and a name the rubric already holds is
refused (replace the rubric to re-weigh it). In Python, `rubric=` still takes a `Rubric` object,
and a string or a list of strings (`["+exact@0.5"]`) reads as above.

`NAME@WEIGHT` is the one spelling of a weight: a reward's here, an env's share of a training
mixture in `llmgym.mixture` (`--env counting@3`). The weight is what follows the last `@` outside
quotes and brackets, and only when that is a number, so `dataset:path=a@b.jsonl` keeps its `@`.

>>> parse_rubric_option("+[exact@0.5,length@0]")
(True, [('exact', 0.5), ('length', 0.0)])
>>> parse_rubric_option("exact")
(False, [('exact', 1.0)])
"""

from __future__ import annotations

import math
from typing import Any

from .errors import LLMGymError, UnknownNameError
from .registry import Registry, _split_top_level, parse_name_options, top_level_chars
from .rubric import Rubric

HOW = "rubric= takes reward names, e.g. rubric=exact, rubric=[exact@0.5,length@0] or rubric=+exact@0.5"


def last_top_level(text: str, char: str) -> int:
    """The index of the last `char` outside quotes and brackets, or -1.

    >>> last_top_level("dataset:path='a@b'@2", "@")
    18
    >>> last_top_level("counting:rubric=[exact@0.5]", "@")
    -1
    """
    return max((i for i, ch in top_level_chars(text) if ch == char), default=-1)


def split_weight(text: str) -> tuple[str, float | None]:
    """`"NAME@WEIGHT"` as `("NAME", WEIGHT)`; `(text, None)` when no number follows the last `@`
    outside quotes and brackets. The weight may be any float: callers say which they accept.

    >>> split_weight("math:level=2@3")
    ('math:level=2', 3.0)
    >>> split_weight("dataset:path=a@b.jsonl")
    ('dataset:path=a@b.jsonl', None)
    """
    at = last_top_level(text, "@")
    if at < 0:
        return text, None
    try:
        weight = float(text[at + 1:].strip())
    except ValueError:
        return text, None
    return text[:at].rstrip(), weight


def parse_rubric_option(value: Any) -> tuple[bool, list[tuple[str, float]]]:
    """`(extend, [(reward spec, weight), ...])` of a `rubric=` value (text or a list of texts)."""
    extend_all = False
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("+["):
            extend_all, text = True, text[1:]
        if text.startswith("["):
            if not text.endswith("]"):
                raise LLMGymError(f"rubric={value!r}: unclosed '['; {HOW}")
            items: list[Any] = _split_top_level(text[1:-1], value)
        else:
            items = [text]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise LLMGymError(f"rubric={value!r} is not a reward name; {HOW}")
    if not items:
        raise LLMGymError(f"rubric={value!r} names no reward; {HOW}")
    parsed, pluses = [], []
    for item in items:
        if not isinstance(item, str):
            raise LLMGymError(f"rubric= item {item!r} is not a reward name; {HOW}")
        text = item.strip()
        pluses.append(text.startswith("+"))
        spec, weight = split_weight(text.lstrip("+").strip())
        if weight is None:
            weight = 1.0
        if not math.isfinite(weight):
            raise LLMGymError(f"rubric= item {item!r}: the weight must be a finite number")
        if not spec:
            raise LLMGymError(f"rubric= item {item!r} names no reward; {HOW}")
        parsed.append((spec, weight))
    if not extend_all and any(pluses) and not all(pluses):
        raise LLMGymError(f"rubric={value!r} mixes rewards that join the env's rubric (+NAME) with rewards that "
                          "replace it: mark every one with + to extend it, or none to replace it")
    return extend_all or all(pluses), parsed


def check_rubric_option(value: Any, rewards: Registry) -> None:
    """Refuse a malformed `rubric=` value or an unknown reward name (with suggestions), building nothing."""
    for spec, _ in parse_rubric_option(value)[1]:
        _reward_spec(spec, rewards, value)


def build_rubric(value: Any, base: Rubric, rewards: Registry, *, env_name: str) -> Rubric:
    """The rubric a `rubric=` value asks for: its rewards (built from `rewards`) alone, or after
    `base`'s entries when it extends."""
    extend, items = parse_rubric_option(value)
    for spec, _ in items:
        _reward_spec(spec, rewards, value)
    added = [(rewards.make(spec), weight) for spec, weight in items]
    entries = [*base.entries, *added] if extend else added
    names = [r.name for r, _ in entries]
    for reward, _ in added:
        if extend and reward.name in base.components:
            raise LLMGymError(f"rubric={value!r}: env {env_name!r} already scores a {reward.name!r} component; "
                              f"replace its rubric (rubric=[...] without +) to change that weight")
        if names.count(reward.name) > 1:
            raise LLMGymError(f"rubric={value!r} names the reward {reward.name!r} twice; name each reward once")
    return Rubric(entries)


def _reward_spec(spec: str, rewards: Registry, value: Any) -> None:
    name, _ = parse_name_options(spec)
    try:
        rewards.spec(name)
    except UnknownNameError as exc:
        raise UnknownNameError(f"{exc}; in rubric={value!r}") from None
