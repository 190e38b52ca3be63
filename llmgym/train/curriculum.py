"""`--curriculum adaptive`: draw GRPO/RLOO prompts where the policy's success rate is informative.

A group of completions that all succeed or all fail gives GRPO no gradient but costs a full
backward pass (`frac_reward_zero_std` in metrics.jsonl). The curriculum splits the run's prompts into
*arms* and tracks each arm's success rate from the groups the trainer already scores:

    one env with levels (math, counting, rg/NAME)   an arm per level (`level1`, `level2`, ...)
    a dataset env with a difficulty column           an arm per difficulty level found in the file
    a mixture (--env A --env B)                      an arm per env, named by its spec

Update rule (after every scored generation batch): an arm's completions add to decayed counts,
`successes = memory * successes + right` and `attempts = memory * attempts + scored`; its rate is
`successes / attempts` (unknown before its first group). `right` is the env's success component
(the rubric entry with role `success`), or for a rubric without one the reward rescaled to [0, 1].

Draw rule: arms whose rate lies in the band `[low, high]`, and arms not yet tried, are *informative*
and share the prompts by their base weight (1 per level; a mixture's `@WEIGHT`); every other arm keeps
an exploration floor of `floor` of the prompts, so an arm that became informative again (a level the
policy has started to solve) is noticed. When no arm is informative, the arms nearest the band (the
hardest of the solved, the easiest of the unsolved) take the informative share. Prompts are handed to
arms by smooth weighted round robin (each prompt adds every arm's share to its credit; the arm with
the most credit gets the prompt and pays 1; credits start even whenever the target changes), so the
realised mix follows the target with no random draw, and within an arm tasks come in a seeded
shuffled order that reshuffles at each pass.

Everything is a function of the seed and the scores, which every rank of a distributed run sees
whole (TRL gathers rewards across processes before the update), so every rank draws the same
prompts. The state (`state_dict`) is saved in each checkpoint and restored on `--resume`.

>>> c = Curriculum(CurriculumConfig.from_spec("adaptive:low=0.2,high=0.8,floor=0.1"),
...                {"level1": list(range(4)), "level2": list(range(4, 8))}, seed=0)
>>> [arm for arm, _ in c.draw(4)]  # nothing is known yet: both arms are tried
['level1', 'level2', 'level1', 'level2']
>>> c.update({"level1": (8.0, 8), "level2": (4.0, 8)})  # level 1 solved, level 2 half right
>>> c.shares()
{'level1': 0.1, 'level2': 0.9}
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from llmgym.errors import LLMGymError
from llmgym.options import read_mode_spec

MODES = ("off", "adaptive")
STATE_FILE = "llmgym_sampling.json"  # in each checkpoint-N folder (llmgym.train.sampling)


@dataclass
class CurriculumConfig:
    """`off`, or `adaptive` with its band, floor, memory and (for one env) the levels it spans."""

    mode: str = "off"
    low: float = 0.2  # an arm is informative while its success rate is at least this ...
    high: float = 0.8  # ... and at most this
    floor: float = 0.05  # share of the prompts each arm outside the band keeps (exploration)
    memory: float = 0.8  # weight of an arm's past counts at each update (0: the last batch alone)
    levels: str | None = None  # "A-B": the levels of one env the curriculum spans (default: all)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise LLMGymError(f"curriculum must be one of {', '.join(MODES)}[:KEY=VALUE,...], got {self.mode!r}")
        for name in ("low", "high", "floor", "memory"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                raise LLMGymError(f"curriculum {name} must be a number in [0, 1], got {value!r}")
            setattr(self, name, float(value))
        if self.low > self.high:
            raise LLMGymError(f"curriculum low ({self.low:g}) must not be above high ({self.high:g})")
        if self.floor >= 1 or self.memory >= 1:
            name = "floor" if self.floor >= 1 else "memory"
            raise LLMGymError(f"curriculum {name} must be below 1, got {getattr(self, name):g}")
        if self.levels is not None:
            self.levels = str(self.levels)
            self.level_range()  # checked now

    @property
    def on(self) -> bool:
        return self.mode != "off"

    def level_range(self) -> tuple[int, int] | None:
        """`levels` as (first, last), or None for every level of the env."""
        if self.levels is None:
            return None
        lo, sep, hi = self.levels.partition("-")
        try:
            first, last = int(lo), int(hi if sep else lo)
        except ValueError:
            raise LLMGymError(f"curriculum levels must be A-B (e.g. 1-3), got {self.levels!r}") from None
        if first > last:
            raise LLMGymError(f"curriculum levels {self.levels!r}: the first level is above the last")
        return first, last

    @classmethod
    def from_spec(cls, spec: "CurriculumConfig | str | Mapping[str, Any] | bool | None") -> "CurriculumConfig":
        """A config from `off`, `adaptive[:KEY=VALUE,...]` or a mapping (YAML); unknown keys are one error.

        >>> CurriculumConfig.from_spec("adaptive:low=0.1,levels=1-3").to_spec()
        'adaptive:low=0.1,levels=1-3'
        >>> CurriculumConfig.from_spec("adaptive:hi=0.9")
        Traceback (most recent call last):
        ...
        llmgym.errors.LLMGymError: unknown curriculum option 'hi' (did you mean: high?)
        """
        if isinstance(spec, cls):
            return spec
        options = read_mode_spec("curriculum", spec, cls, when_true="adaptive", when_false=None,
                                 mapping_mode="adaptive")
        if options is None:
            raise LLMGymError(f"curriculum must be off or adaptive[:KEY=VALUE,...], got {spec!r}")
        if options.get("mode") == "off" and len(options) > 1:
            raise LLMGymError("curriculum off takes no options; use adaptive:KEY=VALUE,...")
        return cls(**options)

    def to_spec(self) -> str:
        """The shortest spec that `from_spec` reads back into this config."""
        default = CurriculumConfig()
        items = [f"{f.name}={getattr(self, f.name):g}" if isinstance(getattr(self, f.name), float)
                 else f"{f.name}={getattr(self, f.name)}"
                 for f in fields(self) if f.name != "mode" and getattr(self, f.name) != getattr(default, f.name)]
        return self.mode + (":" + ",".join(items) if items else "")


class Curriculum:
    """Per-arm success rates (the update rule) and the prompts they call for (the draw rule).

    `pools` maps each arm to the dataset rows it draws from; `weights` are the base weights of the
    informative arms (default 1 each)."""

    def __init__(self, config: CurriculumConfig, pools: Mapping[str, Sequence[int]], *, seed: int,
                 weights: Mapping[str, float] | None = None):
        if not pools or any(not rows for rows in pools.values()):
            empty = next((a for a, rows in pools.items() if not rows), None)
            raise LLMGymError(f"curriculum arm {empty!r} has no train tasks" if empty else "a curriculum needs arms")
        self.config = config
        self.arms = list(pools)
        self.pools = {arm: list(rows) for arm, rows in pools.items()}
        self.weights = {arm: float((weights or {}).get(arm, 1.0)) for arm in self.arms}
        self.seed = seed
        self.successes = {arm: 0.0 for arm in self.arms}
        self.attempts = {arm: 0.0 for arm in self.arms}
        self.credit = {arm: 0.0 for arm in self.arms}
        self.cursor = {arm: 0 for arm in self.arms}
        self.passes = {arm: 0 for arm in self.arms}
        self.last_shares: dict[str, float] = {}
        self.updates = 0

    # -- update rule -------------------------------------------------------------------------------
    def rate(self, arm: str) -> float | None:
        """The arm's success rate, None before any of its completions was scored."""
        return self.successes[arm] / self.attempts[arm] if self.attempts[arm] > 0 else None

    def update(self, results: Mapping[str, tuple[float, int]]) -> None:
        """Add one scored batch: `results[arm] = (successes, completions scored)`."""
        keep = self.config.memory
        for arm, (right, scored) in results.items():
            if arm in self.successes and scored > 0:
                self.successes[arm] = keep * self.successes[arm] + float(right)
                self.attempts[arm] = keep * self.attempts[arm] + float(scored)
        self.updates += 1

    # -- draw rule ---------------------------------------------------------------------------------
    def informative(self) -> list[str]:
        """The arms in the band (or not yet tried); if none, the arms nearest the band."""
        c = self.config
        rates = {arm: self.rate(arm) for arm in self.arms}
        inside = [a for a, r in rates.items() if r is None or c.low <= r <= c.high]
        if inside:
            return inside
        distance = {a: (c.low - r if r < c.low else r - c.high) for a, r in rates.items() if r is not None}
        nearest = min(distance.values())
        return [a for a in self.arms if math.isclose(distance[a], nearest, abs_tol=1e-12)]

    def shares(self) -> dict[str, float]:
        """The target fraction of the next prompts per arm (sums to 1)."""
        inside = self.informative()
        outside = [a for a in self.arms if a not in inside]
        floor = min(self.config.floor, 1.0 / len(self.arms))  # at most an even split
        rest = 1.0 - floor * len(outside)
        total = sum(self.weights[a] for a in inside)
        return {a: round(floor if a in outside else rest * self.weights[a] / total, 12) for a in self.arms}

    def draw(self, n: int) -> list[tuple[str, int]]:
        """The next `n` prompts as (arm, dataset row)."""
        shares = self.shares()
        if shares != self.last_shares:
            # A new target starts from even credit: what an arm was owed under the old one (an untried
            # level's turns) would otherwise keep drawing it after the rule has moved on.
            self.credit = {arm: 0.0 for arm in self.arms}
            self.last_shares = shares
        picks = []
        for _ in range(n):
            for arm in self.arms:
                self.credit[arm] += shares[arm]
            best = max(self.credit.values())
            # The first of equals (within rounding: thirds do not add up exactly) in the arms' order.
            arm = next(a for a in self.arms if self.credit[a] >= best - 1e-9)
            self.credit[arm] -= 1.0
            picks.append((arm, self._next_row(arm)))
        return picks

    def _next_row(self, arm: str) -> int:
        pool = self.pools[arm]
        order = list(range(len(pool)))
        random.Random(f"{self.seed}/{arm}/{self.passes[arm]}").shuffle(order)
        row = pool[order[self.cursor[arm]]]
        self.cursor[arm] += 1
        if self.cursor[arm] == len(pool):
            self.cursor[arm], self.passes[arm] = 0, self.passes[arm] + 1
        return row

    # -- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_spec(), "updates": self.updates,
                "arms": {arm: {"successes": self.successes[arm], "attempts": self.attempts[arm],
                               "credit": self.credit[arm], "cursor": self.cursor[arm], "passes": self.passes[arm],
                               **({"last_share": self.last_shares[arm]} if arm in self.last_shares else {})}
                         for arm in self.arms}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a saved state; arms the state does not know start fresh (a changed run)."""
        self.updates = int(state.get("updates", 0))
        for arm, saved in (state.get("arms") or {}).items():
            if arm not in self.successes:
                continue
            self.successes[arm], self.attempts[arm] = float(saved["successes"]), float(saved["attempts"])
            self.credit[arm] = float(saved["credit"])
            self.passes[arm] = int(saved["passes"])
            self.cursor[arm] = int(saved["cursor"]) % len(self.pools[arm])
        last = {arm: float(saved["last_share"]) for arm, saved in (state.get("arms") or {}).items()
                if arm in self.successes and "last_share" in saved}
        self.last_shares = last if set(last) == set(self.arms) else {}


# -- arms of a run ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arm:
    """One arm: its name in metrics, the env that writes and scores its tasks, the mixture label of
    that env (its rows' `env` column; None for one env), the level its tasks have (None: the env's
    own), and its base weight."""

    name: str
    env: Any
    label: str | None = None
    level: int | None = None
    weight: float = 1.0


def run_arms(env: Any, spec: str | Sequence[str], config: CurriculumConfig, make: Any) -> list[Arm]:
    """The arms of a run on `env` (a `TextEnv`, or a `Mixture` of several) given as `spec` (the run's
    `env` option), building an env per level with `make(label, level=L)` where the env has levels.

    An env given with `level=` pins its level, and an env with one level has nothing to vary: both
    are one clear error naming what to do instead."""
    from llmgym.mixture import Mixture, parse_env_specs
    from llmgym.registry import parse_name_options

    if isinstance(env, Mixture):
        if len(env) > 1:
            return [Arm(s.label, s.env, label=s.label, weight=s.weight) for s in env]
        env = env.shares[0].env
    label = parse_env_specs(spec)[0].label
    levels = tuple(env.levels)
    wanted = config.level_range()
    if wanted is not None:
        levels = tuple(level for level in levels if wanted[0] <= level <= wanted[1])
        if not levels:
            raise LLMGymError(f"curriculum levels {config.levels}: {label} has levels {list(env.levels)}")
    if "level" in parse_name_options(label)[1] and getattr(env, "level", None) is not None:
        raise LLMGymError(f"--curriculum adaptive varies the level, but {label!r} pins level=: drop level= "
                          f"(levels {list(env.levels)}), or set --curriculum adaptive:levels=A-B")
    if len(levels) < 2:
        raise LLMGymError(f"--curriculum adaptive needs levels or envs to choose from, and {label!r} has "
                          f"{'one level' if len(env.levels) < 2 else 'one level in the range given'}: "
                          "train a mixture (--env A --env B) or an env with levels")
    if getattr(env, "level", None) is None:
        # A dataset env over every difficulty of its file: its tasks carry their level.
        return [Arm(f"level{level}", env, level=level) for level in levels]
    return [Arm(f"level{level}", make(label, level=level), level=level) for level in levels]


def arm_tasks(arm: Arm, n: int, seed: int) -> list[Any]:
    """Up to `n` train tasks of one arm, in the env's deterministic order."""
    if arm.level is not None and getattr(arm.env, "level", None) is None:
        return [t for t in arm.env.tasks("train", seed=seed) if t.meta.get("level") == arm.level][:n]
    return list(arm.env.tasks("train", n=n, seed=seed))


# -- saving with a checkpoint --------------------------------------------------------------------------
def save_state(checkpoint: str | Path, state: Mapping[str, Any]) -> None:
    """Write the sampling state into a checkpoint folder, atomically (`llmgym.io`)."""
    from llmgym.io import atomic_write_text

    atomic_write_text(Path(checkpoint) / STATE_FILE, json.dumps(state, indent=1, sort_keys=True) + "\n")


def load_state(checkpoint: str | Path) -> dict[str, Any] | None:
    """The sampling state saved in a checkpoint folder, None if it holds none (a run trained without)."""
    from llmgym.io import parse_json

    path = Path(checkpoint) / STATE_FILE
    if not path.is_file():
        return None
    state = parse_json(path.read_bytes(), str(path))
    if not isinstance(state, dict):
        raise LLMGymError(f"{path} must hold a JSON object; delete it to resume without the sampling state")
    return state
