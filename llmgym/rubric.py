"""`Rubric`: several rewards combined with weights, with a per-component breakdown.

A weight-0 entry is a metric: it is computed and reported in `Score.components` but does not move
the reward. The combined `reason` is the first reason given by a weighted entry, so a wrong answer
reads `wrong` even when the format component was fine.

A reward that raises (a plugin's bug, say on a gold answer it cannot parse) does not take the episode
or the batch down: that completion scores 0 on that entry with reason
`reward_error:<name>`, which outranks every other reason, and the error is logged. `check_env`
scores the env's own tasks and hostile text through each entry and names any reward that raises.
`LLMGymError` (a missing sandbox, a bad reward spec) is the user's to fix, so it still propagates.

>>> from llmgym.types import Score, Task
>>> exact = FunctionReward("correct", lambda c, t: Score(float(c.strip() == str(t.answer))))
>>> length = FunctionReward("length", lambda c, t: Score(len(c)))
>>> rubric = Rubric([(exact, 1.0), (length, 0.0)])
>>> s = rubric.score("4", Task("2+2?", 4))
>>> s.value, s.components["correct"], s.components["length"]
(1.0, 1.0, 1.0)
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable, Mapping, Sequence

from .errors import LLMGymError
from .types import Reward, Score, Task

log = logging.getLogger(__name__)


def check_batch(completions: Sequence[str], tasks: Sequence[Task]) -> None:
    """Batch forms take one task per completion; anything else is a caller's bug."""
    if len(completions) != len(tasks):
        raise ValueError(f"{len(completions)} completions for {len(tasks)} tasks")


def reward_error_reason(name: str) -> str:
    """The reason a completion carries when reward `name` raised on it."""
    return f"reward_error:{name}"


def score_batch_guarded(reward: Reward, completions: Sequence[str], tasks: Sequence[Task]) -> list[Score]:
    """`reward.score_batch`, except that a completion the reward raises on scores 0 with reason
    `reward_error:<name>` (and the error is logged) instead of raising.

    When the batch raises, each completion is scored alone, so one bad input costs only itself.

    >>> from llmgym.types import Task
    >>> broken = FunctionReward("gold_num", lambda c, t: float(c == str(float(t.answer))))
    >>> [s.reason for s in score_batch_guarded(broken, ["3.0", "3.0"], [Task("q", 3), Task("q", "x")])]
    [None, 'reward_error:gold_num']
    """
    check_batch(completions, tasks)
    try:
        return list(reward.score_batch(completions, tasks))
    except LLMGymError:
        raise
    except Exception:
        if len(completions) == 1:
            return [_reward_error(reward, tasks[0])]
    out = []
    for completion, task in zip(completions, tasks):
        try:
            out.append(reward.score_batch([completion], [task])[0])
        except LLMGymError:
            raise
        except Exception:
            out.append(_reward_error(reward, task))
    return out


def _reward_error(reward: Reward, task: Task) -> Score:
    log.warning("reward %r raised on task %s; scored 0 (reason %s)", reward.name, task.id,
                reward_error_reason(reward.name), exc_info=True)
    return Score.zero(reward_error_reason(reward.name))


# What a reward is for, declared as its `role`, so the core finds a rubric's success metric or its
# gold labeler without knowing any reward's name (a plugin's reward takes the same part by
# declaring the same role).
SUCCESS = "success"  # solved or not: accuracy, pass@k and `correct` in reports
ORACLE = "oracle"  # the ground-truth labeler a learned reward stands in for: the guard's gold
FORMAT = "format"  # the answer is in the asked-for form: `format_ok` in reports
ROLES = (SUCCESS, ORACLE, FORMAT)


def role_of(reward: Reward) -> str | None:
    """The role a reward declares (`reward.role`), None for one that declares none."""
    return getattr(reward, "role", None)


def component_with_role(reward: Reward, role: str) -> str | None:
    """The name of the component of `reward` (an env's rubric, or one reward) that declares `role`,
    or None: what a report reads from `Score.components` for success or format."""
    if isinstance(reward, Rubric):
        return reward.name_with_role(role)
    return reward.name if role_of(reward) == role else None


def solved_at(reward: Reward) -> float:
    """The value at which the success component of `reward` (an env's rubric, or one reward) counts a
    task as solved: the success reward's `solved_at`, 1.0 unless it declares less. A reward that gives
    a right answer in the wrong form partial credit (math's bare number: 0.5) declares that credit, so
    accuracy counts right answers and the format figure beside it counts the form."""
    if isinstance(reward, Rubric):
        entry = reward.entry_with_role(SUCCESS)
        reward = entry[0] if entry is not None else reward
    return float(getattr(reward, "solved_at", 1.0))


