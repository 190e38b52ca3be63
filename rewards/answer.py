"""Answer rewards: `AnswerReward` ("correct"), `FormatReward` ("format"), `LengthReward` ("length").

All three read the completion through `llmgym.parsing.extract_answer`, the project's one parser,
and `AnswerReward` compares through `llmgym.rewards.verify.answers_match`, the one verifier.

>>> from llmgym.types import Task
>>> task = Task("What is 2 + 2?", "4", {"answer_type": "number"})
>>> AnswerReward().score("2 + 2 = \\\\boxed{4}", task).value
1.0
>>> AnswerReward().score("\\\\boxed{3} or \\\\boxed{4}", task).reason
'hedged'
>>> FormatReward().score("the answer is 4", task).reason
'no_boxed'
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from llmgym.parsing import ParsedAnswer, extract_answer
from llmgym.rubric import FORMAT, SUCCESS, BaseReward, check_batch
from llmgym.types import Score, Task

from . import verify_worker
from .verify import (MAX_ANSWER_CHARS, answers_match, is_multi_valued, normalize_string, parse_number,
                     prefilter)

MAX_CANDIDATES = 64  # more final answers than this is spam, not hedging between a few values
_QUESTION_WORD_RE = re.compile(r"[A-Za-z]{3,}")


def distinct_answers(candidates: Sequence[str]) -> int:
    """How many different values `candidates` hold: ``3`` and ``3.0`` and ``\\frac{6}{2}`` count once."""
    seen: set[Any] = set()
    for text in candidates[:MAX_CANDIDATES]:
        value = parse_number(text, trusted=True)
        seen.add(value if value is not None else normalize_string(text).replace(" ", ""))
    return len(seen) + max(0, len(candidates) - MAX_CANDIDATES)


def question_words(task: Task) -> frozenset[str]:
    """The words of a task's question, which may follow a value in its answer (``5 apples``)."""
    return frozenset(w.lower() for w in _QUESTION_WORD_RE.findall(task.text[-4 * MAX_ANSWER_CHARS:]))


def _short(text: str | None) -> str | None:
    return None if text is None else text[:MAX_ANSWER_CHARS]


class AnswerReward(BaseReward):
    """1.0 when the final answer equals `task.answer`, else 0.0 with a reason.

    The answer is the last ``\\boxed{}`` (or, failing that, an ``<answer>`` tag, a ``####`` line or
    the last mathematical expression: a small model rarely boxes at first, and crediting its last
    number is what gives GRPO a first signal). Different final answers (two boxes, or a box and a
    ``####`` line that disagree) score 0 as `hedged`, and so does a fallback answer whose clause
    hedges (``either 13 or 12``, ``not 12``); for a gold that is several values (a set of
    solutions) the boxes together are the answer. `task.meta["answer_type"]` says how to compare
    (see `answers_match`); `timeout` bounds the symbolic comparison of one answer, in seconds.

    `fallback` is the credit of a right answer found only by the fallback (a last expression, no box,
    ``<answer>`` tag or ``####`` line), with reason `no_explicit_answer` when below 1: an env whose
    prompt asks for an answer format gives less than 1, so that dropping the format never pays while a
    right bare number still beats a wrong one (the math env's rubric: 0.5).
    """

    name = "correct"
    role = SUCCESS

    def __init__(self, timeout: float | None = None, *, fallback: float = 1.0):
        self.timeout = timeout
        self.fallback = fallback
        # A right answer in the wrong form still solves the task (held-out accuracy counts it); what it
        # lacks is the form, which the format figure beside accuracy counts (`llmgym.rubric.solved_at`).
        self.solved_at = fallback if 0.0 < fallback < 1.0 else 1.0
        # The first symbolic comparison of a process waits 2-5 s for sympy's imports: start the
        # worker now, in the background, so that it is ready before the first step needs it.
        verify_worker.prestart()

    def score(self, completion: str, task: Task) -> Score:
        return self.score_batch([completion], [task])[0]

    def score_batch(self, completions: Sequence[str], tasks: Sequence[Task]) -> list[Score]:
        """Score many completions; identical (answer, gold) pairs are verified once."""
        check_batch(completions, tasks)
        verdicts: dict[tuple[str, str, str | None, str], tuple[bool, str | None]] = {}
        words: dict[str, frozenset[str]] = {}
        out = []
        for completion, task in zip(completions, tasks):
            parsed = extract_answer(completion)
            kind = task.meta.get("answer_type")
            answer, early = self._answer(parsed, task, kind)
            if early is not None:
                out.append(Score.zero(early, _short(answer)))
                continue
            if task.id not in words:
                words[task.id] = question_words(task)
            key = (answer, _gold_key(task.answer), kind, task.id)
            if key not in verdicts:
                verdicts[key] = answers_match(answer, task.answer, kind, timeout=self.timeout,
                                              words=words[task.id])
            ok, reason = verdicts[key]
            credit = self.fallback if parsed.source == "last_number" else 1.0
            if ok and credit < 1.0:
                out.append(Score(float(credit), {}, "no_explicit_answer", _short(answer)))
                continue
            out.append(Score(1.0 if ok else 0.0, {}, None if ok else (reason or "wrong"), _short(answer)))
        return out

    @staticmethod
    def _answer(parsed: ParsedAnswer, task: Task, kind: str | None) -> tuple[str | None, str | None]:
        """The answer to verify and, when it is settled before verifying, the reason it scores 0."""
        if not parsed.found or not parsed.text.strip():  # type: ignore[union-attr]
            return parsed.text, "no_answer"
        if parsed.hedge:
            return parsed.text, "hedged"
        if len(parsed.candidates) > 1 and distinct_answers(parsed.candidates) > 1:
            if kind != "string" and is_multi_valued(task.answer, kind):
                # `\\boxed{(2, 2)} and \\boxed{(6, 2)}`: together, the set the gold is
                return ", ".join(dict.fromkeys(parsed.candidates[:MAX_CANDIDATES])), None
            return parsed.text, "hedged"
        return parsed.text, None


