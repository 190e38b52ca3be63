import os

import pytest

from llmgym.io import append_jsonl, atomic_dir, atomic_write_text, read_jsonl


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two" and os.listdir(path.parent) == ["a.txt"]


def test_jsonl_appends_and_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "r.jsonl"
    append_jsonl(path, [{"a": 1}, {"a": 2}])
    with open(path, "a") as f:
        f.write('{"a": 3')  # a writer killed mid-line
    assert list(read_jsonl(path)) == [{"a": 1}, {"a": 2}]
    assert list(read_jsonl(tmp_path / "missing.jsonl")) == []


def test_atomic_dir_keeps_the_old_folder_when_writing_fails(tmp_path):
    dest = tmp_path / "model"
    with atomic_dir(dest) as tmp:
        (tmp / "w.bin").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(dest) as tmp:
            (tmp / "w.bin").write_text("half")
            raise RuntimeError("killed")
    assert (dest / "w.bin").read_text() == "v1" and sorted(os.listdir(tmp_path)) == ["model"]


def test_append_after_a_torn_line_cuts_it_and_reading_skips_nothing_else(tmp_path):
    from llmgym.io import append_jsonl, read_jsonl

    path = tmp_path / "rows.jsonl"
    append_jsonl(path, [{"step": 1}])
    with open(path, "a") as f:
        f.write('{"step": 2, "tor')  # a writer killed mid-line
    assert list(read_jsonl(path)) == [{"step": 1}]
    append_jsonl(path, [{"step": 2}])
    assert list(read_jsonl(path)) == [{"step": 1}, {"step": 2}]
    assert path.read_text().count("\n") == 2


def test_run_dir_rows_name_a_bad_line_instead_of_dropping_it(tmp_path):
    from llmgym.errors import LLMGymError
    from llmgym.train.rundir import RunDir

    run = RunDir(tmp_path / "run")
    run.metrics.parent.mkdir(parents=True, exist_ok=True)
    run.metrics.write_bytes(b'{"step": 1}\n\xff\xfe not json\n{"step": 3}\n')
    with pytest.raises(LLMGymError, match=r"metrics.jsonl:2"):
        run.rows()


def test_atomic_writes_get_the_mode_a_plain_write_would(tmp_path):
    from llmgym.io import _umask

    atomic_write_text(tmp_path / "report.md", "x")
    with atomic_dir(tmp_path / "export") as tmp:
        (tmp / "a").write_text("y")
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert (tmp_path / "export").stat().st_mode & 0o777 == 0o777 & ~_umask()
