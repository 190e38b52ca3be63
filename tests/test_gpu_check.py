"""benchmarks/gpu_check.py, the GPU check of docs/training.md, run as far as a CPU machine can: the
same code at `--device cpu --quick` size (HF generation, one real `llmgym train` child), with the vLLM
rows saying why they did not run, and the one-line refusal where no GPU is and none was waived."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def run(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_without_a_gpu_it_is_one_line_and_exit_2():
    done = run(env={"CUDA_VISIBLE_DEVICES": ""}, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0 and "no CUDA GPU" in done.stderr


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "gpu_check.json"
    done = run("--device", "cpu", "--quick", "--json", str(out), env={"CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


def test_the_dry_run_measures_generation_and_a_training_run(dry_run):
    stdout, report = dry_run
    rows = {(r["engine"], r.get("batch")): r for r in report["rows"]}
    for batch in (1, 2):
        hf = rows[("hf", batch)]
        assert hf["tokens_per_s"] > 0
        printed = re.search(rf"hf\s+batch\s+{batch}: +([\d.]+) tokens/s\s+x1\.00 of hf", stdout)
        assert printed and float(printed.group(1)) == pytest.approx(hf["tokens_per_s"], abs=0.06)
    grpo = rows[("grpo", None)]
    assert "skipped" not in grpo, grpo
    assert grpo["steps"] == 2 and grpo["s_per_step"] > 0 and grpo["tokens_per_s"] > 0
    assert grpo["peak_gpu_mib"] == 0  # no GPU in the child
    assert re.search(r"grpo\s+2 steps: [\d.]+ s/step, [\d.]+ tokens/s, peak GPU 0 MiB\s+x1\.00 of grpo's step",
                     stdout)


def test_the_vllm_rows_say_why_they_did_not_run(dry_run):
    stdout, report = dry_run
    skipped = {r["engine"]: r["skipped"] for r in report["rows"] if "skipped" in r}
    assert set(skipped) == {"vllm", "grpo+vllm"}
    assert all("GPU" in why for why in skipped.values())
    assert re.search(r"vllm\s+skipped: ", stdout) and re.search(r"grpo\+vllm\s+skipped: ", stdout)
