"""The answer verifier's exact fast path (stage 2 of `llmgym.rewards.verify`): normalisation, and
numbers and sets of numbers read as `Fraction`s, compared without sympy.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Iterable

from llmgym.parsing import HEDGE_WORDS

from .verify_prefilter import _CONTROL_RE, MAX_ANSWER_CHARS, MAX_DEPTH

NUMERIC_TOLERANCE = Fraction(1, 10**6)  # for answers written as rounded decimals, as math-verify does
_DECIMAL_PLACES_RE = re.compile(r"\.(\d+)")
_NUMBER_BODY = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][+-]?\d{1,4})?|\.\d+(?:[eE][+-]?\d{1,4})?"
_PLAIN_NUMBER_RE = re.compile(rf"([+-]?)({_NUMBER_BODY})", re.ASCII)
_FRAC_RE = re.compile(r"([+-]?)\\[dt]?frac\s*\{\s*([^{}]+?)\s*\}\s*\{\s*([^{}]+?)\s*\}$")
_SLASH_RE = re.compile(r"([+-]?)\(?\s*([^/()]+?)\s*\)?\s*/\s*\(?\s*([^/()]+?)\s*\)?$")
# Units and suffixes a value may carry (compared lower-case, a plural "s" allowed).
UNITS = frozenset("""
    cm mm km m kg mg g lb lbs oz l ml s sec second minute hour day week month year min h hr hrs
    mph kmh km/h m/s cent dollar euro pound yen usd eur gbp percent degree meter metre
    centimeter centimetre millimeter kilometer kilometre inch foot feet yard mile gram kilogram
    liter litre milliliter gallon ounce ton unit square cubic sq mi ft in
""".split())
HARMLESS_SUFFIXES = frozenset("in total each altogether overall only exactly units".split())
_ASSIGN_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*")
_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|operatorname|mbox)\s*\{([^{}]*)\}")
_SPACING_RE = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~|\\left|\\right|\\displaystyle")
_SET_SPLIT_RE = re.compile(r"\s*(?:,|;|\bor\b|\band\b|\\text\{\s*(?:or|and)\s*\})\s*")
_SHORT_FRAC_RE = re.compile(r"\\([dt]?frac)\s*(\d)\s*(\d)")   # \frac13 is LaTeX for 1/3
_SHORT_SQRT_RE = re.compile(r"\\sqrt\s*(\d)")                     # \sqrt3, \sqrt 3
_THIN_GROUP_RE = re.compile(r"(?<=\d)(?:\\,|\{,\})(?=\d{3}(?!\d))")  # 1\,000 and 1{,}000


# -- normalisation and the fast path -----------------------------------------------------------
def _strip_latex_decorations(text: str) -> str:
    text = _THIN_GROUP_RE.sub("", text)
    text = _SPACING_RE.sub(" ", text)
    for _ in range(3):
        text = _TEXT_CMD_RE.sub(r" \1", text)
    text = _SHORT_FRAC_RE.sub(r"\\\1{\2}{\3}", text)
    text = _SHORT_SQRT_RE.sub(r"\\sqrt{\1}", text)
    text = text.replace("\\$", "$").replace("\\%", "%").replace("−", "-").replace("$", "")
    return re.sub(r"\s+", " ", text).strip()


def _strip_outer(s: str) -> str:
    """``((((7))))`` is 7 and ``{3}`` is 3: brackets around the whole answer, without a comma
    inside (that would be a tuple or an interval), say nothing."""
    for _ in range(MAX_DEPTH + 1):
        if "," in s or not _encloses(s):
            return s
        s = s[1:-1].strip()
    return s


def _encloses(s: str) -> bool:
    """Whether the bracket that opens `s` closes at its very end (``(1)+(2)`` is not enclosed)."""
    if len(s) < 2 or (s[0], s[-1]) not in (("(", ")"), ("{", "}")):
        return False
    depth = 0
    for i, ch in enumerate(s):
        depth += ch == s[0]
        depth -= ch == s[-1]
        if depth == 0 and i < len(s) - 1:
            return False
    return True


def _allowed_word(word: str, words: frozenset[str]) -> bool:
    w = word.lower()
    if w in HEDGE_WORDS:
        return False
    return (w in UNITS or w.rstrip("s") in UNITS or w in HARMLESS_SUFFIXES or w in words
            or w.rstrip("s") in words)


def _strip_trailing_words(s: str, words: frozenset[str] | None) -> str | None:
    """Split ``5 cm.`` into the value ``5``; None when the words after the value are not allowed.

    `words` None (a gold answer, which is trusted) allows any trailing words."""
    end = max(s.rfind(c) for c in "0123456789})]")
    if end < 0:
        return s
    value, rest = s[: end + 1], s[end + 1 :]
    if not rest.strip(" .%°"):
        return (value + rest.strip(" .")).strip()
    if words is None:
        return value.strip()
    tokens = re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)?|/|%|°|\.|\S", rest)
    for tok in tokens:
        if tok in ("/", ".", "%", "°"):
            continue
        if not tok[0].isalpha() or not _allowed_word(tok, words):
            return None
    return value.strip()


def parse_number(text: Any, *, words: Iterable[str] | None = None, trusted: bool = False) -> Fraction | None:
    """The exact value of a plain numeric answer, or None if it is not one.

    Accepts integers, decimals, ``1,000``, fractions (``3/4``, ``\\frac{3}{4}``, ``\\tfrac34``),
    currency and units (``$5``, ``5 cm``, ``50%``), redundant brackets and an assignment
    (``x = 3``). Words after the value must be units, harmless suffixes or one of `words`
    (see the module docstring); `trusted` (a gold answer) allows any.

    >>> parse_number("-\\\\frac{6}{4}"), parse_number("$1,250.50"), parse_number("5 apples", words=["apples"])
    (Fraction(-3, 2), Fraction(2501, 2), Fraction(5, 1))
    >>> parse_number("x + 1") is None, parse_number("12 is wrong") is None
    (True, True)
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
    allowed = None if trusted else frozenset(w.lower() for w in (words or ()))
    s = _strip_latex_decorations(text)
    s = _ASSIGN_RE.sub("", s, count=1) if s.count("=") == 1 else s
    s = s.rstrip(".").strip()
    stripped = _strip_trailing_words(s, allowed)
    if stripped is None:
        return None
    s = stripped
    for _ in range(2):  # "5 cm" and "50 %" both end in a unit
        s = re.sub(r"\s*(?:%|°)$", "", s).strip()
    s = re.sub(r"^([+-]?)\s*(?:€|£|USD|US\$)\s*", r"\1", s)
    s = _strip_outer(s)
    s = re.sub(r"^([+-])\s+", r"\1", s)  # "- 3", "- \frac{17}{15}" as sympy's LaTeX writes them
    if s.startswith("-") and s[1:2] in "({":
        inner = _strip_outer(s[1:])
        s = "-" + inner if inner != s[1:] else s
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
        num, den = _exact_value(_strip_outer(m.group(2))), _exact_value(_strip_outer(m.group(3)))
        if num is None or den is None or den == 0:
            return None
        return _signed(m.group(1), num / den)
    return None


