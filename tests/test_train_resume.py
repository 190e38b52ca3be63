"""`kill -9` in the middle of a run, then `--resume`: training continues from the last complete
checkpoint, and metrics.jsonl ends with every step exactly once (nothing lost, nothing twice)."""

from __future__ import annotations

import os
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
