"""Rows to tasks for the `dataset` env: the column mapping, and one row's checks and conversion.

`Columns` resolves which column plays which role (defaults by name, or the user's mapping) from a
source's first row; `TaskBuilder.build(n, row)` turns row `n` into a `Task` or raises one
`LLMGymError` line naming the file and the line: a missing question or answer, a value of the
wrong type, a difficulty that is not a level, tests that are not Python. See `llmgym.envs.dataset`
for what each role means.
"""

from __future__ import annotations

import ast
import builtins
import json
import math
import re
from typing import Any, Mapping

from llmgym.errors import LLMGymError
from llmgym.types import ROLES, Message, Task

from .dataset_files import Source

DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "question": ("question", "prompt", "problem"),
    "messages": ("messages",),
    "answer": ("answer", "solution", "label"),
    "solution": ("solution",),
    "difficulty": ("level", "difficulty"),
    "choices": ("choices", "options"),
    "tests": ("tests", "test_list", "test"),
    "entry_point": ("entry_point",),
    "setup": ("test_setup_code",),
}
LETTERS = "ABCDE"
_BUILTINS = frozenset(dir(builtins))
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(rf"[+-]?\s*\$?\s*(?:{_NUMBER})(?:\s*/\s*(?:{_NUMBER}))?\s*%?")
_FRAC_RE = re.compile(rf"[+-]?\\[dt]?frac\s*\{{\s*(?:{_NUMBER})\s*\}}\s*\{{\s*(?:{_NUMBER})\s*\}}")
_HASH_LINE_RE = re.compile(r"^[ \t]*####[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_DEF_RE = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)[ \t]*\(", re.MULTILINE)
_CALL_RE = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


def is_number(value: Any) -> bool:
    """Whether a gold answer is a plain number: ``42``, ``-3.5``, ``1,000``, ``3/4``, ``\\frac{3}{4}``, ``$5``, ``50%``.

    >>> [is_number(v) for v in (7, "1,000", "\\\\frac{1}{2}", "x + 1", True)]
    [True, True, True, False, False]
    """
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if not isinstance(value, str):
        return False
    text = value.strip().rstrip(".")
    return bool(_NUMBER_RE.fullmatch(text) or _FRAC_RE.fullmatch(text))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def _final_answer(text: str) -> tuple[str | None, str | None]:
    """(gold, worked solution) from an answer written as a worked solution, else (None, None)."""
    from llmgym.parsing import extract_answer

    if "\\boxed" in text or "\\fbox" in text:
        parsed = extract_answer(text)
        if parsed.source == "boxed" and parsed.text and parsed.text.strip():
            return parsed.text.strip(), text
    hashes = _HASH_LINE_RE.findall(text)
    if hashes and hashes[-1]:
        gold = hashes[-1].replace(",", "") if is_number(hashes[-1]) else hashes[-1]
        return gold, _HASH_LINE_RE.sub(lambda m: f"\\boxed{{{gold}}}", text).rstrip()
    return None, None


