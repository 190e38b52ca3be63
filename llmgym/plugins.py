"""Plugin loading: a pluggy manager, entry points of group `llmgym`, and error isolation.

`Gym` holds one plugin manager and a registry per kind of entry (`KINDS`: envs, rewards, policies,
algorithms, tools), each filled by its hook `llmgym_register_<kind>`. Entry points are loaded lazily (on the
first lookup), once. Built-in plugins come through the same entry points as third-party ones
(`[project.entry-points.llmgym]` in our pyproject). `LLMGYM_DISABLE_PLUGIN_AUTOLOAD=1` turns
third-party loading off; the built-ins of distribution `llm-gym` still load.

A plugin is all-or-nothing: its registrations are buffered while its hooks run and kept only if every
hook succeeded and no name was taken. A plugin that fails to import, fails validation (a misspelled
hook), raises in a hook or registers a taken name is reported once, naming its distribution, and
skipped; every other plugin keeps working, and asking for one of its entries says why it is missing.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import Registry

log = logging.getLogger("llmgym")

DISTRIBUTION = "llm-gym"
DISABLE_AUTOLOAD_ENV = "LLMGYM_DISABLE_PLUGIN_AUTOLOAD"
KINDS = ("envs", "rewards", "policies", "algorithms", "tools")
_HOOKS = {kind: f"llmgym_register_{kind}" for kind in KINDS}


def autoload_disabled() -> bool:
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in ("", "0", "false", "no")


class Gym:
    """Plugin manager plus registries. `Gym()` loads entry points on first use; tests pass
    `entry_points=[...]` (objects with `name`, `load()` and `dist`) or call `add_plugin` directly."""

    def __init__(self, *, entry_points: Iterable[Any] | None = None, autoload: bool | None = None):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.envs = Registry("env")
        self.rewards = Registry("reward")
        self.policies = Registry("policy")
        self.algorithms = Registry("algorithm")
        self.tools = Registry("tool")
        self.problems: list[str] = []
        self._entry_points = entry_points
        self._autoload = autoload
        self._loaded = False

    def registry(self, kind: str) -> Registry:
        self.load()
        return {"envs": self.envs, "rewards": self.rewards, "policies": self.policies, "algorithms": self.algorithms,
                "tools": self.tools}[kind]

    # -- loading -------------------------------------------------------------------------------
    def load(self) -> None:
        """Load every entry point of group `llmgym` (once)."""
        if self._loaded:
            return
        self._loaded = True
        third_party = self._autoload if self._autoload is not None else not autoload_disabled()
        eps = self._entry_points
        if eps is None:
            eps = importlib.metadata.entry_points(group=hookspecs.PROJECT)
        for ep in sorted(eps, key=_builtin_first):
            source = _dist_name(ep)
            if source != DISTRIBUTION and not third_party:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self._skip(ep.name, source, f"import failed: {type(exc).__name__}: {exc}", [])
                continue
            self.add_plugin(plugin, name=ep.name, source=source)

    def add_plugin(self, plugin: Any, *, name: str | None = None, source: str = "local") -> bool:
        """Register a plugin object or module and run its hooks. Returns False if it was skipped."""
        name = name or getattr(plugin, "__name__", None) or repr(plugin)
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()  # a misspelled hook name fails here, loudly, not silently
        except Exception as exc:
            self._unregister(plugin)
            self._skip(name, source, f"invalid plugin: {type(exc).__name__}: {exc}", [])
            return False
        pending: list[tuple[str, str, Any, dict[str, Any]]] = []
        try:
            for kind in KINDS:
                for impl in getattr(self.pm.hook, _HOOKS[kind]).get_hookimpls():
                    if impl.plugin is not plugin:
                        continue

                    def register(entry: str, factory: Any, _kind: str = kind, **metadata: Any) -> None:
                        pending.append((_kind, entry, factory, metadata))

                    impl.function(register=register)
            self._check_pending_names(pending)
        except Exception as exc:
            self._unregister(plugin)
            self._skip(name, source, f"{type(exc).__name__}: {exc}", pending)
            return False
        for kind, entry, factory, metadata in pending:
            getattr(self, kind).register(entry, factory, source=source, **metadata)
        return True

    def _check_pending_names(self, pending: list[tuple[str, str, Any, dict[str, Any]]]) -> None:
        seen: set[tuple[str, str]] = set()
        for kind, entry, factory, metadata in pending:
            reg: Registry = getattr(self, kind)
            probe = Registry(reg.kind)
            probe.register(entry, factory, source="probe", **metadata)  # validates name and factory
            if entry in reg or (kind, entry) in seen:
                owner = reg.spec(entry).source if entry in reg else "this plugin itself"
                raise PluginError(f"it registers {reg.kind} {entry!r}, already registered by {owner}")
            seen.add((kind, entry))

    def _unregister(self, plugin: Any) -> None:
        if self.pm.is_registered(plugin):
            self.pm.unregister(plugin)

    def _skip(self, plugin: str, source: str, why: str, pending: list[tuple[str, str, Any, dict]]) -> None:
        message = f"plugin {plugin!r} from distribution {source!r} was skipped: {why}"
        self.problems.append(message)
        log.warning("llmgym: %s", message)
        for reg in (getattr(self, kind) for kind in KINDS):
            reg.failed_plugins[f"{plugin} ({source})"] = why
        for kind, entry, _, _ in pending:
            reg = getattr(self, kind)
            if entry not in reg:
                reg.skipped[entry] = message

    # -- building ------------------------------------------------------------------------------
    def make_env(self, name: str, **kwargs: Any) -> Any:
        """Build an env; `tools=[...]` (names in the `tools` registry, or `Tool` objects) wraps it in a
        `ToolEnv` (see `llmgym.env.ToolEnv`); `rubric=` given as reward names (`"+exact@0.5"`, see
        `llmgym.rubric_option`) replaces or extends the env's rubric."""
        from .env import TextEnv, ToolEnv
        from .registry import parse_name_options
        from .rubric_option import build_rubric, check_rubric_option
        from .tools import resolve_tools

        base_name, options = parse_name_options(name)
        options.update(kwargs)
        tools = options.pop("tools", None)
        max_turns = options.pop("max_turns", None)
        # A Rubric object goes to the env as it is; names (the command line's spelling) are built here.
        rubric = options.pop("rubric") if options.get("rubric") is not None and not hasattr(
            options["rubric"], "score_batch") else None
        if rubric is not None:
            check_rubric_option(rubric, self.registry("rewards"))  # a typo fails before the env is built
        env = self.registry("envs").make(base_name, **options)
        if not isinstance(env, TextEnv):
            raise PluginError(f"env {base_name!r} factory returned {type(env).__name__}, not a TextEnv")
        if rubric is not None:
            env.rubric = build_rubric(rubric, env.rubric, self.registry("rewards"), env_name=base_name)
        if tools:
            extra = {"max_turns": max_turns} if max_turns is not None else {}
            env = ToolEnv(env, resolve_tools(tools, self.registry("tools")), **extra)
        return env

    def make_reward(self, name: str, **kwargs: Any) -> Any:
        return self.registry("rewards").make(name, **kwargs)

    def make_policy(self, name: str, **kwargs: Any) -> Any:
        """Build a policy from its spec: a registered name with options (`tiny:hidden=32`), or a model
        folder, a checkpoint or a run directory, which is the `hf` policy of that path. Every command
        that takes a policy resolves it here, so a run directory works as a policy everywhere."""
        if is_policy_path(name):
            return self.registry("policies").make("hf", path=name, **kwargs)
        return self.registry("policies").make(name, **kwargs)


def is_policy_path(spec: str) -> bool:
    """Whether a policy spec names a folder (a model, checkpoint or run directory) rather than an entry.

    >>> is_policy_path("runs/math-grpo"), is_policy_path("tiny:hidden=32")
    (True, False)
    """
    import os
    from pathlib import Path

    return isinstance(spec, str) and (os.path.sep in spec.split(":", 1)[0] or Path(spec).is_dir())


def _dist_name(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) or getattr(dist, "metadata", {}).get("Name") if dist else None
    return str(name) if name else "unknown"


def _builtin_first(ep: Any) -> tuple[int, str]:
    return (0 if _dist_name(ep) == DISTRIBUTION else 1, str(getattr(ep, "name", "")))


_default: Gym | None = None


def default_gym() -> Gym:
    """The process-wide `Gym` used by `llmgym.make` and the CLI, created on first use."""
    global _default
    if _default is None:
        _default = Gym()
    return _default
