"""Answer extraction shared by every env and reward: one parser, which never raises on model output.

Formats, in order of precedence: ``\\boxed{...}`` (and ``\\fbox{...}``), ``<answer>...</answer>``,
a GSM8K-style ``#### 42`` line, and finally the last number in the text. Only the last
`MAX_SCAN_CHARS` characters of a completion are searched, so a hostile 10 MB string costs the same
as a normal one: the final answer of a real completion sits at its end.

>>> extract_answer("so 2+2 = \\\\boxed{4}.").text
'4'
>>> extract_answer("<answer> 7 </answer>").source
'answer_tag'
>>> extract_answer("It costs $1,250.50 in total").text
'1250.50'
>>> extract_answer("no digits here").text is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SCAN_CHARS = 65_536
MAX_NESTED_BOX = 8

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE_RE = re.compile(r"(?<!\\)[{}]")
_TAG_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_HASH_RE = re.compile(r"^\s*####\s*(.+?)\s*$", re.MULTILINE)
_NUMBER_RE = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?(?![\w])")


@dataclass(frozen=True)
class ParsedAnswer:
    """What was found: `text` is the chosen answer (None if nothing), `source` says which format
    it came from, `candidates` holds every answer of that format (more than one distinct value
    means the completion hedged)."""

    text: str | None
    source: str | None
    candidates: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return self.text is not None


NOTHING = ParsedAnswer(None, None, ())


def find_boxed(text: str) -> list[str]:
    """Contents of every top-level ``\\boxed{...}``, braces matched; unterminated ones are ignored.

    >>> find_boxed(r"\\boxed{\\frac{1}{2}} or \\boxed{3")
    ['\\\\frac{1}{2}']
    """
    found: list[str] = []
    pos = 0
    while True:
        m = _BOX_RE.search(text, pos)
        if m is None:
            return found
        depth, start = 1, m.end()
        for brace in _BRACE_RE.finditer(text, start):
            depth += 1 if brace.group() == "{" else -1
            if depth == 0:
                found.append(_unwrap_box(text[start : brace.start()].strip()))
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


def last_number(text: str) -> str | None:
    """The last number written in `text`, with thousands separators removed."""
    match = None
    for match in _NUMBER_RE.finditer(text):
        pass
    return match.group().replace(",", "") if match else None


def extract_answer(text: object) -> ParsedAnswer:
    """Find the final answer in a completion. Any input is accepted; nothing found gives `NOTHING`."""
    if not isinstance(text, str) or not text:
        return NOTHING
    if "\x00" in text:
        text = text.replace("\x00", "")
    text = text[-MAX_SCAN_CHARS:]
    boxed = find_boxed(text)
    if boxed:
        return ParsedAnswer(boxed[-1], "boxed", tuple(boxed))
    tags = [t.strip() for t in _TAG_RE.findall(text)]
    if tags:
        return ParsedAnswer(tags[-1], "answer_tag", tuple(tags))
    hashes = _HASH_RE.findall(text)
    if hashes:
        return ParsedAnswer(hashes[-1].replace(",", ""), "hash", tuple(h.replace(",", "") for h in hashes))
    number = last_number(text)
    if number is not None:
        return ParsedAnswer(number, "last_number", (number,))
    return NOTHING
