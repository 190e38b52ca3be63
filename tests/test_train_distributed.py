"""The same command with two processes (gloo on CPU): both ranks take part and finish, and the run
directory is complete and written once. `accelerate launch --cpu --num_processes 2` starts a
single process, so the test uses torchrun, which accelerate's PartialState picks up the same way
`accelerate launch --multi_gpu` is picked up on GPU machines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from llmgym.train.rundir import RunDir

TOY = str(Path(__file__).with_name("train_toy.py"))


@pytest.mark.timeout(900)  # two ranks on two cores; slow only on a crowded machine
def test_two_cpu_processes_train_one_run_together(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun is not None, "torchrun comes with torch; is this the project's .venv?"
    run = RunDir(tmp_path / "run")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", TOY, "--env", "toyadd",
           "--policy", "tiny:hidden=32,layers=1", "--algo", "grpo", "--steps", "2", "--num-generations", "4",
           "--prompts-per-step", "2", "--max-completion-length", "6", "--eval-tasks", "4", "--eval-every", "1",
           "--save-every", "1", "--out", str(run.path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = __import__("json").loads(run.summary.read_text())
    assert sorted(r["rank"] for r in summary["ranks"]) == [0, 1]
    assert all(r["world_size"] == 2 and r["steps"] == 2 for r in summary["ranks"])
    rows = run.rows()
    steps = Counter(r["step"] for r in rows if "reward" in r and "eval/reward" not in r)
    assert steps == Counter({1: 1, 2: 1})  # one row per step: only rank 0 writes
    assert all(r["world_size"] == 2 for r in rows if "reward" in r and "eval/reward" not in r)
    assert Counter(r["step"] for r in rows if "eval/accuracy" in r) == Counter({0: 1, 1: 1, 2: 1})
    samples = run.rows(run.samples)
    assert Counter(s["step"] for s in samples) == Counter({1: 4, 2: 4})  # rank 0's half of 8 per step
    assert run.read_config()["steps"] == 2 and (run.final / "config.json").is_file()
    assert run.latest_checkpoint()[1] == 2
    assert done.stdout.count("accuracy") >= 1 and done.stdout.count("run directory:") == 1
