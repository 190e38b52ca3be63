"""The core reaches the built-in plugins only through the registry: no module under `llmgym/`
imports `llmgym.envs`, `llmgym.rewards` or `llmgym.policies`, at the top or inside a function, so a
third party's env, reward or policy gets every path a built-in one gets."""

import ast
from pathlib import Path

import llmgym

CORE = Path(llmgym.__file__).parent
PLUGIN_PACKAGES = ("llmgym.envs", "llmgym.rewards", "llmgym.policies")


def package_of(path: Path) -> str:
    return ".".join(("llmgym", *path.relative_to(CORE).parent.parts))


def imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, a module of `package`, relative
    ones resolved; for `from X import a` both `X` and `X.a` count, since `a` may be a submodule."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return out


def is_plugin_module(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PLUGIN_PACKAGES)


def test_relative_and_nested_imports_are_resolved():
    # The walk is only as good as this: `from ..rewards import x` in llmgym/rlhf/ is llmgym.rewards,
    # and an import inside a function counts like one at the top.
    source = "from ..rewards import answer\nfrom . import rankings\ndef f():\n    import llmgym.policies.hf\n"
    assert package_of(CORE / "rlhf" / "probe.py") == "llmgym.rlhf"
    modules = [m for _, m in imported_modules(source, "llmgym.rlhf")]
    assert modules == ["llmgym.rewards", "llmgym.rewards.answer", "llmgym.rlhf", "llmgym.rlhf.rankings",
                       "llmgym.policies.hf"]
    assert [m for m in modules if is_plugin_module(m)] == ["llmgym.rewards", "llmgym.rewards.answer",
                                                           "llmgym.policies.hf"]


def test_no_core_module_imports_a_builtin_plugin_package():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 20  # the walk sees the core, not an empty folder
    offenders = [f"{path.relative_to(CORE.parent)}:{line}: imports {module}"
                 for path in files
                 for line, module in imported_modules(path.read_text(encoding="utf-8"), package_of(path))
                 if is_plugin_module(module)]
    print("\n".join(offenders))
    assert not offenders, "the core imports built-in plugins (go through the registry):\n" + "\n".join(offenders)
