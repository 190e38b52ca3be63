"""The over-optimisation benchmark end to end at toy size: SFT -> rankings of the starting policy's
samples -> reward model -> GRPO against it with the guard watching, and the control run against the
gold labeler itself. The figures are meaningless at this size; what is checked is that every stage
runs, is reused on a second call, and leaves the files the docs point at."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_bench(out, *extra):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "rlhf_overoptimisation.py"), "--out", str(out),
           "--sft-steps", "3", "--sft-seeds", "1", "--prompts", "6", "--k", "3", "--rm-steps", "3",
           "--rl-steps", "2", "--max-tokens", "12", "--prompts-per-step", "1", "--rankings", "both",
           "--guard", "watch:eval_every=1,probe_tasks=2,samples=1", *extra]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_benchmark_runs_every_stage_and_reuses_them(tmp_path):
    out = tmp_path / "bench"
    stdout = run_bench(out, "--verify", "2")
    records = [json.loads(line) for line in (out / "rankings.jsonl").read_text().splitlines()]
    # Both kinds of samples: the 3-step policy's (all gold 0 at this size: tied) and the simulated writer's.
    assert len(records) == 12 and all(len(r["completions"]) == 3 and r["ranker"] == "gold" for r in records)
    assert (out / "sft" / "final" / "config.json").is_file()
    meta = json.loads((out / "rm" / "llmgym_rm.json").read_text())
    assert meta["max_length"] == 128 and "heldout_pairs" in meta["metrics"]
    rl = out / "rl-watch"
    probes = [r for r in map(json.loads, (rl / "metrics.jsonl").read_text().splitlines()) if "rlhf/proxy_reward" in r]
    assert [p["step"] for p in probes] == [0, 1, 2]
    assert all(0 <= p["rlhf/gold_score"] <= 1 and "rlhf/kl" in p for p in probes)
    summary = (rl / "summary.txt").read_text()
    assert "reward model: held-out pairwise accuracy" in summary and "guard (watch)" in summary
    assert (rl / "report.html").is_file() and "report:" in stdout
    assert json.loads((rl / "guard.json").read_text())["history"][-1]["step"] == 2
    # --verify: the starting, best and final policies on more samples, with paired intervals.
    verify = json.loads((rl / "verify.json").read_text())
    assert set(verify["policies"]) == {"start", "best", "final"} and verify["final_step"] == 2
    assert verify["best_step"] == json.loads((rl / "guard.json").read_text())["best_step"]
    lo, hi = verify["gold_final_minus_best"]["ci95"]
    assert lo <= verify["gold_final_minus_best"]["mean"] <= hi and "verification: 2 samples" in stdout

    # The control trains against gold itself and reuses the starting policy and reward model.
    stamp = (out / "sft" / "final" / "model.safetensors").stat().st_mtime
    run_bench(out, "--control")
    assert (out / "sft" / "final" / "model.safetensors").stat().st_mtime == stamp
    ctl = [r for r in map(json.loads, (out / "rl-control-watch" / "metrics.jsonl").read_text().splitlines())
           if "rlhf/proxy_reward" in r]
    assert ctl and all(abs(r["rlhf/proxy_reward"] - r["rlhf/gold_score"]) < 1e-9 for r in ctl)  # proxy is gold
