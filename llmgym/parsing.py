"""Answer extraction shared by every env and reward: one parser, which never raises on model output.

Formats, in order of precedence: ``\\boxed{...}`` (and ``\\fbox{...}``), ``<answer>...</answer>``,
a GSM8K-style ``#### 42`` line, and finally the last mathematical expression of the text
(``... so the answer is \\frac{10}{9}.``). Every explicit answer of every format is kept in
`candidates`: ``\\boxed{12}`` followed by ``#### 13`` gives two different final answers, which the
answer reward scores as a hedge.

Model output is hostile and degenerate (60,000 spaces, 65,536 newlines, thousands of unclosed
``<answer>`` tags), so nothing here backtracks: boxes and tags are found with ``str.find``-style
scans, ``####`` lines line by line, and the fallback tokenises only the last `FALLBACK_CHARS`
characters with a regex whose alternatives are all possessive in effect (no nested quantifiers).
Trailing whitespace is dropped, runs of 64 or more whitespace characters in the last
`COLLAPSE_CHARS` collapse to one, then only the last `MAX_SCAN_CHARS` characters are searched, so a 10 MB string costs about as much as a
normal one: a real completion ends with its answer. A completion longer than that window gets no
last-number fallback: its last number is no answer when what came before it was not read.

The fallback also reads the clause its expression stands in: ``It is either 13 or 12.`` and
``The answer is not 12.`` name a number, but commit to none, so `hedge` says which word undid it.

>>> extract_answer("so 2+2 = \\\\boxed{4}.").text
'4'
>>> extract_answer("<answer> 7 </answer>").source
'answer_tag'
>>> extract_answer("It costs $1,250.50 in total").text
'1250.50'
>>> extract_answer("so the answer is \\\\frac{10}{9}.").text
'\\\\frac{10}{9}'
>>> extract_answer("It is either 13 or 12.").hedge
'either'
>>> extract_answer("no digits here").text is None
True
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

MAX_SCAN_CHARS = 65_536   # the tail of a completion that is searched at all
FALLBACK_CHARS = 4_096    # the tail that the last-expression fallback tokenises
COLLAPSE_CHARS = 1 << 20  # the tail in which whitespace runs are collapsed before the window
MAX_NESTED_BOX = 8

# Words that undo a value they stand next to: alternatives, doubt, negation, approximation.
# Shared with the verifier, which rejects them inside a box too (``\\boxed{12 is wrong}``).
HEDGE_WORDS = frozenset("""
    or nor either maybe perhaps possibly probably likely unlikely might guess unsure uncertain
    not no never isnt isn't aren't wasn't wrong incorrect false except unless approximately approx
    roughly nearly almost about around alternatively otherwise
""".split())
# LaTeX commands with the same effect: an alternative, an approximation, a negated relation.
HEDGE_COMMANDS = frozenset(r"\lor \vee \lnot \neg \neq \ne \approx \sim \simeq \not \pm \mp".split())

_BOX_RE = re.compile(r"\\(?:boxed|fbox)[ \t\n]{0,8}\{")
_BRACE_RE = re.compile(r"(?<!\\)[{}]")
_TAG_OPEN_RE = re.compile(r"<answer>", re.IGNORECASE)
_TAG_CLOSE_RE = re.compile(r"</answer>", re.IGNORECASE)
_NUMBER_RE = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?(?![\w])")

# Tokens of the fallback, tried in order at each position; every alternative is a simple run.
_TOKEN_RE = re.compile(r"""
    (?P<text>\\(?:text|textbf|textit|mathrm|mbox)[ ]?\{[^{}\n]{0,200}\})
  | (?P<cmd>\\[A-Za-z]+)
  | (?P<delim>\\[\[\]()])
  | (?P<word>\d+[A-Za-z_][A-Za-z0-9_']*|[A-Za-z_][A-Za-z0-9_']*)
  | (?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)
  | (?P<math>[-+*/^_=<>|(){}\[\]$]|\\[{}]|\\,)
  | (?P<stop>[.,;:?!][ \t]*\n?|\n)
  | (?P<space>\s+)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)
# Commands that may stand in a numeric expression the fallback reads.
_MATH_COMMANDS = frozenset(r"""
    \frac \dfrac \tfrac \sqrt \left \right \cdot \times \div \pi \infty \text \mathrm \quad \qquad
""".split())
_GROUPED_NUMBER_RE = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


_LONG_SPACE_RE = re.compile(r"\s{64,}")


def _collapse(run: re.Match[str]) -> str:
    return "\n" if "\n" in run.group() else " "


