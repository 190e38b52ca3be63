"""THE answer verifier: `answers_match(predicted, gold, answer_type)` for every env and reward.

Model output is hostile by default, so scoring runs in three stages, cheapest first:

1. **Pre-filters** (pure Python, linear time): length, control characters, brace nesting,
   power towers, huge exponents and factorials. Anything that could make sympy hang or eat memory
   scores 0 here with a reason (`too_long`, `too_complex`, `unparsable`) before it reaches sympy.
2. **Exact fast path**: numbers (integers, decimals, fractions, ``\\frac``, ``1,000``, ``$5``,
   ``5 cm``, ``x = 3``) and sets of numbers are compared as `Fraction`s; strings are compared
   after normalisation, never symbolically. Most answers of arithmetic and word problems never
   leave this path, which is why it is many times faster than calling math-verify.
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
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

ANSWER_TYPES = ("number", "expression", "set", "interval", "equation", "string")
MAX_ANSWER_CHARS = 1000  # a final answer longer than this is not an answer
MAX_DEPTH = 16           # brace/parenthesis nesting
MAX_EXPONENT = 10_000    # largest integer literal allowed in an exponent or a scientific exponent
MAX_FACTORIAL = 1000
NUMERIC_TOLERANCE = Fraction(1, 10**6)  # for answers written as rounded decimals, as math-verify does

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Characters an answer that sympy could read may contain; anything else (CJK, emoji, Arabic digits)
# cannot parse, so it is rejected without starting sympy.
_MATH_CHARS_RE = re.compile(r"[^\x20-\x7e\n\t√π×÷−±≤≥∞∪∩°€£·⋅]")
_SCI_EXP_RE = re.compile(r"\d[eE][+-]?(\d+)")
_FACTORIAL_RE = re.compile(r"(\d+)\s*!|[)}\]]\s*!|!\s*!|\\(?:Gamma|factorial)|factorial\s*\(")
_INT_RE = re.compile(r"\d+")
_LETTER_RE = re.compile(r"[A-Za-z]")
_COMMAND_RE = re.compile(r"\\[A-Za-z]+")
_DECIMAL_PLACES_RE = re.compile(r"\.(\d+)")

_NUMBER_BODY = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][+-]?\d{1,4})?|\.\d+(?:[eE][+-]?\d{1,4})?"
_PLAIN_NUMBER_RE = re.compile(rf"([+-]?)({_NUMBER_BODY})", re.ASCII)
_FRAC_RE = re.compile(r"([+-]?)\\[dt]?frac\s*\{\s*([^{}]+?)\s*\}\s*\{\s*([^{}]+?)\s*\}$")
_SLASH_RE = re.compile(r"([+-]?)\(?\s*([^/()]+?)\s*\)?\s*/\s*\(?\s*([^/()]+?)\s*\)?$")
_UNIT_WORDS = r"cm|mm|km|m|kg|mg|g|lb|lbs|oz|l|ml|s|sec|h|hr|hrs|min|mph|kmh|km/h|m/s|cents?|dollars?|%|°"
_TRAILING_UNIT_RE = re.compile(rf"(?:\s+[A-Za-z][A-Za-z .'/-]*|\s*(?:{_UNIT_WORDS})\.?)$")
_ASSIGN_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*")
_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|operatorname|mbox)\s*\{([^{}]*)\}")
_SPACING_RE = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~|\\left|\\right|\\displaystyle")
_SET_SPLIT_RE = re.compile(r"\s*(?:,|;|\bor\b|\band\b|\\text\{\s*(?:or|and)\s*\})\s*")


# -- pre-filters -------------------------------------------------------------------------------
def prefilter(text: str) -> tuple[str | None, str | None]:
    """Clean an answer and reject what must not reach sympy: returns ``(clean_text, None)`` or
    ``(None, reason)``. Linear in the length of `text`; never raises.

    >>> prefilter("2^{2^{100}}")
    (None, 'too_complex')
    >>> prefilter("  \\\\frac{1}{2} ")
    ('\\\\frac{1}{2}', None)
    """
    if not isinstance(text, str):
        return None, "unparsable"
    if len(text) > 4 * MAX_ANSWER_CHARS:
        return None, "too_long"
    text = _CONTROL_RE.sub("", text).strip()
    if not text:
        return None, "no_answer"
    if len(text) > MAX_ANSWER_CHARS:
        return None, "too_long"
    depth = max_depth = 0
    for ch in text:
        if ch in "{(":
            depth += 1
            max_depth = max(max_depth, depth)
        elif ch in "})":
            depth -= 1
        if max_depth > MAX_DEPTH:
            return None, "too_complex"
    if text.count("{") != text.count("}") or text.count("\\{") != text.count("\\}"):
        return None, "unparsable"
    if "\\boxed" in text or "\\fbox" in text:
        return None, "unparsable"  # a box left inside a box: nested deeper than the parser unwraps
    if _has_huge_power(text):
        return None, "too_complex"
    for m in _SCI_EXP_RE.finditer(text):
        if len(m.group(1)) > 5 or int(m.group(1)) > MAX_EXPONENT:
            return None, "too_complex"
    for m in _FACTORIAL_RE.finditer(text):
        if m.group(1) is None or len(m.group(1)) > 5 or int(m.group(1)) > MAX_FACTORIAL:
            return None, "too_complex"
    return text, None


def _has_huge_power(text: str) -> bool:
    """True for numeric power towers (an exponent that holds another power) and exponents over MAX_EXPONENT."""
    for i, ch in enumerate(text):
        if ch == "^" or (ch == "*" and text.startswith("**", i)):
            exponent = _exponent_after(text, i + (2 if ch == "*" else 1))
            # A tower of numbers is evaluated in C, out of reach of any timer; one with a variable
            # (e^{-x^{2}}) stays symbolic, and its own inner powers are checked in turn.
            if _is_numeric_power(exponent) or _is_numeric_power(_group_before(text, i)):  # (9^{99})^{99}
                return True
            if any(len(n) > 5 or int(n) > MAX_EXPONENT for n in _INT_RE.findall(exponent)):
                return True
    return False


def _is_numeric_power(text: str) -> bool:
    return ("^" in text or "**" in text) and not _LETTER_RE.search(_COMMAND_RE.sub("", text))


def _group_before(text: str, end: int) -> str:
    """The parenthesised or braced group that closes just before `end`, or ""."""
    j = end - 1
    while j >= 0 and text[j] == " ":
        j -= 1
    if j < 0 or text[j] not in ")}":
        return ""
    closer = text[j]
    opener = "(" if closer == ")" else "{"
    depth = 0
    for k in range(j, -1, -1):
        if text[k] == closer:
            depth += 1
        elif text[k] == opener:
            depth -= 1
            if depth == 0:
                return text[k + 1 : j]
    return text[:j]


def _exponent_after(text: str, start: int) -> str:
    """The exponent that starts at `start`: a braced/parenthesised group or one token."""
    while start < len(text) and text[start] == " ":
        start += 1
    if start >= len(text):
        return ""
    opener = text[start]
    if opener in "{(":
        closer = "}" if opener == "{" else ")"
        depth = 0
        for j in range(start, len(text)):
            if text[j] == opener:
                depth += 1
            elif text[j] == closer:
                depth -= 1
                if depth == 0:
                    return text[start + 1 : j]
        return text[start + 1 :]
    m = re.match(r"[+-]?\d+|[A-Za-z]+|\\[A-Za-z]+|.", text[start:])
    token = m.group() if m else ""
    # `2^3^4` is a tower in plain notation even without braces
    rest = text[start + len(token) :].lstrip()
    return token + ("^" if rest.startswith("^") or rest.startswith("**") else "")


# -- normalisation and the fast path -----------------------------------------------------------
def _strip_latex_decorations(text: str) -> str:
    text = _SPACING_RE.sub("", text)
    for _ in range(3):
        text = _TEXT_CMD_RE.sub(r"\1", text)
    text = text.replace("\\$", "$").replace("\\%", "%").replace("−", "-").replace("$", "")
    return text.strip()


def parse_number(text: Any) -> Fraction | None:
    """The exact value of a plain numeric answer, or None if it is not one.

    Accepts integers, decimals, ``1,000``, fractions (``3/4``, ``\\frac{3}{4}``), currency and
    units (``$5``, ``5 cm``, ``50%``), and an assignment (``x = 3``).

    >>> parse_number("-\\\\frac{6}{4}"), parse_number("$1,250.50"), parse_number("5 apples")
    (Fraction(-3, 2), Fraction(2501, 2), Fraction(5, 1))
    >>> parse_number("x + 1") is None
    True
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return Fraction(text)
    if isinstance(text, Fraction):
        return text
    if isinstance(text, float):
        return Fraction(repr(text)) if text == text and abs(text) != float("inf") else None
    if not isinstance(text, str) or len(text) > MAX_ANSWER_CHARS:
        return None
    s = _strip_latex_decorations(text)
    s = _ASSIGN_RE.sub("", s, count=1) if s.count("=") == 1 else s
    s = s.rstrip(".").strip()
    for _ in range(2):  # "5 cm." and "50 %" both end in a unit
        s = _TRAILING_UNIT_RE.sub("", s).strip()
    s = re.sub(r"^([+-]?)\s*(?:€|£|USD|US\$)\s*", r"\1", s)
    for open_, close in (("{", "}"), ("(", ")")):  # "{3}", "(-3)"
        if s.startswith(open_) and s.endswith(close) and s.count(open_) == 1 and "," not in s:
            s = s[1:-1].strip()
    s = re.sub(r"^([+-])\s+", r"\1", s)  # "- 3", "- \frac{17}{15}" as sympy's LaTeX writes them
    try:
        return _exact_value(s)
    except (ValueError, ZeroDivisionError, ArithmeticError):
        return None