def is_solved(components: Mapping[str, float], reward: float, success: str | None, at: float = 1.0) -> bool:
    """Whether an answer solved its task: the success component (`component_with_role(rubric, SUCCESS)`)
    at or above `at` (`solved_at(rubric)`), or full reward where the rubric names no success entry.

    >>> is_solved({"correct": 0.5, "format": 0.0}, 0.5, "correct", at=0.5), is_solved({}, 0.9, None)
    (True, False)
    """
    return components[success] >= at if success in components else reward >= 1.0


class BaseReward:
    """Base class for rewards: subclasses implement `score`; `score_batch` loops unless overridden.

    `value_range` is the interval `Score.value` always lies in; the checker and rubric rely on it.
    `role` says what the reward is for (one of `ROLES`, None for none): the core looks rewards up by
    role (`Rubric.entry_with_role`), never by name.
    """

    name: str = "reward"
    value_range: tuple[float, float] = (0.0, 1.0)
    role: str | None = None

    def score(self, completion: str, task: Task) -> Score:
        raise NotImplementedError

    def score_batch(self, completions: Sequence[str], tasks: Sequence[Task]) -> list[Score]:
        check_batch(completions, tasks)
        return [self.score(c, t) for c, t in zip(completions, tasks)]

    def __call__(self, completion: str, task: Task) -> Score:
        return self.score(completion, task)


class FunctionReward(BaseReward):
    """A reward from a plain function `(completion, task) -> Score | float`."""

    def __init__(self, name: str, fn: Callable[[str, Task], Score | float],
                 value_range: tuple[float, float] = (0.0, 1.0), *, role: str | None = None):
        self.name = name
        self.fn = fn
        self.value_range = value_range
        self.role = role

    def score(self, completion: str, task: Task) -> Score:
        out = self.fn(completion, task)
        return out if isinstance(out, Score) else Score(float(out))


class Rubric(BaseReward):
    """Weighted sum of rewards. Entries are `(reward, weight)` pairs; names must be unique."""

    name = "rubric"

    def __init__(self, entries: Iterable[tuple[Reward, float]]):
        self.entries = [(r, float(w)) for r, w in entries]
        if not self.entries:
            raise ValueError("a rubric needs at least one reward")
        names = [r.name for r, _ in self.entries]
        if len(set(names)) != len(names):
            raise ValueError(f"reward names in a rubric must be unique, got {names}")

    @property
    def components(self) -> list[str]:
        return [r.name for r, _ in self.entries]

    def entry_with_role(self, role: str) -> tuple[Reward, float] | None:
        """The first `(reward, weight)` whose reward declares `role` (see `ROLES`), or None.

        >>> solved = FunctionReward("solved", lambda c, t: 1.0, role=SUCCESS)
        >>> rubric = Rubric([(FunctionReward("length", lambda c, t: 0.0), 0.0), (solved, 1.0)])
        >>> rubric.entry_with_role(SUCCESS)[0].name, rubric.entry_with_role(ORACLE)
        ('solved', None)
        """
        if role not in ROLES:
            raise ValueError(f"unknown reward role {role!r}; roles are {', '.join(ROLES)}")
        return next(((r, w) for r, w in self.entries if role_of(r) == role), None)

    def name_with_role(self, role: str) -> str | None:
        """The component name of the entry with `role` (what `Score.components` is keyed by), or None."""
        entry = self.entry_with_role(role)
        return entry[0].name if entry else None

    @property
    def weights(self) -> dict[str, float]:
        return {r.name: w for r, w in self.entries}

    @property
    def value_range(self) -> tuple[float, float]:  # type: ignore[override]
        lo = hi = 0.0
        for reward, w in self.entries:
            a, b = getattr(reward, "value_range", (0.0, 1.0))
            lo += min(w * a, w * b)
            hi += max(w * a, w * b)
        return (lo, hi)

    def score(self, completion: str, task: Task) -> Score:
        return self.score_batch([completion], [task])[0]

    def score_batch(self, completions: Sequence[str], tasks: Sequence[Task]) -> list[Score]:
        check_batch(completions, tasks)
        per_reward = [score_batch_guarded(reward, completions, tasks) for reward, _ in self.entries]
        out = []
        for i in range(len(completions)):
            value, components, reason, answer, error = 0.0, {}, None, None, None
            for (reward, weight), scores in zip(self.entries, per_reward):
                s = scores[i]
                components[reward.name] = s.value
                for sub, v in s.components.items():
                    if sub != reward.name:
                        components[f"{reward.name}/{sub}"] = v
                if weight:
                    value += weight * s.value
                    reason = reason or s.reason
                    if error is None and s.reason == reward_error_reason(reward.name):
                        error = s.reason
                answer = answer if answer is not None else s.answer
            out.append(Score(value, components, error or reason, answer))
        return out
