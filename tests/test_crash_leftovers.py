"""What a kill leaves behind: temp files and folders of atomic writes are removed on the next run of
their directory, and a bench report torn between its files is told apart by its summary.json."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llmgym.io import clean_leftovers
from llmgym.report import render
from llmgym.report.bench import PolicyCase, run_bench
from llmgym.report.render import render_bench, stale_report_files

from test_bench import SumPolicy, cases

# Kills itself inside llmgym.io's own helpers, so the leftovers carry their real names.
KILLED_WRITER = r"""
import os, signal, sys
from llmgym import io

def die(*args):
    os.kill(os.getpid(), signal.SIGKILL)

where, what = sys.argv[1], sys.argv[2]
if what == "file":
    os.fsync = die  # after the temp file is written, before it is renamed into place
    io.atomic_write_text(os.path.join(where, "summary.json"), '{"half": ')
else:
    with io.atomic_dir(os.path.join(where, "final")) as tmp:
        (tmp / "config.json").write_text("{")
        die()
"""


def killed_write(directory, what):
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(directory), what], timeout=120)
    assert done.returncode == -9


def test_clean_leftovers_removes_what_killed_atomic_writes_leave_and_nothing_else(tmp_path):
    killed_write(tmp_path, "file")
    killed_write(tmp_path, "dir")
    (tmp_path / ".final-old-4242").mkdir()  # atomic_dir killed between its two renames
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in leftovers if n.startswith(".summary.json.") and n.endswith(".tmp")], leftovers
    assert [n for n in leftovers if n.startswith(".final-") and n != ".final-old-4242"], leftovers
    keep = {"summary.json": "{}", "notes.tmp": "mine", ".hidden": "mine", ".summary.json.tmp": "mine",
            ".final-draft.tmp": "mine"}
    for name, text in keep.items():
        (tmp_path / name).write_text(text)
    for name in ("final", ".cache", ".final-draft", "checkpoint-3"):
        (tmp_path / name).mkdir()

    removed = clean_leftovers(tmp_path)

    assert sorted(p.name for p in removed) == leftovers
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, "final", ".cache", ".final-draft",
                                                                 "checkpoint-3"])
    assert clean_leftovers(tmp_path) == [] and clean_leftovers(tmp_path / "absent") == []


@pytest.fixture
def bench(tmp_path):
    out = tmp_path / "bench"
    small = run_bench(cases(n=3), [PolicyCase("sum", SumPolicy)], out)
    more = run_bench(cases(n=6), [PolicyCase("sum", SumPolicy)], out)
    return out, small, more


def killed_before(name, monkeypatch):
    """Make render_bench die (like a kill) when it comes to writing `name`."""
    real = render.atomic_write_text

    def write(path, text):
        if path.name == name:
            raise KeyboardInterrupt(f"killed before {name}")
        real(path, text)

    monkeypatch.setattr(render, "atomic_write_text", write)


def test_a_report_is_one_set_named_by_its_summary(bench):
    out, small, _ = bench
    paths = render_bench(out, small)
    summary = json.loads(paths["summary"].read_text())
    assert set(summary["report_files"]) == {"report.md", "report.html"}
    assert all(v.startswith("sha256:") for v in summary["report_files"].values())
    assert stale_report_files(out) == []


@pytest.mark.parametrize("killed_at, stale", [
    ("report.html", ["report.md"]),  # a new report.md beside the old report.html and summary.json
    ("summary.json", ["report.md", "report.html"]),  # both reports new, summary.json old
])
def test_a_kill_between_report_files_is_told_apart_and_a_rerender_repairs_it(bench, monkeypatch, killed_at, stale):
    out, small, more = bench
    render_bench(out, small)
    old_summary = (out / "summary.json").read_text()
    killed_before(killed_at, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        render_bench(out, more)
    assert (out / "summary.json").read_text() == old_summary
    assert stale_report_files(out) == stale

    monkeypatch.undo()
    render_bench(out, more)
    assert stale_report_files(out) == []
    assert json.loads((out / "summary.json").read_text())["results"][0]["tasks"] == 6


def test_a_missing_or_older_summary_names_no_set(bench):
    out, small, _ = bench
    render_bench(out, small)
    summary = json.loads((out / "summary.json").read_text())
    del summary["report_files"]
    (out / "summary.json").write_text(json.dumps(summary))
    assert stale_report_files(out) == ["report.md", "report.html"]
    (out / "summary.json").unlink()
    assert stale_report_files(out) == ["report.md", "report.html"]


def test_rendering_again_removes_temp_files_of_a_killed_render(bench):
    out, small, _ = bench
    killed_write(out, "file")
    assert [p for p in out.iterdir() if p.name.startswith(".summary.json.")]
    render_bench(out, small)
    assert sorted(p.name for p in out.iterdir()) == ["bench.json", "report.html", "report.md", "results.jsonl",
                                                     "summary.json"]
