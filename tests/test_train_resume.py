"""`kill -9` in the middle of a run, then `--resume`: training continues from the last complete
checkpoint, and metrics.jsonl ends with every step exactly once (nothing lost, nothing twice).
A run killed at its end (during the final evaluation, while saving final/) or already finished is
resumed without a training step and without a second final evaluation."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from llmgym.train.rundir import RunDir

TOY = str(Path(__file__).with_name("train_toy.py"))
ARGS = ["--env", "toyadd", "--policy", "tiny:hidden=32,layers=1", "--algo", "sft", "--steps", "9",
        "--save-every", "3", "--eval-every", "0", "--eval-tasks", "4", "--max-completion-length", "6",
        "--batch-size", "4"]


@pytest.mark.timeout(900)  # two interpreter start-ups; slow only on a crowded machine
def test_kill_9_then_resume_loses_at_most_one_interval_and_writes_each_step_once(tmp_path):
    run = RunDir(tmp_path / "run")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, TOY, *ARGS, "--out", str(run.path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    seen = []
    try:
        for line in proc.stdout:  # blocks until the trainer reports its first complete checkpoint
            seen.append(line)
            if "saved checkpoint-3" in line:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert any("saved checkpoint-3" in line for line in seen), "".join(seen[-20:])
    assert proc.returncode == -signal.SIGKILL
    killed_at = run.latest_checkpoint()[1]
    assert killed_at >= 3 and killed_at < 9
    assert not run.final.exists()

    done = subprocess.run([sys.executable, TOY, "--resume", str(run.path)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"resuming {run.path} from step {killed_at}" in " ".join(done.stdout.split())
    rows = run.rows()
    train_steps = Counter(r["step"] for r in rows if "loss" in r)
    assert sorted(train_steps) == list(range(1, 10)) and set(train_steps.values()) == {1}
    assert [r["step"] for r in rows if "eval/accuracy" in r] == [0, 9]
    assert run.latest_checkpoint()[1] == 9 and (run.final / "config.json").is_file()


# -- crash states built by hand: each is what a kill at one moment of the run's end leaves ----------
CFG = dict(env="toyadd", policy="tiny:hidden=32,layers=1", algo="sft", steps=3, save_every=3, eval_every=0,
           eval_tasks=4, max_completion_length=6, batch_size=4)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    import train_toy
    from llmgym.train.config import TrainConfig
    from llmgym.train.run import train

    train_toy.register()
    out = tmp_path_factory.mktemp("finished") / "run"
    train(TrainConfig(**CFG, out=str(out)))
    return out


@pytest.fixture
def run(finished_run, tmp_path):
    shutil.copytree(finished_run, tmp_path / "run")
    return RunDir(tmp_path / "run")


def resume(run: RunDir, **flags):
    from llmgym.train.config import TrainConfig
    from llmgym.train.run import train

    return train(TrainConfig(**{**CFG, **flags, "out": str(run.path)}), resume=True)


def steps(run: RunDir) -> tuple[list[int], list[int]]:
    """(steps with a training row, steps with a held-out evaluation row), in file order."""
    rows = run.rows()
    return [r["step"] for r in rows if "loss" in r], [r["step"] for r in rows if "eval/accuracy" in r]


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_resume_of_a_finished_run_trains_nothing_and_writes_nothing(run):
    metrics, summary = run.metrics.read_bytes(), run.summary.read_text()
    final = (run.final / "model.safetensors").stat().st_mtime_ns
    files = sorted(p.relative_to(run.path) for p in run.path.rglob("*"))
    assert steps(run) == ([1, 2, 3], [0, 3])

    assert resume(run) == json.loads(summary)
    assert run.metrics.read_bytes() == metrics and run.summary.read_text() == summary
    assert (run.final / "model.safetensors").stat().st_mtime_ns == final
    assert sorted(p.relative_to(run.path) for p in run.path.rglob("*")) == files


def test_resume_after_a_kill_while_saving_final_finishes_from_the_checkpoint_without_training(run):
    # Killed inside atomic_dir(final/): the final evaluation is logged, final/ is a half-written temp
    # folder, and summary.json was never written. Older kills left their own temp files.
    rows = run.rows()
    half = run.path / ".final-k1ll3d00"
    os.replace(run.final, half)
    (half / "model.safetensors").unlink()
    run.summary.unlink()
    leftovers = [half, run.path / ".final-old-4242", run.path / ".summary.json.ab12cd34.tmp",
                 run.checkpoints / ".LATEST.zz9_ab12.tmp", run.checkpoints / ".checkpoint-q8w7e6r5"]
    leftovers[1].mkdir()
    leftovers[2].write_text('{"ste')
    leftovers[3].write_text("checkpoint-")
    leftovers[4].mkdir()

    summary = resume(run)

    assert run.rows() == rows  # no step past --steps, and the logged final evaluation is not redone
    assert steps(run) == ([1, 2, 3], [0, 3])
    assert summary["steps"] == 3 and summary["after"] == {k[5:]: v for k, v in rows[-1].items() if k != "step"}
    assert json.loads(run.summary.read_text()) == summary
    final, checkpoint = weights(run.final), weights(run.checkpoints / "checkpoint-3")
    assert final.keys() == checkpoint.keys() and all(final[k].equal(checkpoint[k]) for k in final)
    assert [p for p in leftovers if p.exists()] == []

    again = run.metrics.read_bytes()
    assert resume(run) == summary and run.metrics.read_bytes() == again  # now it is a finished run


def test_resume_after_a_kill_during_the_final_evaluation_evaluates_once(run):
    kept = [r for r in run.rows() if not ("eval/accuracy" in r and r["step"] == 3)]
    run.metrics.write_text("".join(json.dumps(r) + "\n" for r in kept))
    shutil.rmtree(run.final)
    run.summary.unlink()

    summary = resume(run)

    assert steps(run) == ([1, 2, 3], [0, 3])
    assert summary["steps"] == 3 and (run.final / "config.json").is_file()


def test_resume_with_more_steps_continues_a_finished_run(run):
    summary = resume(run, steps=5)
    assert steps(run) == ([1, 2, 3, 4, 5], [0, 3, 5])
    assert summary["steps"] == 5 and summary["target_steps"] == 5 and run.latest_checkpoint()[1] == 5


def test_a_lora_run_killed_while_saving_final_finishes_from_its_adapter_checkpoint(tmp_path):
    import train_toy
    from llmgym.train.config import TrainConfig
    from llmgym.train.run import train

    train_toy.register()
    run = RunDir(tmp_path / "lora")
    lora = dict(steps=2, save_every=2, lora=True, lora_r=4)
    train(TrainConfig(**{**CFG, **lora, "out": str(run.path)}))
    assert (run.checkpoints / "checkpoint-2" / "adapter_config.json").is_file()
    merged = weights(run.final)
    shutil.rmtree(run.final)
    run.summary.unlink()

    assert resume(run, **lora)["steps"] == 2
    assert steps(run) == ([1, 2], [0, 2])
    # The adapter of checkpoint-2 merged into the base, as the run's own final/ was.
    final = weights(run.final)
    assert final.keys() == merged.keys() and not any("lora" in k for k in final)
    assert all(final[k].allclose(merged[k]) for k in final)
