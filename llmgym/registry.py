"""`Registry`: named factories for one kind of thing (envs, rewards, policies or tools).

A registry is an object, never a module global, so tests build their own. Entries are registered
with a callable or a lazy `"module:attr"` string and the distribution they came from; `make(name)`
builds one. Unknown names raise `UnknownNameError` with the closest matches.

>>> reg = Registry("env")
>>> reg.register("counting", dict, source="demo", description="count letters")
>>> reg.make("counting", level=2)
{'level': 2}
>>> reg.make("countin")
Traceback (most recent call last):
...
llmgym.errors.UnknownNameError: unknown env 'countin'; did you mean: counting? (known: counting)
"""

from __future__ import annotations

import ast
import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .errors import LLMGymError, PluginError, UnknownNameError

Factory = Callable[..., Any] | str


@dataclass(frozen=True)
class Spec:
    """One registered entry: its name, factory, source distribution and metadata."""

    name: str
    factory: Factory
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return str(self.metadata.get("description", "")).strip().splitlines()[0] if self.metadata.get(
            "description") else ""

    def load(self) -> Callable[..., Any]:
        """The factory itself, importing it when it was registered as a `"module:attr"` string."""
        if callable(self.factory):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split(".") if attr else []:
                obj = getattr(obj, part)
        except Exception as exc:
            raise PluginError(f"{self.name!r} (from {self.source}) cannot be loaded from "
                              f"{self.factory!r}: {type(exc).__name__}: {exc}") from exc
        if not callable(obj):
            raise PluginError(f"{self.name!r} (from {self.source}): {self.factory!r} is not callable")
        return obj


class Registry:
    """Named factories of one kind. `skipped` remembers entries refused and why."""

    def __init__(self, kind: str):
        self.kind = kind
        self._specs: dict[str, Spec] = {}
        self.skipped: dict[str, str] = {}
        self.failed_plugins: dict[str, str] = {}  # plugin -> why it could not load (set by the loader)

    def register(self, name: str, factory: Factory, *, source: str = "unknown", **metadata: Any) -> None:
        """Add an entry. A taken name is refused with `PluginError` naming both sources."""
        if not isinstance(name, str) or not name or ":" in name or "," in name:
            raise PluginError(f"invalid {self.kind} name {name!r} from {source}: use a non-empty name "
                              "without ':' or ','")
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise PluginError(f"{self.kind} {name!r} from {source}: factory must be a callable or "
                              f"a 'module:attr' string, got {factory!r}")
        if name in self._specs:
            raise PluginError(f"{self.kind} {name!r} from {source} is already registered by "
                              f"{self._specs[name].source}")
        self._specs[name] = Spec(name, factory, source, dict(metadata))

    def unregister(self, name: str) -> None:
        self._specs.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[Spec]:
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def registered(self) -> list[str]:
        """The names in the order they were registered (built-ins first, as plugins load)."""
        return list(self._specs)

    def spec(self, name: str) -> Spec:
        try:
            return self._specs[name]
        except KeyError:
            raise self._unknown(name) from None

    def make(self, name: str, **kwargs: Any) -> Any:
        """Build the entry `name`, or `"name:k=v,..."` with options, passing keyword options."""
        name, options = parse_name_options(name) if isinstance(name, str) else (name, {})
        factory = self.spec(name).load()
        try:
            return factory(**{**options, **kwargs})
        except TypeError as exc:
            if "argument" in str(exc):  # an option the factory does not take: the user's mistake
                raise LLMGymError(f"{self.kind} {name!r}: {exc}") from exc
            raise

    def _unknown(self, name: str) -> UnknownNameError:
        if name in self.skipped:
            return UnknownNameError(f"{self.kind} {name!r} is not available: {self.skipped[name]}")
        close = difflib.get_close_matches(str(name), list(self._specs), n=3, cutoff=0.5)
        msg = f"unknown {self.kind} {name!r}"
        if close:
            msg += f"; did you mean: {', '.join(close)}?"
        msg += f" (known: {', '.join(self.names()) or 'none'})"
        if self.failed_plugins:
            msg += "; plugins that failed to load: " + "; ".join(
                f"{p}: {why}" for p, why in sorted(self.failed_plugins.items()))
        return UnknownNameError(msg)


def parse_name_options(text: str) -> tuple[str, dict[str, Any]]:
    """Split `"math:level=3,family=word"` into `("math", {"level": 3, "family": "word"})`.

    Values are Python literals when they parse as one (numbers, booleans, lists), else strings.
    A quoted value may hold commas, colons and `=`; a key given twice is an error.

    >>> parse_name_options("counting:level=2,tools=['python']")
    ('counting', {'level': 2, 'tools': ['python']})
    >>> parse_name_options("dataset:path='my,file:x=1.jsonl'")
    ('dataset', {'path': 'my,file:x=1.jsonl'})
    >>> parse_name_options('dataset:sep=",",path="a:b"')
    ('dataset', {'sep': ',', 'path': 'a:b'})
    >>> parse_name_options("math:level=1,level=2")
    Traceback (most recent call last):
    ...
    llmgym.errors.LLMGymError: option 'level' given twice in 'math:level=1,level=2'; give it once
    """
    name, sep, rest = text.partition(":")
    options: dict[str, Any] = {}
    if not sep or not rest.strip():
        return name.strip(), options
    for item in _split_top_level(rest, text):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise LLMGymError(f"bad option {item!r} in {text!r}: expected key=value")
        if key in options:
            raise LLMGymError(f"option {key!r} given twice in {text!r}; give it once")
        try:
            options[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            options[key] = value.strip()
    return name.strip(), options


def top_level_chars(text: str, *, strict_in: str | None = None) -> Iterator[tuple[int, str]]:
    """(index, char) of each character outside quotes and brackets (quotes skip escaped characters).

    With `strict_in` (the whole spec `text` is part of, named in the message), a closing bracket that
    opens nothing, an unclosed quote or an unclosed bracket is an `LLMGymError`.

    >>> [i for i, ch in top_level_chars("a='x,y',b") if ch == ","]
    [7]
    """
    depth, quote, i = 0, "", 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
            if depth < 0 and strict_in is not None:
                raise LLMGymError(f"unmatched {ch!r} in {strict_in!r}")
        elif depth == 0:
            yield i, ch
        i += 1
    if strict_in is not None and quote:
        other = "'" if quote == '"' else '"'
        raise LLMGymError(f"unclosed quote {quote} in {strict_in!r}; a value holding {quote} goes in {other} quotes")
    if strict_in is not None and depth:
        raise LLMGymError(f"unclosed bracket in {strict_in!r}")


def _split_top_level(text: str, whole: str | None = None) -> list[str]:
    """Split on commas outside brackets and quotes, so `tools=['a','b']` and `path='a,b'` stay one item.

    >>> _split_top_level("a=1,b='x,y',c=[1, 2]")
    ['a=1', "b='x,y'", 'c=[1, 2]']
    """
    commas = [i for i, ch in top_level_chars(text, strict_in=text if whole is None else whole) if ch == ","]
    parts = [text[start + 1:end] for start, end in zip([-1, *commas], [*commas, len(text)])]
    return [p for p in (p.strip() for p in parts) if p]
