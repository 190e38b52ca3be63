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
# Units and suffixes a value may carry (compared lower-case, a plural "s" allowed).
UNITS = frozenset("""
    cm mm km m kg mg g lb lbs oz l ml s sec second minute hour day week month year min h hr hrs
    mph kmh km/h m/s cent dollar euro pound yen usd eur gbp percent degree meter metre
    centimeter centimetre millimeter kilometer kilometre inch foot feet yard mile gram kilogram
    liter litre milliliter gallon ounce ton unit square cubic sq mi ft in
""".split())
HARMLESS_SUFFIXES = frozenset("in total each altogether overall only exactly units".split())
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
_ASSIGN_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*")
_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|operatorname|mbox)\s*\{([^{}]*)\}")
_SPACING_RE = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~|\\left|\\right|\\displaystyle")
_SET_SPLIT_RE = re.compile(r"\s*(?:,|;|\bor\b|\band\b|\\text\{\s*(?:or|and)\s*\})\s*")
_SHORT_FRAC_RE = re.compile(r"\\([dt]?frac)\s*(\d)\s*(\d)")   # \frac13 is LaTeX for 1/3
_SHORT_SQRT_RE = re.compile(r"\\sqrt\s*(\d)")                     # \sqrt3, \sqrt 3
_THIN_GROUP_RE = re.compile(r"(?<=\d)(?:\\,|\{,\})(?=\d{3}(?!\d))")  # 1\,000 and 1{,}000


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
    if text.count("{") != text.count("}") or text.count("\\{") != text.count("\\}") or not _braces_nest(text):
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


def _braces_nest(text: str) -> bool:
    """No ``}`` closes a brace that was never opened: ``12} or {13`` breaks out of its box."""
    depth = 0
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return True


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
