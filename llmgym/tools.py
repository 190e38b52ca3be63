"""Built-in tools for `ToolEnv`, by name: `llmgym.make("counting", tools=["python"])`.

Tools are given as `Tool` objects or as names of the built-ins below (lazy `"module:attr"` factories
that take no arguments and return a `Tool`).
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Sequence

from .env import Tool
from .errors import LLMGymError

BUILTIN_TOOLS: dict[str, str] = {
    "python": "llmgym.sandbox.tool:python_tool",
}


def resolve_tools(tools: Sequence[Any] | str) -> list[Tool]:
    """Turn names and `Tool` objects into `Tool` objects; unknown names are one clear error."""
    if isinstance(tools, str):
        tools = [tools]
    out: list[Tool] = []
    for tool in tools:
        if isinstance(tool, Tool):
            out.append(tool)
            continue
        if not isinstance(tool, str) or tool not in BUILTIN_TOOLS:
            close = difflib.get_close_matches(str(tool), list(BUILTIN_TOOLS), n=3)
            hint = f"; did you mean: {', '.join(close)}?" if close else ""
            raise LLMGymError(f"unknown tool {tool!r}{hint} (known: {', '.join(BUILTIN_TOOLS) or 'none'})")
        module, _, attr = BUILTIN_TOOLS[tool].partition(":")
        out.append(getattr(importlib.import_module(module), attr)())
    return out
