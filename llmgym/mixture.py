"""A weighted mixture of envs: what `llmgym train --env A@3 --env B` trains on.

    --env math:level=2@3 --env counting     3 prompts in 4 from math level 2, 1 in 4 from counting

Each `--env` is an env spec (`NAME[:k=v,...]`) with an optional `@WEIGHT`, a positive number
(default 1), split off at the last `@` outside quotes and brackets when a number follows it (see
`llmgym.rubric_option.split_weight`): `dataset:path='a@2.jsonl'@3` weighs 3 and keeps its path.
A spec's label is the spec without its weight; it names the env in metrics, reports and dataset
rows, so two entries with the same label are refused.

A reward weight and an env weight would read alike at the end of a spec whose last option is
`rubric=` (`counting:rubric=exact@0.5`): that is refused with both spellings, `rubric=[exact@0.5]`
for the reward and `rubric=[exact]@0.5` for the env.

`Mixture.draw` picks each prompt's env at random in proportion to the weights (seeded, so the same
seed gives the same rows), then takes that many tasks from each env's split in the env's own
deterministic order; an env whose split holds fewer tasks than its share repeats them, so the
weights still say what fraction of the prompts each env supplies.

>>> [(s.label, s.weight) for s in parse_env_specs(["math:level=2@3", "counting"])]
[('math:level=2', 3.0), ('counting', None)]
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from .errors import LLMGymError
from .registry import _split_top_level
from .rubric_option import split_weight
from .types import Task


@dataclass(frozen=True)
class EnvSpec:
    """One `--env` value: the env spec without its weight, and the weight given (None: none given)."""

    label: str
    weight: float | None = None

    @property
    def share_weight(self) -> float:
        return 1.0 if self.weight is None else self.weight


def parse_env_spec(text: str) -> EnvSpec:
    """Split `NAME[:k=v,...][@WEIGHT]`; a weight that is not a positive number is one clear error."""
    if not isinstance(text, str) or not text.strip():
        raise LLMGymError(f"an env spec is NAME[:k=v,...][@WEIGHT], got {text!r}")
    text = text.strip()
    label, weight = split_weight(text)
    if weight is None:
        return EnvSpec(label)
    if not label:
        raise LLMGymError(f"env spec {text!r} names no env before '@'")
    if not (weight > 0 and math.isfinite(weight)):
        raise LLMGymError(f"the weight of {label!r} in a mixture must be a finite number > 0, got "
                          f"{text[len(label):].lstrip()[1:].strip()!r}")
    _, sep, options = label.partition(":")
    items = _split_top_level(options, label) if sep else []
    if items and items[-1].partition("=")[0].strip() == "rubric":
        value = items[-1].partition("=")[2].strip()
        if value and value[0] not in "[+'\"" or value.startswith("+") and not value.startswith("+["):
            w = "@" + text[len(label):].lstrip()[1:].strip()
            raise LLMGymError(f"{text!r}: '{w}' could weigh the last reward of rubric= or the env: write "
                              f"rubric=[{value}{w}] for the reward's weight, or rubric=[{value}]{w} for the "
                              "env's share of the mixture")
    return EnvSpec(label, weight)


def parse_env_specs(specs: Sequence[str] | str) -> list[EnvSpec]:
    """Every `--env` of a run (one spec, or a list), checked; an env named twice is refused."""
    parsed = [parse_env_spec(s) for s in ([specs] if isinstance(specs, str) else specs)]
    if not parsed:
        raise LLMGymError("name at least one env (--env NAME)")
    seen: set[str] = set()
    for spec in parsed:
        if spec.label in seen:
            raise LLMGymError(f"env {spec.label!r} is given twice; give it once (its weight sets its share)")
        seen.add(spec.label)
    return parsed


@dataclass(frozen=True)
class Share:
    """One env of a mixture: its label, its weight and the env itself."""

    label: str
    weight: float
    env: Any  # a TextEnv


class Mixture:
    """Envs with weights; `draw` gives prompts from each in proportion to its weight."""

    def __init__(self, shares: Sequence[Share]):
        if not shares:
            raise LLMGymError("a mixture needs at least one env")
        self.shares = list(shares)
        labels = [s.label for s in self.shares]
        if len(set(labels)) != len(labels):
            raise LLMGymError(f"env labels in a mixture must differ, got {labels}")

    @classmethod
    def from_specs(cls, specs: Sequence[str] | str, make: Callable[[str], Any] | None = None) -> "Mixture":
        """Build every env of `specs` (`["math@3", "counting"]`) with `make` (default `llmgym.make`)."""
        if make is None:
            import llmgym

            make = llmgym.make
        return cls([Share(s.label, s.share_weight, make(s.label)) for s in parse_env_specs(specs)])

    def __len__(self) -> int:
        return len(self.shares)

    def __iter__(self) -> Iterator[Share]:
        return iter(self.shares)

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.shares]

    def fractions(self) -> dict[str, float]:
        """Each env's expected fraction of the drawn prompts."""
        total = sum(s.weight for s in self.shares)
        return {s.label: s.weight / total for s in self.shares}

    def draw(self, n: int, seed: int = 0, split: str = "train") -> list[tuple[Share, Task]]:
        """`n` (share, task) pairs: each pair's env drawn by weight under `seed`, its task the env's next."""
        rng = random.Random(seed)
        picks = rng.choices(range(len(self.shares)), weights=[s.weight for s in self.shares], k=n)
        pools: dict[int, list[Task]] = {}
        for i, count in Counter(picks).items():
            pools[i] = list(self.shares[i].env.tasks(split, n=count, seed=seed))
            if not pools[i]:
                raise LLMGymError(f"env {self.shares[i].label!r} gave no {split} tasks")
        used: Counter[int] = Counter()
        out = []
        for i in picks:
            pool = pools[i]
            out.append((self.shares[i], pool[used[i] % len(pool)]))
            used[i] += 1
        return out
