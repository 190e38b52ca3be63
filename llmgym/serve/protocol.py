"""Request parsing and response shapes shared by every endpoint.

Requests are JSON objects checked here by hand, field by field, so that a bad request is a 4xx
whose body is one line naming the field and the fix (`{"error": "items[3].completion must be a
string, got int"}`), never a traceback and never a wall of validation output.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from llmgym.types import Score

MAX_JSON_DEPTH = 64  # tasks nest a few levels (code tests are lists in an object); nothing needs more


class ServeError(Exception):
    """A request the server refuses: HTTP `status` and a one-line reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = " ".join(str(message).split())[:500]


def parse_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode a request body; invalid, non-UTF-8 or too deeply nested JSON is a 400.

    >>> parse_json(b'{"a": [1]}')
    {'a': [1]}
    >>> parse_json(b"[" * 100 + b"]" * 100)
    Traceback (most recent call last):
    ...
    llmgym.serve.protocol.ServeError: JSON nested deeper than 64 levels
    """
    try:
        data = json.loads(raw)
    except RecursionError:  # the C decoder refuses nesting past the interpreter's recursion limit
        raise ServeError(400, f"JSON nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServeError(400, f"body is not valid JSON: {str(exc)[:120]}") from None
    if _depth_exceeds(data, max_depth):
        raise ServeError(400, f"JSON nested deeper than {max_depth} levels")
    return data


def _depth_exceeds(data: Any, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def expect_object(data: Any, where: str = "body") -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ServeError(422, f"{where} must be a JSON object, got {_kind(data)}")
    return data


def field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], *, default: Any = ...,
          where: str = "body") -> Any:
    """`data[name]`, which must be of `kind` (bool is never an int here); missing -> default or 422."""
    if name not in data or data[name] is None:
        if default is ...:
            raise ServeError(422, f"{where} needs '{name}'")
        return default
    value = data[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise ServeError(422, f"{where}.{name} must be {names}, got {_kind(value)}")
    return value


def count(data: Mapping[str, Any], name: str, *, default: int, low: int, high: int, where: str = "body") -> int:
    value = field(data, name, int, default=default, where=where)
    if not low <= value <= high:
        status = 413 if value > high and name == "n" else 422
        raise ServeError(status, f"{where}.{name} must be in [{low}, {high}], got {value}")
    return value


def check_batch_size(n: int, cap: int, what: str = "items") -> None:
    if n > cap:
        raise ServeError(413, f"{n} {what} in one request; the cap is {cap} (split the batch, or start the "
                              "server with a larger --max-batch)")


def score_json(score: Score, task_id: str) -> dict[str, Any]:
    """A score as the API returns it: value, every component, the reason and the parsed answer."""
    return {"task_id": task_id, "reward": score.value, "components": dict(score.components),
            "reason": score.reason, "answer": score.answer}


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "an object",
               bool: "a boolean"}


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)