def _signed(sign: str, value: Fraction) -> Fraction:
    return -value if sign == "-" else value


def numbers_equal(pred: Fraction, gold: Fraction, pred_text: str = "") -> bool:
    """Exact equality; a decimal the model wrote may also match a gold it is the rounding of.

    A rounding differs from the gold by at most half a unit in its last written place and by at
    most NUMERIC_TOLERANCE relative to the gold: 0.333333 stands for 1/3, but 0.333334 does not
    (1/3 never rounds to it), 9.1999 never stands for 9.2 and 569204297.88 never for 569204296.88.

    >>> numbers_equal(Fraction("0.333333"), Fraction(1, 3), "0.333333")
    True
    >>> numbers_equal(Fraction("0.333334"), Fraction(1, 3), "0.333334")
    False
    >>> numbers_equal(Fraction("999.1999"), Fraction("999.2"), "999.1999")
    False
    """
    if pred == gold:
        return True
    places = max((len(d) for d in _DECIMAL_PLACES_RE.findall(pred_text)), default=0)
    if not places:
        return False
    error = abs(pred - gold)
    return error <= Fraction(1, 2 * 10**places) and error <= NUMERIC_TOLERANCE * max(Fraction(1), abs(gold))


def parse_number_set(text: Any, *, words: Iterable[str] | None = None,
                     trusted: bool = False) -> frozenset[Fraction] | None:
    """A set of plain numbers (``{1, 2}``, ``x = 1 or x = 2``, ``1, 2``), or None."""
    if isinstance(text, (list, tuple, set, frozenset)):
        values = [parse_number(v, trusted=True) for v in text]
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
    values = [parse_number(p, words=words, trusted=trusted) for p in parts]
    if not values or any(v is None for v in values):
        return None
    return frozenset(values)  # type: ignore[arg-type]


def split_values(text: str) -> list[str]:
    """The values an answer lists at its top level: commas (not ``1,000``'s), semicolons,
    ``or``/``and``, ``\\lor`` and ``\\quad`` outside brackets split; intervals and tuples stay whole.

    >>> split_values("(2, 2), (6, 2)"), split_values("x = 1 \\\\lor x = 2"), split_values("1,000"), split_values("3 4")
    (['(2, 2)', '(6, 2)'], ['x = 1', 'x = 2'], ['1,000'], ['3', '4'])
    """
    s = text.replace("\\{", "{").replace("\\}", "}").strip()
    if _encloses(s) and s[0] == "{":
        s = s[1:-1]
    s = _THIN_GROUP_RE.sub("", s)
    s = re.sub(r"\\(?:lor|vee|quad|qquad)\b|\\text\{\s*(?:or|and)\s*\}|\\\\", " ; ", s)
    for _ in range(3):
        s = _TEXT_CMD_RE.sub(r" \1 ", s)  # `12 \text{, } 13` lists two values
    s = re.sub(r"(?<=\d)\s+(?=\d)", ";", s)  # `3 4` is two numbers, never 34
    s = re.sub(r"(?<![A-Za-z])(?:or|and)(?![A-Za-z])", ";", s)
    parts, depth, cur = [], 0, []
    for i, ch in enumerate(s):
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        if depth == 0 and (ch == ";" or (ch == "," and not _thousands_comma(s, i))):
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _thousands_comma(s: str, i: int) -> bool:
    """A comma between digit groups of a number written like ``12,345``."""
    return (i > 0 and s[i - 1].isdigit() and s[i + 1 : i + 4].isdigit() and len(s[i + 1 : i + 4]) == 3
            and not s[i + 4 : i + 5].isdigit() and s[i + 1 : i + 2] != " ")


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
    s = re.sub(r"(?<=\d)\s+(?=\d)", ";", s)  # `3 4` must not become 34
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