def _exact_value(s: str) -> Fraction | None:
    m = _PLAIN_NUMBER_RE.fullmatch(s)
    if m:
        return _signed(m.group(1), Fraction(m.group(2).replace(",", "")))
    m = _FRAC_RE.fullmatch(s) or _SLASH_RE.fullmatch(s)
    if m:
        num, den = _exact_value(m.group(2)), _exact_value(m.group(3))
        if num is None or den is None or den == 0:
            return None
        return _signed(m.group(1), num / den)
    return None


def _signed(sign: str, value: Fraction) -> Fraction:
    return -value if sign == "-" else value


def numbers_equal(pred: Fraction, gold: Fraction, pred_text: str = "") -> bool:
    """Exact equality; a decimal the model wrote may also match a gold it is a rounding of.

    A rounding differs from the gold by less than one unit in its last written place and by at
    most NUMERIC_TOLERANCE relative to the gold: 0.333333 stands for 1/3, but 9.1999 never stands
    for 9.2 and 569204297.88 never for 569204296.88 (a gold with that many places is exact).

    >>> numbers_equal(Fraction("0.333333"), Fraction(1, 3), "0.333333")
    True
    >>> numbers_equal(Fraction("999.1999"), Fraction("999.2"), "999.1999")
    False
    """
    if pred == gold:
        return True
    places = max((len(d) for d in _DECIMAL_PLACES_RE.findall(pred_text)), default=0)
    if not places:
        return False
    error = abs(pred - gold)
    return error < Fraction(1, 10**places) and error <= NUMERIC_TOLERANCE * max(Fraction(1), abs(gold))


