"""The answer verifier's pre-filters (stage 1 of `llmgym.rewards.verify`): pure Python, linear time.

Length, control characters, brace nesting, power towers, huge exponents and factorials: anything
that could make sympy hang or eat memory scores 0 here with a reason (`too_long`, `too_complex`,
`unparsable`) before it reaches sympy.
"""

from __future__ import annotations

import re

MAX_ANSWER_CHARS = 1000  # a final answer longer than this is not an answer
MAX_DEPTH = 16           # brace/parenthesis nesting
MAX_EXPONENT = 10_000    # largest integer literal allowed in an exponent or a scientific exponent
MAX_FACTORIAL = 1000
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SCI_EXP_RE = re.compile(r"\d[eE][+-]?(\d+)")
_FACTORIAL_RE = re.compile(r"(\d+)\s*!|[)}\]]\s*!|!\s*!|\\(?:Gamma|factorial)|factorial\s*\(")
_INT_RE = re.compile(r"\d+")
_LETTER_RE = re.compile(r"[A-Za-z]")
_COMMAND_RE = re.compile(r"\\[A-Za-z]+")


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
    k = _matching_bracket(text, j, -1)
    return text[:j] if k is None else text[k + 1 : j]


def _matching_bracket(text: str, at: int, step: int) -> int | None:
    """Where the bracket at `at` is matched: scanning forward (`step` 1) from an opener, or back
    (`step` -1) from a closer; None when it is not."""
    here = text[at]
    there = {"(": ")", "{": "}", ")": "(", "}": "{"}[here]
    depth = 0
    for k in range(at, len(text) if step > 0 else -1, step):
        if text[k] == here:
            depth += 1
        elif text[k] == there:
            depth -= 1
            if depth == 0:
                return k
    return None


def _exponent_after(text: str, start: int) -> str:
    """The exponent that starts at `start`: a braced/parenthesised group or one token."""
    while start < len(text) and text[start] == " ":
        start += 1
    if start >= len(text):
        return ""
    opener = text[start]
    if opener in "{(":
        j = _matching_bracket(text, start, 1)
        return text[start + 1 :] if j is None else text[start + 1 : j]
    m = re.match(r"[+-]?\d+|[A-Za-z]+|\\[A-Za-z]+|.", text[start:])
    token = m.group() if m else ""
    # `2^3^4` is a tower in plain notation even without braces
    rest = text[start + len(token) :].lstrip()
    return token + ("^" if rest.startswith("^") or rest.startswith("**") else "")
