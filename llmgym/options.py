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
from typing import Any, Collection, Iterable, Mapping

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