def parse_number_set(text: Any) -> frozenset[Fraction] | None:
    """A set of plain numbers (``{1, 2}``, ``x = 1 or x = 2``, ``1, 2``), or None."""
    if isinstance(text, (list, tuple, set, frozenset)):
        values = [parse_number(v) for v in text]
        return None if any(v is None for v in values) else frozenset(values)  # type: ignore[arg-type]
    if not isinstance(text, str):
        return None
    s = _strip_latex_decorations(text)
    s = s.replace("\\{", "{").replace("\\}", "}")
    if s.startswith("{") and s.endswith("}"):
        s = s[1:-1]
    if not s.strip() or s.lower().strip() in ("\\emptyset", "\\varnothing", "none", "∅"):
        return frozenset() if s.strip() else None
    parts = [p for p in _SET_SPLIT_RE.split(s) if p.strip()]
    values = [parse_number(p) for p in parts]
    if not values or any(v is None for v in values):
        return None
    return frozenset(values)  # type: ignore[arg-type]


def normalize_string(text: Any) -> str:
    """Text answers compared as text: case, surrounding whitespace and quotes, ``\\text{}``,
    a trailing period and inner runs of spaces do not matter.

    >>> normalize_string(' "\\\\text{Yes}." ')
    'yes'
    """
    s = str(text)
    s = _CONTROL_RE.sub("", s)
    for _ in range(3):
        s = _TEXT_CMD_RE.sub(r"\1", s)
    s = s.strip().strip("\"'`“”‘’").strip().rstrip(".").strip().strip("\"'`“”‘’").strip()
    return re.sub(r"\s+", " ", s).lower()