class Columns:
    """The resolved column mapping of one source: role -> column name (or None)."""

    ROLES = tuple(DEFAULT_COLUMNS)

    def __init__(self, source: Source, options: Mapping[str, Any], kind: str | None):
        available = source.columns()
        if not available:
            raise LLMGymError(f"dataset: {source.label} holds no rows")
        self.source = source
        self.names: dict[str, str | None] = {}
        self.turned_off = {role for role in self.ROLES if options.get(role) is False or options.get(role) == ""}
        for role in self.ROLES:
            given = options.get(role)
            if role in self.turned_off:
                self.names[role] = None
            elif given is None:
                self.names[role] = next((c for c in DEFAULT_COLUMNS[role] if c in available), None)
            elif not isinstance(given, str) or given not in available:
                raise LLMGymError(f"dataset: {source.label} has no column {given!r} ({role}={given!r}); "
                                  f"its columns are {', '.join(map(str, available))}")
            else:
                self.names[role] = given
        if options.get("question") and options.get("messages"):
            raise LLMGymError("dataset: give question= or messages=, not both")
        if options.get("question") is None and options.get("messages") and self.names["question"]:
            self.names["question"] = None  # messages= named explicitly wins over a detected question
        if self.names["question"] and options.get("messages") is None:
            self.names["messages"] = None
        if not self.names["question"] and not self.names["messages"]:
            raise LLMGymError(f"dataset: {source.label} has no question column (looked for "
                              f"{', '.join(DEFAULT_COLUMNS['question'] + DEFAULT_COLUMNS['messages'])}); name "
                              f"it with question=COLUMN (columns: {', '.join(map(str, available))})")
        self.kind = kind or self._infer_kind()
        if self.kind != "code" and not self.names["answer"]:
            raise LLMGymError(f"dataset: {source.label} has no answer column (looked for "
                              f"{', '.join(DEFAULT_COLUMNS['answer'])}); name it with answer=COLUMN "
                              f"(columns: {', '.join(map(str, available))})")
        if self.kind == "code" and not self.names["tests"]:
            raise LLMGymError(f"dataset: answer_type=code needs a tests column (looked for "
                              f"{', '.join(DEFAULT_COLUMNS['tests'])}); name it with tests=COLUMN")
        if self.kind != "code":
            self.names.update(tests=None, entry_point=None, setup=None)
        if self.kind != "choice":
            self.names["choices"] = None

    def _infer_kind(self) -> str:
        if self.names["tests"] and not self.names["answer"]:
            return "code"
        if self.names["choices"]:
            return "choice"
        return "auto"

    def used(self) -> dict[str, str]:
        return {role: name for role, name in self.names.items() if name}


