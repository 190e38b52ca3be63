"""The `python` tool: run a snippet in the sandbox and show the policy what it printed.

    >>> import llmgym
    >>> env = llmgym.make("counting", tools=["python"])          # doctest: +SKIP

The policy calls it with the Hermes/Qwen tool-call format that chat templates emit:

    <tool_call>{"name": "python", "arguments": {"code": "print('strawberry'.count('r'))"}}</tool_call>

and gets back `status: ok` (or error, timeout, ...), then stdout and stderr, each cut to
`MAX_SHOWN` characters. Each call is a fresh process: no state carries over between calls.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..env import Tool
from .limits import Limits

MAX_SHOWN = 2000
TOOL_LIMITS = Limits(wall_seconds=5, cpu_seconds=4, memory_mb=512, output_bytes=64 << 10)
DESCRIPTION = ("Run Python 3 code in a sandbox (standard library only, no network, no files kept between "
               "calls) and return what it printed. Use print() to see results.")


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f"\n... [{len(text) - MAX_SHOWN} more characters cut]"


def format_result(status: str, stdout: str, stderr: str) -> str:
    """What the policy sees after a call."""
    parts = [f"status: {status}"]
    if stdout:
        parts.append(f"stdout:\n{_cut(stdout)}")
    if stderr:
        parts.append(f"stderr:\n{_cut(stderr)}")
    if not stdout and not stderr:
        parts.append("(no output: use print() to show a value)")
    return "\n".join(parts)


def python_tool(limits: Limits | None = None, pool: Any = None) -> Tool:
    """A `Tool` named "python" with arguments `{"code": str}` that runs in the sandbox pool."""
    limits = limits or TOOL_LIMITS

    def run(arguments: Mapping[str, Any]) -> str:
        code = arguments.get("code")
        if not isinstance(code, str):
            return 'error: the python tool takes {"code": "<python source>"}'
        from .pool import default_pool

        result = (pool or default_pool()).run(code, "", limits)
        return format_result(result.status, result.stdout, result.stderr)

    return Tool("python", DESCRIPTION, run, {"type": "object", "properties": {"code": {
        "type": "string", "description": "Python 3 source to execute; print what you want to see."}},
        "required": ["code"]})
