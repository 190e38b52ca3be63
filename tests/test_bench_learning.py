"""benchmarks/bench_learning.py end to end at `--quick` size (tiny policy, a 4-second budget), with the
baseline and the llmgym variant that takes every optional flag (the others are the same code with
fewer flags, and each run costs half a minute of start-up here): the figures mean nothing at this
size; what is checked is that each variant runs or says why not, that the tables have their rows and
columns, that each printed number is the one its run wrote, and that the files alone rebuild them."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_learning  # noqa: E402

VARIANTS = ("both",)  # and trl, the baseline, which always runs


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "learning"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_learning.py"), "--quick", "--out", str(out),
                           "--variants", ",".join(VARIANTS)],
                          cwd=ROOT, capture_output=True, text=True, timeout=560,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # two threads crawl on busy shared cores
    # (560 s: once it ran past 280 s with another training run on the same two cores)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return out, done.stdout, json.loads((out / "results.json").read_text())


def rows_of(stdout, label):
    """The table rows of a variant, in order: its first accuracy row, then its row of the step time,
    tokens/s and memory table (labels are printed padded to one width)."""
    return [line for line in stdout.splitlines() if line.startswith(f"{label:<{bench_learning.W}} ")]


def accuracy_rows(stdout, label):
    """A variant's rows of the accuracy table: its labelled row and the unlabelled ones under it."""
    lines = stdout.splitlines()
    i = lines.index(rows_of(stdout, label)[0])
    rows = [lines[i]]
    while i + 1 < len(lines) and lines[i + 1].startswith(" " * bench_learning.W):
        i += 1
        rows.append(lines[i])
    return rows


@pytest.mark.timeout(600)
def test_every_variant_runs_or_says_why_not(quick):
    out, stdout, results = quick
    known = bench_learning.available_flags()
    assert list(results["variants"]) == ["trl", *VARIANTS]
    for key, label, flags in bench_learning.VARIANTS:
        if key not in results["variants"]:
            continue
        r = results["variants"][key]
        if bench_learning.missing_flags(flags or [], known):
            assert r["status"].startswith("not available (llmgym train has no --")
            assert all(r["status"] in line for line in rows_of(stdout, label)[-2:])
        else:
            assert r["status"] == "ran", r["status"]
            # One accuracy row per snapshot (at most one a step, so 1 or 2 at --quick), and one row of
            # step time, tokens/s and memory.
            assert 1 <= len(r["points"]) <= 2 and not list((out / key).glob("snapshot-*"))  # evaluated, then removed
            assert len(accuracy_rows(stdout, label)) == len(r["points"]) and len(rows_of(stdout, label)) == 2, stdout


@pytest.mark.timeout(600)
def test_printed_figures_are_the_ones_the_runs_wrote(quick):
    out, stdout, results = quick
    start = json.loads((out / "eval-start.json").read_text())
    assert "starting model (every variant)" in stdout and f"{start['accuracy']:.1%} [" in stdout
    for key, r in results["variants"].items():
        if r["status"] != "ran":
            continue
        clock = json.loads((out / key / "clock.json").read_text())
        evals = json.loads((out / key / "eval.json").read_text())["points"]
        # The evaluation scored the snapshots the clock took, at the times it took them.
        assert [(p["t"], p["step"]) for p in evals] == [(s["t"], s["step"]) for s in clock["snapshots"]]
        assert r["points"] == evals and r["steps"] == len(clock["step_seconds"])
        # The clock stopped the run at the budget: its last snapshot is the last step, past 4 s, and
        # the one before it (if any) came after half of it.
        assert clock["snapshots"][-1]["t"] == clock["train_seconds"] >= 4.0
        assert all(s["t"] >= 2.0 for s in clock["snapshots"])
        assert r["peak_rss_mib"] > 100 and r["child"]["rc"] == 0
        table_row = rows_of(stdout, r["label"])[-1]
        numbers = re.findall(r"\d+(?:\.\d+)?", table_row[len(r["label"]):])
        assert int(numbers[0]) == r["steps"]
        assert f"{r['step_s']:.2f}" in table_row and f"{r['peak_rss_mib']:.0f}" in table_row
        assert f"{clock['tokens']['num_tokens'] / sum(clock['step_seconds'][:clock['tokens']['step']]):.1f}" in table_row
        assert f"{evals[-1]['accuracy']:.1%}" in table_row
    base = results["variants"]["trl"]
    final = json.loads((out / "trl" / "eval.json").read_text())["points"][-1]["accuracy"]
    assert results["floor"]["target"] == final  # the baseline's final accuracy is its own evaluation's
    assert f"{final:.1%}" in rows_of(stdout, base["label"])[-1]
    settings = json.loads((out / "trl" / "settings.json").read_text())
    assert f"learning_rate={settings['learning_rate']}" in stdout
    floor = [line for line in stdout.splitlines() if line.startswith("floor: ")]
    assert len(floor) == 1
    assert ("not measurable" in floor[0]) == (not results["floor"]["measurable"])