class TaskBuilder:
    """Turns one row into a `Task`, or raises `LLMGymError` naming the file and the line."""

    def __init__(self, columns: Columns, kind: str):
        self.columns = columns
        self.names = columns.names
        self.source = columns.source
        self.kind = kind

    def fail(self, n: int, what: str) -> LLMGymError:
        return self.source.fail(n, what)

    def value(self, n: int, row: Mapping[str, Any], role: str, required: bool = True) -> Any:
        column = self.names[role]
        value = row.get(column) if column else None
        if _missing(value):
            if required:
                raise self.fail(n, f"no {role} (column {column!r} is missing or empty)")
            return None
        return value

    def level(self, n: int, row: Mapping[str, Any]) -> int | None:
        if not self.names["difficulty"]:
            return None
        value = self.value(n, row, "difficulty")
        if isinstance(value, bool):
            value = None
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str):
            text = value.strip()
            digits = re.findall(r"-?\d+", text)
            if re.fullmatch(r"-?\d+\.0*", text):  # "3.0", as spreadsheets write integers
                value = int(float(text))
            else:
                value = int(digits[0]) if len(digits) == 1 else None
        if not isinstance(value, int):
            raise self.fail(n, f"difficulty {row.get(self.names['difficulty'])!r} in column "
                               f"{self.names['difficulty']!r} is not a level: use integers, or text with one "
                               "integer such as 'Level 3'")
        return value

    def build(self, n: int, row: Mapping[str, Any]) -> Task:
        if self.names["messages"]:
            prompt, last_reply = self.messages(n, self.value(n, row, "messages"))
        else:
            question = self.value(n, row, "question")
            if not isinstance(question, str):
                raise self.fail(n, f"the question must be text, got {type(question).__name__} "
                                   f"(column {self.names['question']!r})")
            prompt, last_reply = question.strip(), None
        solution = self.value(n, row, "solution", required=False) if self.names["solution"] else None
        if solution is None:
            solution = last_reply
        if solution is not None and not isinstance(solution, str):
            raise self.fail(n, f"the solution must be text, got {type(solution).__name__}")
        meta: dict[str, Any] = {}
        if self.kind == "code":
            answer, prompt, solution = self.code(n, row, prompt, solution)
        elif self.kind == "choice":
            answer, prompt, solution = self.choice(n, row, prompt, solution)
        else:
            answer, solution = self.answer(n, row, solution)
        if self.kind != "auto":  # under auto the verifier infers the kind from each gold
            meta["answer_type"] = "string" if self.kind == "text" else self.kind
        level = self.level(n, row)
        if level is not None:
            meta["level"] = level
        if solution:
            meta["solution"] = solution
        meta["source_row"] = n
        return Task(prompt, answer, meta)

    def messages(self, n: int, value: Any) -> tuple[tuple[Message, ...], str | None]:
        if isinstance(value, str):
            try:
                value = json.loads(value)  # a CSV cell holding the chat as JSON
            except ValueError:
                pass
        if not isinstance(value, list) or not value:
            raise self.fail(n, f"messages must be a non-empty list of {{'role', 'content'}} objects, "
                               f"got {type(value).__name__}")
        out = []
        for i, m in enumerate(value):
            if not isinstance(m, Mapping) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise self.fail(n, f"message {i} must be {{'role': one of {', '.join(ROLES)}, 'content': text}}, "
                                   f"got {str(m)[:80]}")
            out.append(Message(m["role"], m["content"]))
        reply = None
        if out[-1].role == "assistant":
            reply = out.pop().content
        if not any(m.role == "user" for m in out):
            raise self.fail(n, "messages hold no user message")
        return tuple(out), reply

    def answer(self, n: int, row: Mapping[str, Any], solution: str | None) -> tuple[Any, str | None]:
        gold = self.value(n, row, "answer")
        same_column = self.names["answer"] == self.names["solution"]
        if isinstance(gold, str):
            extracted, worked = _final_answer(gold)
            if extracted is not None:
                gold = extracted
                if (solution is None and "solution" not in self.columns.turned_off) or same_column:
                    solution = worked
            elif same_column:
                solution = None  # a short answer in a "solution" column is just the answer
            gold = gold.strip()
        elif isinstance(gold, (list, tuple)) and self.kind in ("auto", "set"):
            if not gold or not all(isinstance(g, (str, int, float)) and not isinstance(g, bool) for g in gold):
                raise self.fail(n, f"a set answer must be a non-empty list of numbers or text, got {gold!r}"[:200])
            gold = list(gold)
        elif isinstance(gold, bool) or not isinstance(gold, (int, float)) or not math.isfinite(gold):
            raise self.fail(n, f"the answer must be text or a number, got {type(gold).__name__} {str(gold)[:60]}")
        if self.kind == "number" and not is_number(gold):
            raise self.fail(n, f"answer {str(gold)[:60]!r} is not a number (answer_type=number); use "
                               "answer_type=expression or text, or fix the row")
        if self.kind == "text" and not isinstance(gold, str):
            gold = str(gold)
        if solution is not None:
            solution = self.boxed_solution(solution, gold)
        return gold, solution

    @staticmethod
    def boxed_solution(solution: str, gold: Any) -> str:
        """A reference solution that ends in the boxed gold, as the rubric's format reward wants."""
        solution = solution.strip()
        if "\\boxed" in solution or "\\fbox" in solution:
            return solution
        shown = ", ".join(map(str, gold)) if isinstance(gold, list) else gold
        if _HASH_LINE_RE.search(solution):
            return _HASH_LINE_RE.sub(lambda m: f"\\boxed{{{shown}}}", solution)
        return f"{solution}\n\n\\boxed{{{shown}}}"

    def choice(self, n: int, row: Mapping[str, Any], prompt: Any,
               solution: str | None) -> tuple[str, Any, str | None]:
        options, labels = None, None
        if self.names["choices"]:
            options, labels = self.options(n, self.value(n, row, "choices"))
        gold = self.value(n, row, "answer")
        letter = None
        if isinstance(gold, str) and labels and gold.strip() in labels:
            letter = LETTERS[labels.index(gold.strip())]
        elif isinstance(gold, str):
            text = gold.strip().strip("()").rstrip(".").strip()
            if len(text) == 1 and text.upper() in LETTERS:
                letter = text.upper()
            elif options is not None and re.fullmatch(r"\d+", text):
                gold = int(text)
        if letter is None and isinstance(gold, int) and not isinstance(gold, bool) and options is not None:
            if not 0 <= gold < len(options):
                raise self.fail(n, f"answer index {gold} is outside the {len(options)} choices (0-based)")
            letter = LETTERS[gold]
        if letter is None:
            raise self.fail(n, f"a choice answer must be one letter A-E" + (
                " or a 0-based index into the choices" if options is not None else "") + f", got {gold!r}"[:80])
        if options is not None:
            if LETTERS.index(letter) >= len(options):
                raise self.fail(n, f"answer {letter} but only {len(options)} choices")
            listing = "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(options))
            if isinstance(prompt, str):
                prompt = f"{prompt}\n\n{listing}"
            else:
                last = max(i for i, m in enumerate(prompt) if m.role == "user")
                prompt = tuple(Message(m.role, f"{m.content}\n\n{listing}") if i == last else m
                               for i, m in enumerate(prompt))
        if solution is not None:
            solution = solution.strip()
            if "\\boxed" not in solution:
                solution = f"{solution}\n\n\\boxed{{{letter}}}"
        return letter, prompt, solution

    def options(self, n: int, value: Any) -> tuple[list[str], list[str] | None]:
        if isinstance(value, str):
            try:
                value = json.loads(value)  # a CSV cell holding the list as JSON
            except ValueError:
                raise self.fail(n, f"choices must be a list (in CSV, a JSON list), got {value[:60]!r}") from None
        labels = None
        if isinstance(value, Mapping) and isinstance(value.get("text"), list):  # ARC: {"text": [...], "label": [...]}
            labels = [str(x).strip() for x in value.get("label") or []] or None
            value = value["text"]
        if not isinstance(value, list) or not 2 <= len(value) <= len(LETTERS):
            raise self.fail(n, f"choices must be a list of 2 to {len(LETTERS)} options, got {str(value)[:60]}")
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise self.fail(n, "every choice must be text or a number")
        return [str(v).strip() for v in value], labels

    def code(self, n: int, row: Mapping[str, Any], prompt: Any,
             solution: str | None) -> tuple[dict[str, Any], Any, str | None]:
        from .code import check_units

        tests = self.value(n, row, "tests")
        setup_src = self.value(n, row, "setup", required=False) if self.names["setup"] else None
        if isinstance(tests, str) and tests.lstrip().startswith("["):
            try:
                tests = json.loads(tests)
            except ValueError:
                pass
        setup: list[str] = [setup_src] if isinstance(setup_src, str) and setup_src.strip() else []
        try:
            if isinstance(tests, list) and tests and all(isinstance(t, str) and t.strip() for t in tests):
                units = list(tests)
                for unit in units:
                    ast.parse(unit)
                test_idx = list(range(len(units)))
            elif isinstance(tests, str) and re.search(r"^def check\s*\(", tests, re.MULTILINE):
                units, test_idx = check_units(tests)  # HumanEval: the statements of check(candidate)
                module = ast.parse(tests)
                setup += [ast.unparse(s) for s in module.body
                          if not (isinstance(s, ast.FunctionDef) and s.name == "check")]
            elif isinstance(tests, str):
                module = ast.parse(tests)
                units = [ast.unparse(s) for s in module.body]
                test_idx = [i for i, s in enumerate(module.body) if any(isinstance(x, ast.Assert) for x in ast.walk(s))]
            else:
                raise self.fail(n, f"tests must be Python source or a list of assert statements, "
                                   f"got {type(tests).__name__}")
        except SyntaxError as exc:
            raise self.fail(n, f"the tests are not valid Python ({exc.msg}, line {exc.lineno})") from None
        if not test_idx:
            raise self.fail(n, "the tests hold no assert statement")
        entry = self.value(n, row, "entry_point", required=False) if self.names["entry_point"] else None
        if entry is None and solution:
            entry = next(iter(_DEF_RE.findall(solution)), None)
        if entry is None:
            entry = next((name for unit in units for name in _CALL_RE.findall(unit)
                          if name not in _BUILTINS and name not in ("candidate", "assert", "check")), None)
        if not isinstance(entry, str) or not entry.isidentifier():
            raise self.fail(n, "cannot tell which function the tests call; add an entry_point column "
                               "(or set entry_point=COLUMN)")
        spec: dict[str, Any] = {"entry_point": entry, "setup": setup, "units": units, "tests": test_idx}
        text = prompt if isinstance(prompt, str) else None
        if text is not None and re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", text, re.MULTILINE) and _parses(text):
            # A function stub (HumanEval): the completion may give only the body; helpers it defines
            # are visible to the tests, as in HumanEval's own harness.
            spec["prompt_code"] = text
            spec["setup"] = [text, *setup]
            prompt = (f"Complete this Python function:\n\n```python\n{text.rstrip()}\n```\n\n"
                      "Answer with the complete function in a ```python code block.")
        elif text is not None and entry not in text:
            prompt = f"{text}\n\nThe function must be named `{entry}`."
        if solution is not None and "```" not in solution:
            solution = f"```python\n{solution.rstrip()}\n```"
        return spec, prompt, solution


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True