def _gold_key(answer: Any) -> str:
    try:
        return json.dumps(answer, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(answer)


class FormatReward(BaseReward):
    """1.0 when the completion gives exactly one distinct final answer in ``\\boxed{}``, else 0.

    Reasons: `no_boxed` (no box at all), `no_answer` (an empty box), `hedged` (several different
    boxed answers), and the verifier's pre-filter reasons for a box no parser should read
    (`too_long`, `too_complex`, `unparsable`).
    """

    name = "format"
    role = FORMAT

    def score(self, completion: str, task: Task) -> Score:
        parsed = extract_answer(completion)
        if parsed.source != "boxed":
            return Score.zero("no_boxed", _short(parsed.text))
        text, reason = prefilter(parsed.text or "")
        if text is None:  # empty, or a box no parser should be asked to read
            return Score.zero(reason or "no_answer", _short(parsed.text))
        if distinct_answers(parsed.candidates) > 1:
            return Score.zero("hedged", _short(text))
        return Score(1.0, answer=text)


class LengthReward(BaseReward):
    """1.0 for a completion within `budget` units, then falling linearly to 0 at twice the budget.

    Units are characters, or tokens when a `count_tokens(text) -> int` function is given (a
    tokenizer's ``lambda t: len(tok.encode(t))``). Used with weight 0 it is a metric; with a small
    weight it nudges a policy towards shorter answers.

    >>> r = LengthReward(budget=10)
    >>> r.score("x" * 10, None).value, r.score("x" * 15, None).value, r.score("x" * 30, None).reason
    (1.0, 0.5, 'too_long')
    """

    name = "length"

    def __init__(self, budget: int = 2048, count_tokens: Any = None):
        if budget < 1:
            raise ValueError(f"budget must be >= 1, got {budget}")
        self.budget = int(budget)
        self.count_tokens = count_tokens

    def score(self, completion: str, task: Task | None) -> Score:
        if not isinstance(completion, str):
            return Score.zero("no_answer")
        try:
            size = int(self.count_tokens(completion)) if self.count_tokens else len(completion)
        except Exception:  # a tokenizer choking on hostile text: fall back to characters
            size = len(completion)
        if size <= self.budget:
            return Score(1.0)
        value = max(0.0, 1.0 - (size - self.budget) / self.budget)
        return Score(value, reason="too_long")
