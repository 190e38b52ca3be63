"""The one scoring path of a batch of finished episodes, used by `ToolEnv.step`, the TRL reward
functions of `llmgym train` (`llmgym.train.data`) and the verifiers adapter.

An episode is a TRL-style completion: a string, or chat messages (a tool episode's assistant turns,
tool results and final answer). Its text is the last assistant message; the env's rubric scores the
texts of a batch once (`Rubric.score_batch`, every entry guarded), and an episode of a tool env that
ended on a tool call (turn or length limit) instead of an answer scores 0 on every component with
reason `turn_limit` (`unanswered_score`): the rule lives here and nowhere else.

    >>> from llmgym.rubric import FunctionReward, Rubric
    >>> rubric = Rubric([(FunctionReward("correct", lambda c, t: float(c == "4")), 1.0)])
    >>> [s.value for s in score_texts(rubric, ["4", "5"], [Task("2+2?", 4)] * 2)]
    [1.0, 0.0]
    >>> s = unanswered_score(rubric)
    >>> s.value, s.reason, s.components
    (0.0, 'turn_limit', {'correct': 0.0})
"""

from __future__ import annotations

from typing import Any, Sequence

from .rubric import Rubric
from .tools import parse_tool_call
from .types import Score, Task

UNANSWERED = "turn_limit"  # the reason of an episode that ended on a tool call


def _field(message: Any, name: str) -> Any:
    """A message's field, whether it is a dict (TRL) or an object (verifiers' message types)."""
    return message.get(name) if isinstance(message, dict) else getattr(message, name, None)


def message_role(message: Any) -> str:
    return str(_field(message, "role") or "")


def message_text(message: Any) -> str:
    """A message's text: its content, or the text of its content parts."""
    content = _field(message, "content")
    if isinstance(content, list):  # content parts
        return "".join(str(_field(p, "text") or "") for p in content)
    return str(content or "")


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the last assistant message of chat messages (in a tool
    episode the earlier ones were tool calls)."""
    if isinstance(completion, str):
        return completion
    parts = [message_text(m) for m in completion or [] if message_role(m) == "assistant"]
    return parts[-1] if parts else "".join(message_text(m) for m in completion or [])


def ends_in_tool_call(completion: Any) -> bool:
    """Whether an episode stopped on a tool call instead of an answer. A malformed call, which TRL
    leaves as text, counts as a call too."""
    if isinstance(completion, str):
        return parse_tool_call(completion) is not None
    last = ([m for m in completion or [] if message_role(m) == "assistant"] or [{}])[-1]
    return bool(_field(last, "tool_calls")) or parse_tool_call(message_text(last)) is not None


def unanswered_score(rubric: Rubric) -> Score:
    """The score of an episode that ended on a tool call: 0 on every component, reason `turn_limit`."""
    return Score.zero(UNANSWERED, **{name: 0.0 for name in rubric.components})


def score_texts(rubric: Rubric, texts: Sequence[str], tasks: Sequence[Task],
                unanswered: Sequence[bool] | None = None) -> list[Score]:
    """`rubric.score_batch` of the answered texts (each scored once), `unanswered_score` for the others."""
    flags = list(unanswered) if unanswered is not None else [False] * len(texts)
    answered = [i for i, u in enumerate(flags) if not u]
    scored = iter(rubric.score_batch([texts[i] for i in answered], [tasks[i] for i in answered]) if answered else [])
    return [unanswered_score(rubric) if u else next(scored) for u in flags]


def score_episodes(env: Any, completions: Sequence[Any], tasks: Sequence[Task]) -> tuple[list[str], list[Score]]:
    """The texts of `completions` and their scores by `env`'s rubric; for a tool env (`ToolEnv`), an episode that ended on a tool call scores `unanswered_score`."""
    from .env import ToolEnv  # here: env.py imports this module

    texts = [completion_text(c) for c in completions]
    unanswered = [isinstance(env, ToolEnv) and ends_in_tool_call(c) for c in completions]
    return texts, score_texts(env.rubric, texts, tasks, unanswered)


def component_columns(rubric: Rubric, scores: Sequence[Score]) -> dict[str, list[float]]:
    """Each rubric entry's values over a batch of scores (the columns TRL's reward functions return)."""
    return {name: [float(s.components.get(name, 0.0)) for s in scores] for name in rubric.components}


def sub_components(rubric: Rubric, scores: Sequence[Score]) -> dict[str, list[float]]:
    """The values of the components an entry reports below its own (`correct/parsed`, ...), keyed
    `ENTRY/SUB`, over the scores that carry them."""
    top = set(rubric.components)
    out: dict[str, list[float]] = {}
    for s in scores:
        for name, value in s.components.items():
            if name not in top:
                out.setdefault(name, []).append(float(value))
    return out
