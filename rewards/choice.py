"""`ChoiceReward` ("choice"): a multiple-choice answer, exactly one letter A-E, scored strictly.

The final answer is read, in this order, from the last ``\\boxed{}`` (found by the shared parser),
else the last stated answer ("Answer: B", "the answer is (B)"), else the whole completion when it
is nothing but the letter ("B", "(B)", "B."). It must be exactly one letter: "A or B", "A/B",
``\\boxed{A, C}`` and two different letters given as answers anywhere in the completion score 0 as
`hedged`; a final answer that is not a letter scores 0 as `not_a_letter`. A letter inside a box may
be lower case (``\\boxed{b}``); outside one only a capital counts, since "a" is an English word.
The gold (`task.answer`) is the letter.

>>> from llmgym.types import Task
>>> task = Task("Which is a prime? A. 4  B. 7", "B", {"answer_type": "choice"})
>>> [ChoiceReward().score(c, task).value for c in ("\\\\boxed{B}", "(B)", "Answer: B", "so the answer is B.")]
[1.0, 1.0, 1.0, 1.0]
>>> ChoiceReward().score("Answer: A or B", task).reason
'hedged'
>>> ChoiceReward().score("\\\\boxed{A} ... no, \\\\boxed{B}", task).reason
'hedged'
"""

from __future__ import annotations

import re

from llmgym.parsing import extract_answer
from llmgym.rubric import BaseReward
from llmgym.types import Score, Task

LETTERS = "ABCDE"
MAX_SCAN_CHARS = 65_536  # the final answer sits at the end; hostile megabytes cost the same as a line

# One letter, optionally in parentheses, \text{} or bold, optionally followed by ")", "." or ":".
_BOXED_LETTER_RE = re.compile(r"\s*(?:\\text(?:bf)?\s*\{\s*)?\(?\s*([A-Ea-e])\s*\)?\s*\}?\s*[.:]?\s*")
_BARE_LETTER_RE = re.compile(r"\s*\**\s*\(?\s*([A-E])\s*\)?\s*\**\s*[.:]?\s*")
# "answer: B", "answer is (B)", "Final answer = B", "correct option is C" (case-insensitive words).
# The statement's rest is read through a lookahead, so "the answer is A ... the answer is B" finds both.
_STATED_RE = re.compile(r"(?i:\b(?:answer|option|choice)\s*(?:is\s*:?|:|=)\s*(?:option\s+|choice\s+)?)(?=([^\n]*))")
# A letter standing alone at the start of what follows the statement.
_LEAD_RE = re.compile(r"\**\s*\(?\s*([A-E])\s*\)?\**(?![A-Za-z0-9])")
# A second letter joined to the first: "or C", "/ C", ", C", "and C", "& C".
_MORE_RE = re.compile(r"\s*(?:[,/&|]\s*(?:(?i:or|and)\b)?|(?i:or|and)\b)\s*\(?\s*[A-Ea-e]\s*\)?(?![A-Za-z0-9])")
_ONLY_MORE_RE = re.compile(rf"(?:{_MORE_RE.pattern})+\s*[.]?\s*")


def _letter_in_box(content: str) -> tuple[str | None, bool]:
    """(letter, hedged) for the content of one box."""
    m = _BOXED_LETTER_RE.fullmatch(content)
    if m:
        return m.group(1).upper(), False
    lead = re.match(r"\s*(?:\\text\s*\{\s*)?\(?\s*([A-Ea-e])\s*\)?", content)
    if lead and _MORE_RE.match(content, lead.end()):
        return None, True
    return None, False


def stated_letters(text: str) -> tuple[list[str], bool]:
    """Letters given after "answer is"/"answer:" in `text`, in order, and whether any was a hedge."""
    letters, hedged = [], False
    for m in _STATED_RE.finditer(text):
        segment = m.group(1)
        lead = _LEAD_RE.match(segment.lstrip())
        if lead is None:
            continue  # "the answer is not obvious": no letter stated here
        rest = segment.lstrip()[lead.end():]
        if _MORE_RE.match(rest):
            hedged = True
        letters.append(lead.group(1))
    return letters, hedged


def final_letter(completion: str) -> tuple[str | None, str | None]:
    """(letter, None) for a completion whose final answer is one letter, else (None, reason).

    >>> final_letter("The answer is (C).")
    ('C', None)
    >>> final_letter("\\\\boxed{42}")
    (None, 'not_a_letter')
    """
    if not isinstance(completion, str) or not completion.strip():
        return None, "no_answer"
    text = completion[-MAX_SCAN_CHARS:].replace("\x00", "")
    letters, hedged = stated_letters(text)
    parsed = extract_answer(text)
    final = None
    if parsed.source == "boxed":
        boxed = []
        for content in parsed.candidates:
            letter, box_hedged = _letter_in_box(content)
            hedged = hedged or box_hedged
            if letter is not None:
                boxed.append(letter)
        letters = letters + boxed
        final, box_hedged = _letter_in_box(parsed.text or "")
        if final is None and not box_hedged and not hedged:
            return None, "not_a_letter"
    elif letters:
        final = letters[-1]
    else:
        bare = _BARE_LETTER_RE.fullmatch(text)
        if bare is None:
            lead = _LEAD_RE.match(text.strip())
            if lead and _ONLY_MORE_RE.fullmatch(text.strip()[lead.end():]):
                return None, "hedged"  # nothing but "A or B"
            return None, "no_answer"
        final = bare.group(1)
    if hedged or len(set(letters)) > 1:
        return None, "hedged"
    return final, None


class ChoiceReward(BaseReward):
    """1.0 when the completion's one final letter equals the task's letter, else 0.0 with a reason
    (`no_answer`, `not_a_letter`, `hedged`, `wrong`)."""

    name = "choice"

    def score(self, completion: str, task: Task) -> Score:
        letter, reason = final_letter(completion)
        if letter is None:
            return Score.zero(reason or "no_answer")
        gold = str(task.answer).strip().upper()
        if letter == gold:
            return Score(1.0, answer=letter)
        return Score.zero("wrong", letter)