@dataclass(frozen=True)
class ParsedAnswer:
    """What was found: `text` is the chosen answer (None if nothing), `source` says which format
    it came from, `candidates` holds every explicit final answer (boxes, tags, ``####`` lines, in
    text order; more than one distinct value means the completion hedged), and `hedge` is the word
    that made a fallback answer non-committal (``either``, ``not``), else None."""

    text: str | None
    source: str | None
    candidates: tuple[str, ...] = ()
    hedge: str | None = None

    @property
    def found(self) -> bool:
        return self.text is not None


NOTHING = ParsedAnswer(None, None, ())


def find_boxed(text: str) -> list[str]:
    """Contents of every top-level ``\\boxed{...}``, braces matched; unterminated ones are ignored.

    >>> find_boxed(r"\\boxed{\\frac{1}{2}} or \\boxed{3")
    ['\\\\frac{1}{2}']
    """
    return [content for _, content in _boxes(text)]


def _boxes(text: str) -> list[tuple[int, str]]:
    """(position, content) of every top-level box. Each brace is visited once: linear time."""
    found: list[tuple[int, str]] = []
    pos = 0
    while True:
        m = _BOX_RE.search(text, pos)
        if m is None:
            return found
        depth, start = 1, m.end()
        for brace in _BRACE_RE.finditer(text, start):
            depth += 1 if brace.group() == "{" else -1
            if depth == 0:
                found.append((m.start(), _unwrap_box(text[start : brace.start()].strip())))
                pos = brace.end()
                break
        else:
            return found  # unbalanced from here on: nothing after it can close either


def _unwrap_box(content: str) -> str:
    """``\\boxed{\\boxed{3}}`` means 3; deeper nesting than MAX_NESTED_BOX is left as is (and fails)."""
    for _ in range(MAX_NESTED_BOX):
        inner = _BOX_RE.match(content)
        if not inner or not content.endswith("}"):
            break
        boxes = find_boxed(content) if content.count("\\") < 2 * MAX_NESTED_BOX else []
        if len(boxes) != 1:
            break
        content = boxes[0]
    return content


def _tags(text: str) -> list[tuple[int, str]]:
    """(position, content) of every ``<answer>...</answer>``. An opener pairs with the first closer
    after it (found by bisection in the list of closers), so unclosed openers cost nothing extra."""
    closers = [m for m in _TAG_CLOSE_RE.finditer(text)]
    starts = [m.start() for m in closers]
    found: list[tuple[int, str]] = []
    pos = 0
    for opener in _TAG_OPEN_RE.finditer(text):
        if opener.start() < pos:
            continue
        i = bisect.bisect_left(starts, opener.end())
        if i == len(closers):
            break
        content = text[opener.end() : starts[i]]
        inner = content.lower().rfind("<answer>")  # `<answer>a <answer>7</answer>`: the innermost
        if inner >= 0:
            content = content[inner + len("<answer>") :]
        found.append((opener.start(), _box_inside(content.strip())))
        pos = closers[i].end()
    return found


def _hash_lines(text: str) -> list[tuple[int, str]]:
    """(position, content) of every line that starts with ``####``."""
    found: list[tuple[int, str]] = []
    pos = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith("####"):
            content = _box_inside(stripped[4:].strip())
            if _GROUPED_NUMBER_RE.fullmatch(content):  # `#### 1,234`: one number, not a list
                content = content.replace(",", "")
            found.append((pos, content))
        pos += len(line) + 1
    return found


def _box_inside(content: str) -> str:
    """``<answer>\\boxed{7}</answer>`` says 7, like the box it holds."""
    if "\\boxed" in content or "\\fbox" in content:
        boxes = find_boxed(content)
        if len(boxes) == 1:
            return boxes[0]
    return content


def last_number(text: str) -> str | None:
    """The last number written in `text`, with thousands separators removed."""
    match = None
    for match in _NUMBER_RE.finditer(text[-FALLBACK_CHARS:]):
        pass
    return match.group().replace(",", "") if match else None


