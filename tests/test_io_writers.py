"""Every writer of llmgym survives a `kill -9` in the middle of its write: the file or folder it
replaces is left as it was, and the next write and read carry on.

Each case kills a child process at the worst moment of one writer (half of an append's bytes
written, a rewrite's temp file complete but not renamed, a model folder half saved), then checks
what the parent finds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from llmgym.io import atomic_dir, clean_leftovers, read_jsonl

HERE = Path(__file__).parent


# -- what the child runs ----------------------------------------------------------------------------
def _kill_now(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def _half_writing_kill():
    """The next `os.write` writes half its bytes, then the process is killed."""
    real = os.write

    def write(fd, data):
        real(fd, data[: max(1, len(data) // 2)])
        _kill_now()

    os.write = write


class HalfSavedModel:
    """A model whose `save_pretrained` writes part of a weights file and is killed."""

    def save_pretrained(self, folder):
        Path(folder, "model.safetensors").write_bytes(b"\0" * 100)
        _kill_now()


class Model:
    def __init__(self, text: str):
        self.text = text

    def save_pretrained(self, folder):
        Path(folder, "model.safetensors").write_text(self.text)


class Tokenizer:
    def save_pretrained(self, folder):
        Path(folder, "tokenizer.json").write_text("{}")


class FixedJudge:
    """A judge policy that answers every prompt with a rating of 7."""

    def generate(self, prompts, n=1, params=None):
        from llmgym.types import Completion

        return [[Completion(text="\\boxed{7}")] for _ in prompts]


def judge(cache: Path):
    from llmgym.rewards.rlhf import JudgeReward

    return JudgeReward(FixedJudge(), prompt="Rate: {completion}", cache=str(cache))


def ranking(ranker: str) -> dict:
    from llmgym.rlhf import rankings as rk

    return rk.make_record("p", ["a", "b"], [1, 0], ranker=ranker)


def write(case: str, path: Path, what: str) -> None:
    """Do one write of `case` to `path`; `what` tells this write's content from the others'."""
    from llmgym.report.bench import ResultsFile
    from llmgym.rlhf import label_server, rankings as rk
    from llmgym.train.rundir import RunDir

    if case == "metrics":
        RunDir(path).log_metrics({"step": int(what) if what.isdigit() else 99, "loss": 0.5})
    elif case == "rankings":
        rk.append(path, [ranking(what)])
    elif case == "bench results":
        results = ResultsFile(path)
        results.append({"task_id": what, "text": "x" * 10_000})
        results.close()
    elif case == "judge cache":
        judge(path).ratings(["p"], [what])
    elif case == "rankings rewrite":
        rk.rewrite(path, [ranking(what)])
    elif case == "label queue":
        label_server.write_queue(path, [{"item": what}])
    elif case == "metrics cut":
        RunDir(path).cut_after(int(what) if what.isdigit() else 1)
    elif case == "final model":
        RunDir(path).save_model(path / "final", Model(what) if what != "killed" else HalfSavedModel(), Tokenizer())
    elif case == "bon checkpoint":
        from transformers import TrainerState

        from llmgym.algorithms.bon import _save_round

        run = RunDir(path)
        model = Model(what) if what != "killed" else HalfSavedModel()
        _save_round(run, model, Tokenizer(), TrainerState(global_step=1), keep=2)
        run.mark_checkpoint("checkpoint-1")
    elif case == "guard best":
        from llmgym.rlhf.guard import save_model_atomic

        save_model_atomic(Model(what) if what != "killed" else HalfSavedModel(), Tokenizer(), path / "best")
    else:
        raise AssertionError(case)


def child(case: str, path: str, kill: str) -> None:
    """The child process: arm the kill, then write."""
    if kill == "mid-append":
        _half_writing_kill()
    elif kill == "before-rename":
        os.replace = os.rename = _kill_now
    write(case, Path(path), "killed")


def run_killed(case: str, path: Path, kill: str) -> None:
    code = f"import test_io_writers as t; t.child({case!r}, {str(path)!r}, {kill!r})"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]


# -- appends --------------------------------------------------------------------------------------
# case: (the path a write takes, the file it appends to, the key that tells rows apart)
APPENDS = {
    "metrics": (lambda tmp: tmp, lambda tmp: tmp / "metrics.jsonl", "step"),
    "rankings": (lambda tmp: tmp / "r.jsonl", lambda tmp: tmp / "r.jsonl", "ranker"),
    "bench results": (lambda tmp: tmp / "results.jsonl", lambda tmp: tmp / "results.jsonl", "task_id"),
}


@pytest.mark.parametrize("case", list(APPENDS))
def test_an_append_killed_halfway_leaves_the_rows_before_it_and_the_next_append_a_clean_line(tmp_path, case):
    where, file_of, key = APPENDS[case]
    path, file = where(tmp_path), file_of(tmp_path)
    write(case, path, "1")
    run_killed(case, path, "mid-append")
    assert not file.read_bytes().endswith(b"\n")  # the kill did tear a line
    assert [str(r[key]) for r in read_jsonl(file)] == ["1"]
    write(case, path, "2")
    assert [str(r[key]) for r in read_jsonl(file)] == ["1", "2"] and file.read_bytes().endswith(b"\n")


def test_a_judge_cache_append_killed_halfway_keeps_the_ratings_before_it(tmp_path):
    cache = tmp_path / "judge.jsonl"
    judge(cache).ratings(["p"], ["first"])
    run_killed("judge cache", cache, "mid-append")
    again = judge(cache)
    assert list(again.cache.values()) == [7.0]  # the torn row is asked again, the whole one kept
    again.ratings(["p"], ["second"])
    assert [r["rating"] for r in read_jsonl(cache)] == [7.0, 7.0]


# -- rewrites -------------------------------------------------------------------------------------
def test_a_rankings_rewrite_killed_before_its_rename_leaves_the_old_file(tmp_path):
    from llmgym.rlhf import rankings as rk

    path = tmp_path / "r.jsonl"
    write("rankings rewrite", path, "old")
    run_killed("rankings rewrite", path, "before-rename")
    assert [r["ranker"] for r in rk.read(path, strict=True)] == ["old"]
    assert [p.name for p in clean_leftovers(tmp_path)] != []  # the finished temp file, never renamed
    assert os.listdir(tmp_path) == ["r.jsonl"]


def test_a_label_queue_write_killed_before_its_rename_leaves_the_old_queue(tmp_path):
    from llmgym.rlhf.label_server import read_queue

    path = tmp_path / "queue.jsonl"
    write("label queue", path, "old")
    run_killed("label queue", path, "before-rename")
    assert read_queue(path) == [{"item": "old"}]


def test_a_resume_cut_killed_before_its_rename_leaves_every_metrics_row(tmp_path):
    for step in (1, 2, 3):
        write("metrics", tmp_path, str(step))
    run_killed("metrics cut", tmp_path, "before-rename")
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1, 2, 3]
    write("metrics cut", tmp_path, "1")
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1]


# -- model folders --------------------------------------------------------------------------------
@pytest.mark.parametrize("case,folder", [("final model", "final"), ("guard best", "best"),
                                         ("bon checkpoint", "checkpoints/checkpoint-1")])
def test_a_model_save_killed_halfway_leaves_the_previous_model_whole(tmp_path, case, folder):
    write(case, tmp_path, "v1")
    run_killed(case, tmp_path, "mid-save")
    target = tmp_path / folder
    assert (target / "model.safetensors").read_text() == "v1" and (target / "tokenizer.json").is_file()
    assert clean_leftovers(target.parent)  # the half-saved temp folder, which the next run removes
    assert sorted(os.listdir(target.parent)) == (["LATEST", "checkpoint-1"] if case == "bon checkpoint"
                                                 else [target.name])
    if case == "bon checkpoint":
        state = json.loads((target / "trainer_state.json").read_text())
        assert state["global_step"] == 1 and (tmp_path / "checkpoints" / "LATEST").read_text() == "checkpoint-1\n"


def test_a_folder_built_by_two_processes_keeps_the_first_one_renamed_into_place(tmp_path):
    # The smollm2 conversion cache: readers of the first folder never see it moved away.
    dest = tmp_path / "cache"
    with atomic_dir(dest, replace=False) as tmp:
        (tmp / "w").write_text("first")
    with atomic_dir(dest, replace=False) as tmp:
        (tmp / "w").write_text("second")
    assert (dest / "w").read_text() == "first" and os.listdir(tmp_path) == ["cache"]
