"""Options dataclasses as command lines and YAML keys: one way for train, rm and guard options.

An options class is a dataclass whose fields carry their help (`option(default, help)`, as TRL's
configs and `HfArgumentParser` do); the field's default is the one default, shown in `--help`.
`add_arguments(parser, cls)` makes one flag per field (`max_length` -> `--max-length`) and
`from_args(cls, args)` builds the options back; `check_keys` / `unknown_option` are the one error
for a key no field has, with the same suggestions for a flag, a YAML key and a spec string.

>>> import argparse
>>> from dataclasses import dataclass
>>> @dataclass
... class Demo:
...     steps: int = option(200, "optimizer steps")
...     rate: float | None = option(None, "learning rate")
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser, Demo)
>>> from_args(Demo, parser.parse_args(["--steps", "5"]))
Demo(steps=5, rate=None)
>>> check_keys("demo", {"stesp": 1}, Demo)
Traceback (most recent call last):
...
llmgym.errors.LLMGymError: unknown demo option 'stesp' (did you mean: steps?)
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import enum
import json
import types
import typing
from typing import Any, Collection, Iterable, Literal, Mapping, Union

from .errors import LLMGymError


def option(default: Any = dataclasses.MISSING, help: str = "", **metadata: Any) -> Any:
    """A dataclass field with its help text (and any other metadata, e.g. `cli_only=True`)."""
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def did_you_mean(key: Any, known: Iterable[str], *, n: int = 2, cutoff: float = 0.6, list_known: bool = True) -> str:
    """` (did you mean: a, b?)` for the known names close to `key`; else ` (known: ...)`, or nothing.

    >>> did_you_mean("patiense", ["patience", "mode"]), did_you_mean("x", ["mode"])
    (' (did you mean: patience?)', ' (known: mode)')
    """
    names = list(known)
    close = difflib.get_close_matches(str(key), names, n=n, cutoff=cutoff)
    if close:
        return f" (did you mean: {', '.join(close)}?)"
    return f" (known: {', '.join(names)})" if list_known else ""


def unknown_option(what: str, key: Any, known: Iterable[str]) -> LLMGymError:
    """The error for an option no field has: `unknown guard option 'patiense' (did you mean: patience?)`."""
    return LLMGymError(f"unknown {what} option {key!r}{did_you_mean(key, known)}")


def check_keys(what: str, data: Mapping[Any, Any], cls: type, *, skip: Collection[str] = ()) -> None:
    """Refuse a key of `data` (a YAML mapping, a spec's options) that names no field of `cls`."""
    known = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    for key in data:
        if key not in known:
            raise unknown_option(what, key, known)


def flag_of(name: str) -> str:
    """`--max-length` for the field `max_length`."""
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, flags: Mapping[str, str] | None = None,
                  skip: Collection[str] = (), unset_defaults: bool = False, metavars: Mapping[str, str] | None = None,
                  repeatable: Collection[str] = (), hide_defaults: Collection[str] = ()) -> None:
    """One flag per field of the dataclass `cls`: `--NAME` (or `flags[name]`), typed by the field's
    annotation (a bool is `--x/--no-x`), helped by its `help` metadata and its default.

    A field without a default is a required flag. With `unset_defaults` every flag defaults to None
    (and none is required), so that a caller can tell the flags given from those left to a YAML
    file. `repeatable` fields collect every use (`--env a --env b`); `hide_defaults` are not shown in
    the help.
    """
    flags, metavars = dict(flags or {}), dict(metavars or {})
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = flags.get(f.name, flag_of(f.name))
        help_text = f.metadata.get("help", "")
        kind = str(f.type)
        default = None if f.default is dataclasses.MISSING else f.default
        required = not unset_defaults and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if kind.startswith("bool"):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=None if unset_defaults else default, help=help_text)
            continue
        typ = int if kind.startswith("int") else float if kind.startswith("float") else str
        shown = f" (default: {default})" if default is not None and f.name not in hide_defaults else ""
        parser.add_argument(flag, dest=f.name, type=typ, default=None if unset_defaults else default,
                            required=required, metavar=metavars.get(f.name, f.name.upper()), help=help_text + shown,
                            **({"action": "append"} if f.name in repeatable else {}))


