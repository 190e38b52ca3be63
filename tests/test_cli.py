import json
import subprocess
import sys

import pytest

import llmgym
from llmgym.cli import main


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "llmgym.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"llmgym {llmgym.__version__}"


def test_list_json_shows_sources(capsys):
    assert main(["list", "envs", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["acronym"]["source"] == "llmgym-plugin-example"
    assert rows["math"]["source"] == "llm-gym" and rows["math"]["description"]


def test_list_table_has_every_kind(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(kind in out for kind in ("envs", "rewards", "policies")) and "llmgym-plugin-example" in out


def test_info_prints_both_splits_components_and_solution(capsys):
    assert main(["info", "acronym", "--level", "2"]) == 0
    out = capsys.readouterr().out
    assert "[train]" in out and "[eval]" in out and "exact" in out and "reference solution" in out
    assert "level shown: 2" in out


@pytest.mark.parametrize("args, message", [
    (["info", "mathh"], "unknown env 'mathh'; did you mean: math?"),
    (["info", "acronym", "--level", "9"], "level must be one of [1, 2, 3]"),
    (["info", "acronym:colour=red"], "unexpected keyword argument 'colour'"),
])
def test_user_errors_are_one_line_exit_2_no_traceback(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmgym: error:") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