def last_expression(text: str) -> tuple[str | None, str | None]:
    """The last numeric expression of `text` and the hedge word of its clause, if any.

    An expression is a run of numbers, operators, brackets and math commands (``\\frac``,
    ``\\sqrt``, ``\\left``, ...) holding at least one digit; a word ends it. Of ``3 + 4 = 7`` the
    part after the last ``=`` is the answer. The clause is what follows the last sentence or
    clause break (``.``, ``,``, ``;``, newline) before the expression, to the end of the text.

    >>> last_expression(r"so we get \\left( \\frac{1}{3} \\right) meters.")
    ('\\\\left( \\\\frac{1}{3} \\\\right)', None)
    >>> last_expression("I think 3, no wait, 5.")
    ('5', None)
    >>> last_expression("12 is wrong.")
    ('12', 'wrong')
    """
    tail = text[-FALLBACK_CHARS:]
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN_RE.finditer(tail)]
    runs: list[tuple[int, int]] = []  # token index ranges [start, end) of math runs with a digit
    start, has_digit = None, False
    for i, (kind, value) in enumerate(tokens + [("stop", "")]):
        # \text{...} is a token of its own (words, or a unit after the value): it ends a run
        in_run = kind in ("num", "math", "space") or (kind == "cmd" and value in _MATH_COMMANDS)
        if in_run:
            if start is None:
                start = i
            has_digit = has_digit or kind == "num"
            continue
        if start is not None and has_digit:
            runs.append((start, i))
        start, has_digit = None, False
    if not runs:
        return None, None
    lo, hi = runs[-1]
    clause_start, clause_end = lo, hi
    while clause_start > 0 and tokens[clause_start - 1][0] != "stop":
        clause_start -= 1
    while clause_end < len(tokens) and tokens[clause_end][0] != "stop":
        clause_end += 1
    hedge = _hedge_in(tokens[clause_start:lo] + tokens[hi:clause_end], tokens[lo:hi])
    expression = "".join(v for _, v in tokens[lo:hi])
    expression = _after_last_equals(expression).strip(" \t\n*+=,:")
    if not expression or not any(c.isdigit() for c in expression):
        return None, hedge
    plain = expression.replace("$", "").strip()
    if re.fullmatch(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?", plain):
        expression = plain.replace(",", "")
    return expression, hedge


def _hedge_in(context: list[tuple[str | None, str]], run: list[tuple[str | None, str]]) -> str | None:
    for kind, value in context:
        if kind == "text":
            word = hedge_word(value)
            if word:
                return word
        if kind == "word" and value.lower() in HEDGE_WORDS:
            return value.lower()
        if kind == "cmd" and value in HEDGE_COMMANDS:
            return value
    for kind, value in run:
        if kind == "cmd" and value in HEDGE_COMMANDS:
            return value
    return None


_WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_COMMAND_RE = re.compile(r"\\[A-Za-z]+")


def hedge_word(text: str) -> str | None:
    """The first word or command of `text` that undoes a value (see HEDGE_WORDS), or None.

    >>> hedge_word(r"12 \\text{ (or 13)}"), hedge_word(r"x = 1 \\lor x = 2"), hedge_word("5 apples")
    ('or', '\\\\lor', None)
    """
    for m in _COMMAND_RE.finditer(text):
        if m.group() in HEDGE_COMMANDS:
            return m.group()
    for m in _WORD_RE.finditer(_COMMAND_RE.sub(" ", text)):
        if m.group().lower() in HEDGE_WORDS:
            return m.group().lower()
    return None


def _after_last_equals(expression: str) -> str:
    """``3 + 4 = 7`` -> ``7``: only an ``=`` outside braces and brackets splits."""
    depth = 0
    cut = 0
    for i, ch in enumerate(expression):
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        elif ch == "=" and depth == 0:
            cut = i + 1
    return expression[cut:]


def extract_answer(text: object) -> ParsedAnswer:
    """Find the final answer in a completion. Any input is accepted; nothing found gives `NOTHING`."""
    if not isinstance(text, str) or not text:
        return NOTHING
    text = text.rstrip()
    tail = text[-COLLAPSE_CHARS:]
    if "\x00" in tail:
        tail = tail.replace("\x00", "")
    tail = _LONG_SPACE_RE.sub(_collapse, tail)  # a run of 65,536 newlines says nothing
    windowed = len(text) > COLLAPSE_CHARS or len(tail) > MAX_SCAN_CHARS
    text = tail[-MAX_SCAN_CHARS:]
    boxes = _boxes(text)
    tags = _tags(text)
    hashes = _hash_lines(text) if "####" in text else []
    explicit = sorted(boxes + tags + hashes, key=lambda item: item[0])
    candidates = tuple(content for _, content in explicit)
    for source, found in (("boxed", boxes), ("answer_tag", tags), ("hash", hashes)):
        if found:
            return ParsedAnswer(found[-1][1], source, candidates)
    if windowed:
        return NOTHING  # a last number is no answer when what came before it was not read
    expression, hedge = last_expression(text)
    if expression is not None:
        return ParsedAnswer(expression, "last_number", (expression,), hedge)
    return NOTHING