@pytest.mark.timeout(300)
def test_the_tables_are_rebuilt_from_the_files_alone(quick):
    out, stdout, results = quick
    again = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_learning.py"), "--report-only", str(out)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.strip() and again.stdout.strip() in stdout


def test_a_flag_llmgym_train_lacks_makes_its_variant_not_available():
    assert bench_learning.missing_flags(["--curriculum", "adaptive", "--dynamic-sampling", "fill"],
                                        {"--curriculum"}) == ["--dynamic-sampling"]
    assert "--env" in bench_learning.available_flags()  # read from llmgym train's own parser


class FakeClock:
    """perf_counter for the budget clock, moved by hand: each step takes `step` seconds."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        return self.now


def test_the_clock_saves_at_its_times_and_stops_at_the_budget(tmp_path):
    import learning_runs
    from transformers import TrainerControl, TrainerState

    from llmgym.train.run import load_policy

    model = load_policy("tiny", 0).model
    fake = FakeClock(1.5)
    clock = learning_runs.budget_clock({"budget_s": 4.0, "checkpoints": 2}, tmp_path, now=fake)
    state, control = TrainerState(), TrainerControl()
    while not control.should_training_stop:
        clock.on_step_begin(None, state, control)
        fake.now += fake.step
        state.global_step += 1
        clock.on_step_end(None, state, control, model=model)
    clock.on_train_end(None, state, control)
    written = json.loads((tmp_path / "clock.json").read_text())
    # Due at 2 s and 4 s: taken at the first step ends past them (3.0 s, 4.5 s); stopped at 4.5 s.
    assert [(s["t"], s["step"]) for s in written["snapshots"]] == [(3.0, 2), (4.5, 3)]
    assert written["step_seconds"] == [1.5, 1.5, 1.5] and written["train_seconds"] == 4.5
    assert (tmp_path / "snapshot-2.safetensors").is_file()


def test_an_adapter_snapshot_is_evaluated_merged_into_the_starting_weights(tmp_path, monkeypatch):
    import copy

    import learning_runs
    import torch
    from peft import LoraConfig, get_peft_model

    from llmgym.train.run import load_policy

    trained = get_peft_model(copy.deepcopy(load_policy("tiny", 0).model),
                             LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    for name, weight in trained.named_parameters():
        if "lora_B" in name:  # zero at initialisation: make the adapter change something
            torch.nn.init.normal_(weight)
    (tmp_path / "v").mkdir()
    trained.save_pretrained(str(tmp_path / "v" / "snapshot-1"))
    learning_runs.write_json(tmp_path / "v" / "clock.json", {"snapshots": [{"t": 1.0, "step": 1, "file": "snapshot-1"}]})
    expected = copy.deepcopy(trained).merge_and_unload().state_dict()
    seen = []

    def held_out(env, policy, tasks, spec):
        seen.append({k: v.clone() for k, v in policy.model.state_dict().items()})
        return {"accuracy": 0.0, "low": 0.0, "high": 1.0}

    monkeypatch.setattr(learning_runs, "held_out", held_out)
    spec = {"env": "math", "policy": "tiny", "seed": 0, "eval_tasks": 2, "variants": ["v"], "keep_snapshots": False}
    learning_runs.run_eval(spec, tmp_path)
    start, merged = seen
    assert all(torch.equal(merged[k], expected[k]) for k in expected)
    assert any(not torch.equal(start[k], merged[k]) for k in start)
    assert not (tmp_path / "v" / "snapshot-1").exists()  # evaluated, then removed
    assert json.loads((tmp_path / "v" / "eval.json").read_text())["points"][0]["t"] == 1.0