def from_args(cls: type, args: argparse.Namespace, **values: Any) -> Any:
    """`cls` from the flags `add_arguments` made (and `values`, which win)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**given, **values})


def read_value(value: Any, hint: Any, *, numbers_as_text: bool = False) -> Any:
    """`value` (text from the command line, or what YAML read) as type `hint`; ValueError when it is not one.

    The one value reader of every option: train options and their YAML keys (`TrainConfig`), `--trl`
    fields (`llmgym.train.trl_options`), guard and curriculum specs. `numbers_as_text` lets a YAML
    number stand for a text field (`out: 2024`).

    >>> read_value("grpo", Literal["grpo", "dapo"]), read_value("0.2", float | None)
    ('grpo', 0.2)
    >>> read_value('{"min_lr": 1e-06}', dict | str | None)
    {'min_lr': 1e-06}
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        if len(arms) < len(args) and (value is None or (isinstance(value, str) and value.lower() in ("none", "null"))):
            return None
        # TrainingArguments takes `SchedulerType | str` and turns the text into the enum: only its values work.
        enums = [a for a in arms if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums and isinstance(value, str):
            return read_value(value, enums[0], numbers_as_text=numbers_as_text)
        for arm in sorted(arms, key=_preference):
            try:
                return read_value(value, arm, numbers_as_text=numbers_as_text)
            except ValueError:
                continue
        raise ValueError(value)
    if origin is Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and value == str(choice)):
                return choice
        raise ValueError(value)
    if hint is Any or hint is object:
        return value
    if hint is type(None):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        raise ValueError(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [e.value for e in hint]
        if isinstance(value, hint):
            return value.value
        if value in values:
            return value
        raise ValueError(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):  # YAML's `lora: 1`
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        raise ValueError(value)
    if hint is int or hint is float:
        if isinstance(value, bool):  # a bool is an int to Python, never a number to a user
            raise ValueError(value)
        if isinstance(value, str):
            return hint(value.strip())
        if isinstance(value, int) or (isinstance(value, float) and (hint is float or value.is_integer())):
            return hint(value)
        raise ValueError(value)
    if hint is str:
        if isinstance(value, str):
            return value
        if numbers_as_text and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError(value)
    if origin in (list, tuple) or hint in (list, tuple):
        items = json.loads(value) if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError(value)
        item_hint = args[0] if args else Any  # list[X], tuple[X, ...]
        return [read_value(v, item_hint, numbers_as_text=numbers_as_text) for v in items]
    if origin is dict or hint is dict:
        mapping = json.loads(value) if isinstance(value, str) else value
        if not isinstance(mapping, dict):
            raise ValueError(value)
        return mapping
    return value  # a type llmgym does not read (a callable, a class): TRL's check applies


def describe(hint: Any) -> str:
    """What a value of type `hint` looks like, for an error message.

    >>> describe(int | None), describe(Literal["group", "batch"])
    ('an integer or none', "one of 'group', 'batch'")
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        enums = [a for a in arms if isinstance(a, type) and issubclass(a, enum.Enum)]
        words = [describe(a) for a in (enums or sorted(arms, key=_preference))]
        if len(arms) < len(args):
            words.append("none")
        return " or ".join(dict.fromkeys(words))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(e.value) for e in hint)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "text", list: "a JSON list",
             tuple: "a JSON list", dict: "a JSON object", type(None): "none"}
    return names.get(origin or hint, getattr(hint, "__name__", str(hint)))


def _preference(arm: Any) -> int:
    """The order a union's types are tried in: the strictest reading first, text last."""
    origin = typing.get_origin(arm) or arm
    order = [bool, int, float, Literal, list, tuple, dict, str]
    return order.index(origin) if origin in order else len(order) - 1


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def read_field(what: str, name: str, value: Any, hint: Any, **kw: Any) -> Any:
    """`read_value`, with a failure as the one-line error `WHAT NAME: cannot read VALUE as DESCRIPTION`.

    >>> read_field("guard", "patience", "3", int | None)
    3
    >>> read_field("guard", "patience", "lots", int | None)
    Traceback (most recent call last):
    ...
    llmgym.errors.LLMGymError: guard patience: cannot read 'lots' as an integer or none
    """
    try:
        return read_value(value, hint, **kw)
    except (TypeError, ValueError, OverflowError):
        raise LLMGymError(f"{what} {name}: cannot read {value!r} as {describe(hint)}".lstrip()) from None


def read_mode_spec(what: str, spec: Any, cls: type, *, when_true: str | None, when_false: str | None,
                   mapping_mode: str | None = None, bare_mode: str | None = None,
                   none_words: Collection[str] = ()) -> dict[str, Any] | None:
    """The fields of a `MODE[:KEY=VALUE,...]` spec (`--guard`, `--curriculum`) for the dataclass `cls`, whose
    `mode` field names the mode; None for a spec of another type (the caller says what it takes).

    A spec is text, a mapping (YAML) or a bool (YAML's unquoted on/off: mode `when_true` / `when_false`; None
    for the default). Text without a mode but with `=` gets `bare_mode`; a mapping without `mode` gets
    `mapping_mode`. Unknown keys are `unknown_option`'s error; text values are read as their field's type
    (`read_field`), and `none_words` stand for None (a rule switched off).

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Rule:
    ...     mode: str = "stop"
    ...     patience: int = 2
    ...     limit: float | None = 1.0
    >>> read_mode_spec("guard", "patience=3,limit=off", Rule, when_true=None, when_false="off", bare_mode="stop",
    ...                none_words=("off",))
    {'patience': 3, 'limit': None, 'mode': 'stop'}
    """
    from .registry import parse_name_options

    if spec is None or isinstance(spec, bool):
        chosen = when_true if spec is True else when_false if spec is False else None
        return {} if chosen is None else {"mode": chosen}
    if isinstance(spec, Mapping):
        options = dict(spec)
        if mapping_mode is not None:
            options.setdefault("mode", mapping_mode)
    elif isinstance(spec, str):
        text = spec.strip()
        if bare_mode is not None and text and ":" not in text and "=" in text:
            text = f"{bare_mode}:{text}"
        mode, options = parse_name_options(text)
        if mode or bare_mode is None:
            options.setdefault("mode", mode)
    else:
        return None
    check_keys(what, options, cls)
    hints = typing.get_type_hints(cls)
    words = {w.lower() for w in none_words}
    for key, value in options.items():
        if key != "mode" and isinstance(value, str):
            options[key] = None if value.lower() in words else read_field(what, key, value, hints[key],
                                                                           numbers_as_text=True)
    return options
