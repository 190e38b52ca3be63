"""The tool protocol of tool envs: `Tool`, the tool-call format, and tools by name.

A tool is a function the policy may call, `run(arguments) -> output text`, with a JSON schema of its
arguments. `ToolEnv` (`llmgym.env`) shows a base env's policy its tools, parses each action for a call
(`parse_tool_call`) and answers it with the tool's output.

Tools are plugins like envs: the `llmgym_register_tools` hook registers a factory under a name, and
`llmgym.make("counting", tools=["python"])` builds each named tool through the registry (the built-in
`python` tool, `llmgym.sandbox.tool`, is registered by the built-in env plugin, exactly like a third
party's). `tools=` also takes `Tool` objects.

>>> echo = Tool("echo", "Repeats its text.", lambda args: str(args["text"]),
...             {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})
>>> call = parse_tool_call('<tool_call>{"name": "echo", "arguments": {"text": "hi"}}</tool_call>')
>>> echo.run(call.arguments)
'hi'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .errors import LLMGymError, PluginError

if TYPE_CHECKING:
    from .registry import Registry


@dataclass
class Tool:
    """A function the policy may call: `run(arguments) -> output text`.

    `parameters` is a JSON schema of the arguments, as chat templates with tool support expect.
    """

    name: str
    description: str
    run: Callable[[Mapping[str, Any]], str]
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def schema(self) -> dict[str, Any]:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": dict(self.parameters)}}


# TRL's `environment_factory` calls every public method of a rollout object a tool, except `reset` and
# `get_reward`, which it calls itself; `tool_calls` is the slot's own counter (llmgym.train.tool_env).
RESERVED_TOOL_NAMES = ("reset", "get_reward", "tool_calls")


def check_tools(tools: Sequence[Tool]) -> None:
    """Raise `PluginError` naming the tool and the fix unless every tool can be shown, called and trained.

    Argument names are free (`from`, `my-arg`): any JSON-schema property name works everywhere.
    """
    seen: set[str] = set()
    for tool in tools:
        if not isinstance(tool, Tool):
            raise PluginError(f"tools must be llmgym.Tool objects, got {type(tool).__name__}")
        name = tool.name
        if not isinstance(name, str) or not name.strip() or name.startswith("_") or name in RESERVED_TOOL_NAMES:
            raise PluginError(f"tool name {name!r} cannot be used: it must be a non-empty string that does not "
                              f"start with '_' and is not one of {', '.join(RESERVED_TOOL_NAMES)} (trained tool "
                              "envs call each tool as a method of that name); rename the tool")
        if name in seen:
            raise PluginError(f"two tools are named {name!r}; tool names must be unique")
        seen.add(name)
        params = tool.parameters
        properties = params.get("properties", {}) if isinstance(params, Mapping) else None
        required = params.get("required", []) if isinstance(params, Mapping) else None
        if not isinstance(properties, Mapping) or not all(
                isinstance(k, str) and isinstance(v, Mapping) for k, v in properties.items()):
            raise PluginError(f"tool {name!r}: parameters must be a JSON schema "
                              '{"type": "object", "properties": {"arg": {...}, ...}}, '
                              f"got {params!r:.200}")
        if not isinstance(required, (list, tuple)) or not all(isinstance(r, str) and r in properties
                                                              for r in required):
            raise PluginError(f"tool {name!r}: 'required' must list names of its parameters' properties "
                              f"({', '.join(map(repr, properties)) or 'none'}), got {required!r:.200}")


def resolve_tools(tools: Sequence[Any] | str, registry: Registry) -> list[Tool]:
    """Turn tool names (or `"name:k=v,..."` specs) and `Tool` objects into `Tool` objects.

    Names are built through `registry` (the gym's `tools` registry); an unknown name is one clear
    error with the closest known names, and a factory that returns no `Tool` is named with its source.
    """
    if isinstance(tools, str):
        tools = [tools]
    out: list[Tool] = []
    for tool in tools:
        if isinstance(tool, Tool):
            out.append(tool)
            continue
        if not isinstance(tool, str):
            raise LLMGymError(f"tools must be tool names or llmgym.Tool objects, got {type(tool).__name__} "
                              f"(known tools: {', '.join(registry.names()) or 'none'})")
        built = registry.make(tool)
        if not isinstance(built, Tool):
            name = tool.partition(":")[0].strip()
            raise PluginError(f"tool {name!r} (from {registry.spec(name).source}): its factory returned "
                              f"{type(built).__name__}, not a llmgym.Tool")
        out.append(built)
    return out


# -- the tool-call format ------------------------------------------------------------------------
@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any]


_TOOL_CALL_RE = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
MAX_TOOL_CALL_CHARS = 100_000


def parse_tool_call(text: str) -> ToolCall | str | None:
    """The first tool call in `text`, in the Hermes/Qwen format that chat templates emit:

        <tool_call>{"name": "python", "arguments": {"code": "print(1+1)"}}</tool_call>

    Returns a `ToolCall`, None when the text holds no call (a final answer), or an error string
    when a call is present but malformed (the env shows that error to the policy).

    >>> parse_tool_call('<tool_call>{"name": "calc", "arguments": {"x": 1}}</tool_call>')
    ToolCall(name='calc', arguments={'x': 1})
    >>> parse_tool_call("the answer is 3") is None
    True
    """
    if not isinstance(text, str) or "<tool_call>" not in text:
        return None
    match = _TOOL_CALL_RE.search(text)
    if match is None:
        return "malformed tool call: missing </tool_call>"
    body = match.group(1)
    if len(body) > MAX_TOOL_CALL_CHARS:
        return f"malformed tool call: longer than {MAX_TOOL_CALL_CHARS} characters"
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return f"malformed tool call: invalid JSON ({str(exc)[:80]})"
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return 'malformed tool call: expected {"name": ..., "arguments": {...}}'
    args = data.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except (ValueError, RecursionError):
            return "malformed tool call: arguments are not a JSON object"
    if not isinstance(args, dict):
        return "malformed tool call: arguments are not a JSON object"
    return ToolCall(data["name"], args)


TOOL_PROMPT = """You can call tools. To call one, write exactly one block and stop:
<tool_call>{{"name": "TOOL_NAME", "arguments": {{...}}}}</tool_call>
The tool's output comes back in the next message. When you are done, write the final answer
without any tool call.

Tools:
{tools}"""


def tools_prompt(tools: Sequence[Tool]) -> str:
    """The system-prompt text that shows the policy `tools` and how to call them."""
    return TOOL_PROMPT.format(tools="\n".join(
        f"- {t.name}: {t.description} Arguments: {json.dumps(dict(t.parameters))}" for t in tools))


def run_tool_call(tools: Mapping[str, Tool], call: ToolCall | str) -> str:
    """The observation a call earns: the tool's output, or an `error: ...` line the policy can act on."""
    if isinstance(call, str):
        return f"error: {call}"
    tool = tools.get(call.name)
    if tool is None:
        return f"error: unknown tool {call.name!r}; available: {', '.join(tools)}"
    try:
        return str(tool.run(call.arguments))
    except Exception as exc:  # a tool failure is an observation for the policy, not a crash
        return f"error: {type(exc).__name__}: {exc}"
