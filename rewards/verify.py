"""THE answer verifier: `answers_match(predicted, gold, answer_type)` for every env and reward.

Model output is hostile by default, so scoring runs in three stages, cheapest first:

1. **Pre-filters** (`verify_prefilter`; pure Python, linear time): length, control characters,
   brace nesting, power towers, huge exponents and factorials. Anything that could make sympy hang
   or eat memory scores 0 here with a reason (`too_long`, `too_complex`, `unparsable`) before it
   reaches sympy.
2. **Exact fast path** (`verify_numbers`): numbers (integers, decimals, fractions, ``\\frac``,
   ``1,000``, ``$5``, ``5 cm``, ``x = 3``) and sets of numbers are compared as `Fraction`s; strings
   are compared after normalisation, never symbolically. Most answers of arithmetic and word
   problems never leave this path, which is why it is many times faster than calling math-verify.
3. **Symbolic path**: math-verify (sympy) equivalence in a worker *process* with a deadline
   (`verify_worker`). math-verify's own timeouts use ``signal.alarm``, which only works in the
   main thread and cannot interrupt a C-level big-integer operation; a process can always be
   killed, so scoring is safe from threads and process pools and bounded in time.

>>> answers_match("0.5", "1/2")
(True, None)
>>> answers_match("x = 3", "3")
(True, None)
>>> answers_match("$1,000", 1000)
(True, None)
>>> answers_match("4", "3")
(False, 'wrong')
>>> answers_match("9^{9^{9^{9}}}", "3")
(False, 'too_complex')
>>> answers_match(" Strawberry. ", "strawberry", "string")
(True, None)
>>> answers_match("12 is wrong", "12"), answers_match("x = 1 \\\\lor x = 2", "2")
((False, 'hedged'), (False, 'hedged'))
>>> answers_match("5 apples", "5", words={"apples"}), answers_match("5 bananas", "5")
((True, None), (False, 'extra_text'))

Rules a policy could otherwise game, decided once here (`tests/test_verifier_redteam.py` pins them):

- **One value for a one-valued gold.** Several values (``12, 13``, ``x = 1 \\lor x = 2``,
  ``7 \\text{ or } 8``) against a gold that is one value is a hedge. A gold that is several values
  (a set, ``(2, 2), (6, 2)``) is matched as a set: every element once, nothing extra.
- **Words after a value** are allowed only when each is a unit (``cm``, ``dollars``), a harmless
  suffix (``in total``, ``each``) or a word of the question itself (`words`, which the answer reward
  takes from the prompt: ``5 apples`` for "how many apples"). Hedge and negation words
  (`llmgym.parsing.HEDGE_WORDS`: ``or``, ``maybe``, ``not``, ``wrong``, ...) are never allowed, in or
  out of ``\\text{}``. String answers (``strawberry``) are compared as text and exempt.
- **Braces must nest**: ``12} or {13`` (braces closed before they open, injected to break out of
  a box) is `unparsable`.
- **Decimals**: a decimal stands for a gold it is the correct rounding of, to at most 10⁻⁶
  relative error: ``0.333333`` for 1/3, but not ``0.333334`` (no rounding of 1/3 ends in 4) and not
  ``0.33``.
- **Commas**: ``1,234`` is one number only in groups of three; ``1,2`` is two numbers (a hedge
  against 12). ``\\boxed{3 4}`` is two numbers too, never 34; ``1\\,000`` is 1000.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Iterable

from llmgym.parsing import HEDGE_COMMANDS, HEDGE_WORDS

# The first two stages live in their own modules; their public names are importable from here.
from .verify_numbers import (HARMLESS_SUFFIXES, NUMERIC_TOLERANCE, UNITS, _allowed_word, _compact, infer_answer_type,
                             normalize_string, numbers_equal, parse_number, parse_number_set, split_values)
from .verify_prefilter import (_COMMAND_RE, MAX_ANSWER_CHARS, MAX_DEPTH, MAX_EXPONENT, MAX_FACTORIAL,
                               prefilter)

__all__ = ["ANSWER_TYPES", "HARMLESS_SUFFIXES", "MAX_ANSWER_CHARS", "MAX_DEPTH", "MAX_EXPONENT", "MAX_FACTORIAL",
           "NUMERIC_TOLERANCE", "UNITS", "answers_match", "infer_answer_type", "is_multi_valued", "normalize_string",
           "numbers_equal", "parse_number", "parse_number_set", "prefilter", "split_values"]

ANSWER_TYPES = ("number", "expression", "set", "interval", "equation", "string")
# Characters an answer that sympy could read may contain; anything else (CJK, emoji, Arabic digits)
# cannot parse, so it is rejected without starting sympy.
_MATH_CHARS_RE = re.compile(r"[^\x20-\x7e\n\t√π×÷−±≤≥∞∪∩°€£·⋅]")
# Words that are mathematics, not prose, inside an expression.
_MATH_WORDS = frozenset("""
    sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln exp sqrt pi infty inf
    frac dfrac tfrac cdot times div left right text mathrm gcd lcm max min mod det deg
