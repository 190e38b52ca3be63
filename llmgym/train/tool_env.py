"""A `ToolEnv` as TRL's GRPOTrainer wants it: `environment_factory`, one object per rollout slot.

TRL renders the prompt (with the env's system prompt, which already describes the tools), generates,
parses each assistant turn's `<tool_call>` blocks, calls the matching *method* of the slot's
environment object, appends the result as a `tool` message and generates again. The tokens of
tool results get `tool_mask` 0, so only what the model wrote carries loss.

`ToolSlot` objects expose one method per tool of the env, built from the `Tool`'s JSON schema
(typed signature and a Google-style docstring, from which transformers' `get_json_schema` rebuilds
the schema). Any property name works: Python keywords such as `from` keep their name (see
`_signature_names`); a name no signature or docstring can carry (`my-arg`) is shown under an alias
that the method maps back. A
call is turned back into the Hermes text the model wrote and handed to `ToolEnv.step`, so the
tool runs exactly as in `llmgym.rollout`: same sandbox, same error strings, same call count and
turn limit. The reward stays with the rubric (`data.reward_functions` scores the final assistant
message); `tool_call_counts` is a weight-0 reward function that logs the calls per episode.

TRL calls every public method of the object a tool, so everything else here is private.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from typing import Any, Callable, Mapping, Union

from gymnasium.error import ResetNeeded

from llmgym.env import ToolEnv
from llmgym.errors import LLMGymError
from llmgym.tools import Tool, check_tools

from .data import decode_tasks

# ChatML that also renders assistant tool calls as the Hermes blocks the model writes (`parse_tool_call`);
# tool results render as `<|im_start|>tool` turns, as `llmgym.rollout` feeds them at evaluation.
CHATML_TOOL_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] or '' }}"
    "{% for c in m.get('tool_calls') or [] %}<tool_call>{\"name\": {{ c['function']['name'] | tojson }}, "
    "\"arguments\": {% if c['function']['arguments'] is string %}{{ c['function']['arguments'] }}"
    "{% else %}{{ c['function']['arguments'] | tojson }}{% endif %}}</tool_call>{% endfor %}"
    "<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# transformers' response parser for that template: text, then any number of <tool_call>{json}</tool_call>.
CHATML_RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {"open": "<tool_call>", "close_pattern": r"</tool_call>\s*", "repeats": True,
                       "content": "json", "transform": {"type": "function", "function": "{content}"}},
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}
_JSON_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list, "object": dict,
               "null": type(None)}
# get_json_schema reads each argument's description from a `name: text` docstring line, matched as `\w+`.
_DOCSTRING_NAME = re.compile(r"\w+")
# ... and turns a description ending in `(choices: [...])` into an enum, parsing the list as JSON.
_CHOICES_SUFFIX = re.compile(r"\(choices:\s*(.*?)\)\s*$", re.IGNORECASE)


class ToolSlot:
    """One rollout slot: `reset(**row)` pins the row's task, tool methods step the ToolEnv."""

    def __init__(self, env: ToolEnv):
        self._env = copy.copy(env)  # per-episode state on a shallow copy, as llmgym.rollout does

    @property
    def tool_calls(self) -> int:
        return self._env.tool_calls

    def reset(self, **row: Any) -> None:
        """Start the episode of the row's `task` column; the prompt is already in the row."""
        self._env.reset(options={"task": decode_tasks([row["task"]])[0]})

    def _call(self, name: str, arguments: dict[str, Any]) -> str:
        action = "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"
        try:
            observation, *_ = self._env.step(action)
        except ResetNeeded:  # the episode already ended at the turn limit
            return f"error: turn limit reached ({self._env.max_turns} turns); write the final answer"
        return observation


def _signature_names(properties: Mapping[str, Any]) -> dict[str, str]:
    """Each schema property's name in the tool method's signature: its own wherever `get_json_schema`
    can carry it, else a unique alias.

    Python keywords (`from`, `class`) are carried as themselves: the signature's parameters are
    positional-only, the one kind Python lets carry a keyword's name. Names that are no identifier or
    that the docstring parser cannot match (`my-arg`, `2d`), and `return` and `self`, which the
    annotations and the bound method take, get an alias (`my_arg`).

    >>> _signature_names({"from": {}, "my-arg": {}, "my_arg": {}, "return": {}})
    {'from': 'from', 'my_arg': 'my_arg', 'my-arg': 'my_arg_', 'return': 'return_'}
    """
    def carried(name: str) -> bool:
        return name.isidentifier() and bool(_DOCSTRING_NAME.fullmatch(name)) and name not in ("return", "self")

    names = {name: name for name in properties if carried(name)}
    for i, name in enumerate(properties):
        if name in names:
            continue
        base = re.sub(r"\W", "_", name)
        alias = next((a for a in (base, f"{base}_", f"arg_{base}") if carried(a)), f"arg{i}")
        while alias in properties or alias in names.values():
            alias += "_"
        names[name] = alias
    return names