def _compact(text: str) -> str:
    """A form that differs only in spelling, for a free exact check before sympy. It keeps every
    brace that groups more than one character: without them \\frac{1}{23} would equal \\frac{12}{3}.

    >>> _compact("x^{2} - \\\\dfrac{1}{2}") == _compact("x^2 - \\\\frac{1}{2}")
    True
    >>> _compact("\\\\frac{1}{23}") == _compact("\\\\frac{12}{3}")
    False
    """
    s = _strip_latex_decorations(text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\s+", "", s)
    return re.sub(r"([\^_])\{(\w)\}", r"\1\2", s)


def infer_answer_type(gold: Any) -> str:
    """Guess how to compare against `gold` when a task does not say.

    >>> [infer_answer_type(g) for g in (3, "1/2", "{1, 2}", "(0, 1]", "y = 2x", "x^2 + 1", "Paris")]
    ['number', 'number', 'set', 'interval', 'equation', 'expression', 'string']
    """
    if isinstance(gold, (int, float, Fraction)) and not isinstance(gold, bool):
        return "number"
    if isinstance(gold, (list, tuple, set, frozenset)):
        return "set"
    s = str(gold).strip()
    if parse_number(s) is not None:
        return "number"
    if s.startswith(("\\{", "{")) and s.endswith(("\\}", "}")):
        return "set"
    if re.fullmatch(r"[\(\[].*,.*[\)\]]", s) and (s[0] == "[" or s[-1] == "]" or "\\infty" in s):
        return "interval"
    if "=" in s or "<" in s or ">" in s or "\\le" in s or "\\ge" in s:
        return "equation"
    if re.fullmatch(r"[A-Za-z][A-Za-z' -]+", s) and not re.fullmatch(r"(?:sin|cos|tan|log|ln|exp|pi)\w*", s):
        return "string"
    return "expression"


# -- the one entry point ------------------------------------------------------------------------
def answers_match(predicted: Any, gold: Any, answer_type: str | None = None,
                  *, timeout: float | None = None) -> tuple[bool, str | None]:
    """Whether `predicted` (an answer already extracted from a completion) matches `gold`.

    Returns ``(True, None)`` or ``(False, reason)`` with reason one of `no_answer`, `wrong`,
    `too_long`, `too_complex`, `unparsable`, `timeout`, `verifier_error`. Never raises. Answers
    settled by the pre-filters or the exact path take microseconds; a symbolic comparison gets
    `timeout` CPU seconds (default `verify_worker.DEFAULT_TIMEOUT`, 0.5) and its worker is killed
    after ``HARD_FACTOR * timeout + HARD_MARGIN`` wall seconds whatever happens. Thread-safe and
    fork-safe.
    """
    try:
        return _answers_match(predicted, gold, answer_type, timeout)
    except Exception:  # a bug must not turn into a crashed training run: score 0, say so
        import logging

        logging.getLogger(__name__).exception("answer verification failed")
        return False, "verifier_error"


def _answers_match(predicted: Any, gold: Any, answer_type: str | None,
                   timeout: float | None) -> tuple[bool, str | None]:
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
    gold_text = _gold_text(gold)
    if kind == "number":
        g, p = parse_number(gold), parse_number(pred)
        if g is not None and p is not None:
            return (True, None) if numbers_equal(p, g, pred) else (False, "wrong")
    elif kind == "set":
        g_set, p_set = parse_number_set(gold), parse_number_set(pred)
        if g_set is not None and p_set is not None:
            if len(g_set) == len(p_set) and all(any(numbers_equal(p, g, pred) for p in p_set) for g in g_set):
                return True, None
            return False, "wrong"
    if _compact(pred) == _compact(gold_text):
        return True, None
    if _MATH_CHARS_RE.search(pred):
        return False, "unparsable"
    from .verify_worker import symbolic_match

    return symbolic_match(pred, gold_text, kind, timeout=timeout)


def _gold_text(gold: Any) -> str:
    if isinstance(gold, (list, tuple, set, frozenset)):
        return "\\{" + ", ".join(str(g) for g in gold) + "\\}"
    if isinstance(gold, Fraction):
        return f"\\frac{{{gold.numerator}}}{{{gold.denominator}}}" if gold.denominator != 1 else str(gold.numerator)
    return str(gold)