""".split())
_WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SEPARATOR_WORDS = frozenset(("or", "and"))
# The LaTeX commands an answer of each kind may use; any other (\cancel, \to, \mid, \hspace, ...)
# makes it unparsable before it reaches math-verify, which would read a part of it.
_NUMBER_COMMANDS = frozenset(r"""
    \frac \dfrac \tfrac \sqrt \cdot \times \div \pi \left \right \text \textbf \textit \textrm \mathrm
    \mathbf \mbox \operatorname \displaystyle \quad \qquad \circ \degree \infty \ln \log \exp \sin \cos
    \tan \cot \sec \csc \arcsin \arccos \arctan \sinh \cosh \tanh \approx
""".split())
_NUMBER_SUBSCRIPT_RE = re.compile(r"[^A-Za-z\s]\s*_|\s_")
_SET_COMMANDS = frozenset(r"\cup \cap \emptyset \varnothing \pm \mp \lor \vee \setminus".split())
_RELATIONS = frozenset(r"\le \leq \ge \geq \lt \gt \neq \ne".split())
_COMMANDS = {
    "number": _NUMBER_COMMANDS,
    "expression": _NUMBER_COMMANDS | frozenset(r"\binom \choose \theta \alpha \beta \gamma \lambda \mu \sigma".split()),
    "set": _NUMBER_COMMANDS | _SET_COMMANDS,
    "interval": _NUMBER_COMMANDS | _RELATIONS | frozenset(r"\cup \emptyset \varnothing \in \mathbb".split()),
    "equation": _NUMBER_COMMANDS | _RELATIONS,
}
_FREE_VARIABLE_RE = re.compile(r"(?<![A-Za-z])[a-df-hj-zA-Z](?![A-Za-z])")  # a lone letter, not e or i
# Prose punctuation that no mathematical answer holds: `\frac{1}{3}???`, `12...`, `"12"`.
_JUNK_RE = re.compile(r"[?@#\"`]|\.\.|!!")


# -- the one entry point ------------------------------------------------------------------------
def answers_match(predicted: Any, gold: Any, answer_type: str | None = None,
                  *, timeout: float | None = None, words: Iterable[str] = ()) -> tuple[bool, str | None]:
    """Whether `predicted` (an answer already extracted from a completion) matches `gold`.

    Returns ``(True, None)`` or ``(False, reason)`` with reason one of `no_answer`, `wrong`,
    `hedged`, `extra_text`, `too_long`, `too_complex`, `unparsable`, `timeout`, `verifier_error`.
    Never raises. `words` are words that may follow a value (the answer reward passes the words of
    the question). Answers settled by the pre-filters or the exact path take microseconds; a
    symbolic comparison gets `timeout` CPU seconds (default `verify_worker.DEFAULT_TIMEOUT`, 0.5)
    and its worker is killed after ``HARD_FACTOR * timeout + HARD_MARGIN`` wall seconds whatever
    happens. Thread-safe and fork-safe.
    """
    try:
        allowed = frozenset(w.lower() for w in words) - HEDGE_WORDS
        return _answers_match(predicted, gold, answer_type, timeout, allowed)
    except Exception:  # a bug must not turn into a crashed training run: score 0, say so
        import logging

        logging.getLogger(__name__).exception("answer verification failed")
        return False, "verifier_error"


def is_multi_valued(gold: Any, answer_type: str | None = None) -> bool:
    """Whether `gold` is several values (a set, a list of solutions) rather than one."""
    if isinstance(gold, (list, tuple, set, frozenset)):
        return True
    kind = answer_type if answer_type in ANSWER_TYPES else infer_answer_type(gold)
    return kind == "set" or (kind not in ("string", "interval") and len(split_values(str(gold))) > 1)


def _answers_match(predicted: Any, gold: Any, answer_type: str | None, timeout: float | None,
                   words: frozenset[str]) -> tuple[bool, str | None]:
    if predicted is None:
        return False, "no_answer"
    if isinstance(predicted, (int, float, Fraction)) and not isinstance(predicted, bool):
        predicted = str(predicted)
    kind = answer_type if answer_type in ANSWER_TYPES else infer_answer_type(gold)
    if kind == "string":
        if not isinstance(predicted, str) or len(predicted) > 4 * MAX_ANSWER_CHARS:
            return False, "too_long"
        if not predicted.strip():
            return False, "no_answer"
        return (True, None) if normalize_string(predicted) == normalize_string(gold) else (False, "wrong")
    pred, reason = prefilter(predicted)
    if pred is None:
        return False, reason
    multi = is_multi_valued(gold, kind)
    reason = _form_reason(pred, kind, multi, words)
    if reason:
        return False, reason
    gold_text = _gold_text(gold)
    if not multi and kind != "interval" and len(split_values(pred)) > 1:
        return False, "hedged"  # `12, 13` or `x = 1 \lor x = 2` against one value
    if kind == "number":
        g, p = parse_number(gold, trusted=True), parse_number(pred, words=words)
        if g is not None and p is not None:
            return (True, None) if numbers_equal(p, g, pred) else (False, "wrong")
        if g is not None and _FREE_VARIABLE_RE.search(_COMMAND_RE.sub(" ", pred)):
            return False, "wrong"  # `1 x` holds a variable: no number, and no need to ask sympy
    elif multi:
        g_set, p_set = parse_number_set(gold, trusted=True), parse_number_set(pred, words=words)
        if g_set is not None and p_set is not None:
            if len(g_set) == len(p_set) and all(any(numbers_equal(p, g, pred) for p in p_set) for g in g_set):
                return True, None
            return False, "wrong"
        if not (_is_symbolic_set(gold_text) or _is_symbolic_set(pred)):
            return _sets_match(pred, gold_text, timeout, words)
    return _compare(pred, gold_text, kind, timeout)


def _compare(pred: str, gold_text: str, kind: str, timeout: float | None) -> tuple[bool, str | None]:
    """Spelling first, then math-verify in its bounded worker."""
    if _compact(pred) == _compact(gold_text):
        return True, None
    if _MATH_CHARS_RE.search(pred):
        return False, "unparsable"
    from .verify_worker import symbolic_match

    return symbolic_match(pred, gold_text, kind, timeout=timeout)


def _is_symbolic_set(gold_text: str) -> bool:
    """A set written with ``\\pm`` (``3 \\pm \\sqrt{15}``) only math-verify can expand."""
    return "\\pm" in gold_text or "\\mp" in gold_text


def _sets_match(pred: str, gold: str, timeout: float | None, words: frozenset[str]) -> tuple[bool, str | None]:
    """Element by element: every gold element matched by one predicted element, nothing extra."""
    gold_items = list(dict.fromkeys(split_values(gold)))
    pred_items = list(dict.fromkeys(split_values(pred)))
    if len(pred_items) != len(gold_items):
        return False, "wrong"
    if len(gold_items) == 1 and (pred_items[0], gold_items[0]) == (pred, gold):
        return _compare(pred, gold, "expression", timeout)  # `{x}`: nothing to split
    unused = list(pred_items)
    for g in gold_items:
        for p in unused:
            if _answers_match(p, g, None, timeout, words) == (True, None):
                unused.remove(p)
                break
        else:
            return False, "wrong"
    return True, None


def _form_reason(pred: str, kind: str, multi: bool, words: frozenset[str]) -> str | None:
    """Why `pred` is no mathematical answer of `kind`, or None.

    `hedged` for hedge or negation words and commands; `unparsable` for LaTeX commands outside
    the small grammar of answers of that kind (``\\cancel{13} 12``, ``12 \\to 13``, ``12 \\mid 13``:
    math-verify reads a part of what it cannot parse whole, so they must not reach it), for a line
    break or an ellipsis, and for ``|`` that is not an absolute value around the whole answer;
    `extra_text` for prose. Single letters are variables; words of the question, units and
    function names are allowed."""
    allowed = _COMMANDS[kind] | (_SET_COMMANDS if multi else frozenset())
    for m in _COMMAND_RE.finditer(pred):
        command = m.group()
        if command in HEDGE_COMMANDS and not (multi and command in ("\\pm", "\\mp", "\\lor", "\\vee")):
            return "hedged"
        if command not in allowed:
            return "unparsable"
    if "\\\\" in pred or "..." in pred:
        return "unparsable"
    if "|" in pred and not (kind in ("expression", "equation") or _absolute_value(pred)):
        return "unparsable"
    if "_" in pred and (kind == "number" or _NUMBER_SUBSCRIPT_RE.search(pred)):
        return "unparsable"  # `12_{13}`: a subscript is no part of a number (x_{1} is a name)
    plain = _COMMAND_RE.sub(" ", pred)
    extra = "extra_text" if _JUNK_RE.search(plain) else None
    for m in _WORD_RE.finditer(plain):
        w = m.group().lower()
        if w in HEDGE_WORDS and not (multi and w in _SEPARATOR_WORDS):
            return "hedged"
        if len(w) > 2 and extra is None and w not in _MATH_WORDS and not _allowed_word(w, words):
            extra = "extra_text"
    return extra


def _absolute_value(pred: str) -> bool:
    s = pred.strip()
    return s.count("|") == 2 and s.startswith("|") and s.endswith("|")


def _gold_text(gold: Any) -> str:
    if isinstance(gold, (list, tuple, set, frozenset)):
        return "\\{" + ", ".join(str(g) for g in gold) + "\\}"
    if isinstance(gold, Fraction):
        return f"\\frac{{{gold.numerator}}}{{{gold.denominator}}}" if gold.denominator != 1 else str(gold.numerator)
    return str(gold)