def _annotation(spec: Mapping[str, Any]) -> Any:
    """The Python type whose JSON schema type `get_json_schema` gives back: `{"type": ["string", "null"]}`
    becomes `str | None`; a missing or unknown type is shown as a string."""
    kinds = spec.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, list) else []
    types = [_JSON_TYPES[k] for k in kinds if isinstance(k, str) and k in _JSON_TYPES]
    return Union[tuple(types)] if len(types) > 1 else types[0] if types else str


def _description(spec: Mapping[str, Any], name: str) -> str:
    """One docstring line's worth of the property's description (the parser reads one entry per line)."""
    text = " ".join(str(spec.get("description") or "").split()) or name
    return text + "." if _CHOICES_SUFFIX.search(text) else text


def _tool_method(tool: Tool) -> Callable[..., str]:
    """A method `name(self, **arguments) -> str` whose signature and docstring mirror the tool's schema."""
    properties = dict(tool.parameters.get("properties", {}))
    required = [k for k in tool.parameters.get("required", []) if k in properties]
    names = _signature_names(properties)
    real_name = {alias: name for name, alias in names.items() if alias != name}

    def method(self: ToolSlot, **arguments: Any) -> str:
        return self._call(tool.name, {real_name.get(k, k): v for k, v in arguments.items()})

    # Required first (in the schema's order), as a signature has no default-less parameter after one
    # with a default; get_json_schema lists `required` in signature order. The signature is only ever
    # read: TRL calls `method(**arguments)`.
    order = [*dict.fromkeys(required), *(k for k in properties if k not in required)]
    params = [inspect.Parameter(names[k], inspect.Parameter.POSITIONAL_ONLY, annotation=_annotation(properties[k]),
                                default=inspect.Parameter.empty if k in required else None)
              for k in order]
    method.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY), *params], return_annotation=str)
    method.__annotations__ = {names[k]: _annotation(properties[k]) for k in properties} | {"return": str}
    method.__name__ = method.__qualname__ = tool.name
    args = "".join(f"\n    {names[k]}: {_description(spec, k)}" for k, spec in properties.items())
    sections = [" ".join(tool.description.split()) or tool.name, *([f"Args:{args}"] if args else []),
                "Returns:\n    The tool's output."]
    method.__doc__ = "\n\n".join(sections)
    return method


def environment_factory(env: ToolEnv) -> Callable[[], ToolSlot]:
    """A zero-argument factory of `ToolSlot`s for `env`, with one method per tool.

    >>> import llmgym
    >>> slot = environment_factory(llmgym.make("counting", tools=["python"]))()   # doctest: +SKIP
    >>> slot.python(code="print(6 * 7)")                                            # doctest: +SKIP
    """
    check_tools(list(env.tools.values()))  # the ToolEnv checked them; a subclass may have swapped them
    cls = type(f"{env.name.title()}ToolSlot", (ToolSlot,), {t.name: _tool_method(t) for t in env.tools.values()})
    return lambda: cls(env)


def tool_call_counts(environments: list[ToolSlot] | None = None, **_: Any) -> list[float]:
    """A weight-0 TRL reward function: tool calls per episode, logged as `rewards/tool_calls/mean`."""
    return [float(e.tool_calls) for e in environments or []]


tool_call_counts.__name__ = "tool_calls"


def tool_tokenizer(tokenizer: Any, policy: str) -> Any:
    """`tokenizer` ready for TRL's tool loop: a template that renders tool calls and a response parser.

    A ChatML template (tiny, SmolLM2, ...) that drops `tool_calls` is replaced by `CHATML_TOOL_TEMPLATE`,
    which renders conversations without tool calls identically (given a system message, which tool envs
    always have: SmolLM2's default one is not kept). Templates TRL knows (Qwen, Llama 3.1, ...) are kept.
    """
    from trl.chat_template_utils import add_response_schema, supports_tool_calling

    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else ""
    if not supports_tool_calling(tokenizer) and "<|im_start|>" in template and tokenizer.eos_token == "<|im_end|>":
        tokenizer.chat_template = CHATML_TOOL_TEMPLATE
    if tokenizer.chat_template == CHATML_TOOL_TEMPLATE:
        tokenizer.response_template = CHATML_RESPONSE_TEMPLATE
        return tokenizer
    hint = "use a ChatML policy (tiny, smollm2) or one whose template TRL parses (hf:path=Qwen/Qwen2.5-0.5B-Instruct)"
    if not supports_tool_calling(tokenizer):
        raise LLMGymError(f"policy {policy!r}: its chat template cannot render tool calls; {hint}")
    if getattr(tokenizer, "response_template", None) is None and getattr(tokenizer, "response_schema", None) is None:
        try:
            add_response_schema(tokenizer)
        except ValueError:
            raise LLMGymError(f"policy {policy!r}: TRL cannot parse tool calls of its chat template; {hint}") from None
    return tokenizer
