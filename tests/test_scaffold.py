"""`llmgym new env NAME`: the package it writes installs and passes its own test unchanged, and llmgym
finds its env through the entry point; bad names and output folders are one line and exit status 2."""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from llmgym.cli import main
from llmgym.scaffold import package_files


def throwaway_venv(where: Path) -> Path:
    """A venv that sees the project's packages but installs into itself; returns its python.

    A venv made from the project venv's python is based on the interpreter the project venv was made
    from, so `--system-site-packages` would show that interpreter's packages, not the project's. A .pth
    file adds the project's site-packages (and runs the .pth files there, such as llmgym's editable
    install) after the throwaway venv's own.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=60)
    python = where / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    project = sysconfig.get_paths()["purelib"]
    (Path(own) / "_project_site.pth").write_text(f"import site; site.addsitedir({project!r})\n")
    return python


def run(args, **kwargs):
    env = {k: v for k, v in os.environ.items() if k not in ("LLMGYM_DISABLE_PLUGIN_AUTOLOAD", "PYTHONPATH")}
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, env=env, **kwargs)


def test_the_skeleton_installs_passes_its_own_test_and_is_listed_with_its_distribution(tmp_path, capsys):
    package = tmp_path / "llmgym-my-task"
    assert main(["new", "env", "my_task", "--out", str(package)]) == 0
    assert f"wrote {package}" in capsys.readouterr().out
    venv = tmp_path / "venv"
    try:
        python = throwaway_venv(venv)
        install = run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                       "-e", package])
        assert install.returncode == 0, install.stdout + install.stderr
        tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=package)
        assert tests.returncode == 0 and "5 passed" in tests.stdout, tests.stdout + tests.stderr
        listed = run([python, "-m", "llmgym.cli", "list", "envs", "--json"])
        assert listed.returncode == 0, listed.stderr
        entry = next(e for e in json.loads(listed.stdout) if e["name"] == "my_task")
        assert entry["source"] == "llmgym-my-task" and "whole numbers" in entry["description"]
    finally:
        shutil.rmtree(venv, ignore_errors=True)
    with pytest.raises(importlib.metadata.PackageNotFoundError):  # the project's venv never saw it
        importlib.metadata.distribution("llmgym-my-task")


def test_the_skeleton_is_a_complete_package():
    files = package_files("my_task")
    assert sorted(files) == ["README.md", "pyproject.toml", "src/llmgym_my_task/__init__.py",
                             "src/llmgym_my_task/env.py", "src/llmgym_my_task/plugin.py",
                             "src/llmgym_my_task/reward.py", "tests/test_my_task.py"]
    pyproject = files["pyproject.toml"]
    assert 'name = "llmgym-my-task"' in pyproject
    assert '[project.entry-points.llmgym]\nmy_task = "llmgym_my_task.plugin"' in pyproject
    assert "class MyTaskEnv(SingleTurnEnv)" in files["src/llmgym_my_task/env.py"]
    assert 'version = "1"' in files["src/llmgym_my_task/env.py"]
    assert "llmgym.check_env(MyTaskEnv(level=level))" in files["tests/test_my_task.py"]


def test_an_empty_output_folder_is_used(tmp_path):
    (tmp_path / "out").mkdir()
    assert main(["new", "env", "my_task", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "tests" / "test_my_task.py").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp folder left behind


@pytest.mark.parametrize("argv, message", [
    (["new", "env", "My-Task"], "env name 'My-Task' must be 1-40 lowercase letters, digits and underscores"),
    (["new", "env", "1task"], "env name '1task' must be"),
    (["new", "env", "x" * 41], "must be 1-40"),
    (["new", "env", "math"], "env 'math' is already registered by llm-gym"),
    (["new", "env", "format"], "reward 'format' is already registered by llm-gym"),
    (["new", "reward", "my_task"], "llmgym new makes env packages, got 'reward'"),
])
def test_bad_names_are_one_line_and_exit_2_and_write_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main(argv + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("llmgym: error:") and message in err[0], err
    assert not out.exists()


def test_a_folder_that_is_not_empty_is_refused(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep me")
    assert main(["new", "env", "my_task", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists and is not an empty folder" in err[0], err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mine.txt"]
