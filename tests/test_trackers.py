"""`llmgym train --report-to`: short real runs whose logs are read back from each tracker's own store
with the tracker's own reader (TensorBoard's EventAccumulator, a W&B offline run file, MLflow's client,
trackio's storage), holding both TRL's per-step metrics and llmgym's held-out evaluation; and the rows
of the guard and of a resumed run reach them as metrics.jsonl holds them. No network: wandb runs
offline, mlflow writes a SQLite file in the run directory, trackio its local store."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import train_toy
from llmgym.cli import main
from llmgym.train.rundir import RunDir
from llmgym.train.trackers import OPEN, OPENERS

TINY = "tiny:hidden=32,layers=1"
SHORT = ["--policy", TINY, "--steps", "2", "--eval-every", "1", "--eval-tasks", "4", "--max-completion-length", "8",
         "--train-tasks", "32", "--num-generations", "4", "--save-every", "0"]
TRL_KEYS = ("loss", "reward", "rewards/correct/mean")  # TRL's logs of each step, as metrics.jsonl names them


@pytest.fixture(autouse=True)
def toy_envs():
    train_toy.register()


def logged(run: Path) -> dict[str, list[tuple[int, float]]]:
    """metrics.jsonl as (step, value) series by name: what every tracker must have received."""
    series: dict[str, list[tuple[int, float]]] = {}
    for row in RunDir(run).rows():
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)):
                series.setdefault(key, []).append((row["step"], float(value)))
    return series


def assert_trl_and_heldout_metrics(received: dict[str, list[tuple[int, float]]], run: Path) -> None:
    expected = logged(run)
    assert [step for step, _ in received["eval/accuracy"]] == [0, 1, 2]  # before, every step, after
    for key in ("eval/accuracy", "eval/length", *TRL_KEYS):
        got, want = sorted(received[key]), sorted(expected[key])
        assert [s for s, _ in got] == [s for s, _ in want], key
        assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6), key  # TensorBoard: float32
    assert [step for step, _ in received["loss"]] == [1, 2]


def test_tensorboard_and_trackio_from_the_command_line(tmp_path):
    out, store = tmp_path / "run", tmp_path / "trackio"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKIO_")} | {"TRACKIO_DIR": str(store)}
    subprocess.run([sys.executable, "-m", "llmgym.cli", "train", "--env", "math:level=1", *SHORT, "--out", str(out),
                    "--report-to", "tensorboard,trackio"], env=env, check=True, capture_output=True, timeout=240)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    received = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    assert_trl_and_heldout_metrics(received, out)

    # trackio's store lives where TRACKIO_DIR says when trackio is imported: read it in a process of its own.
    read = ("import json; from trackio.sqlite_storage import SQLiteStorage; "
            f"print(json.dumps(SQLiteStorage.get_logs('llmgym', {out.name!r})))")
    rows = json.loads(subprocess.run([sys.executable, "-c", read], env=env, check=True, capture_output=True,
                                     text=True, timeout=120).stdout)
    received = {}
    for row in rows:
        for key, value in row.items():
            if key not in ("step", "timestamp"):
                received.setdefault(key, []).append((row["step"], value))
    assert_trl_and_heldout_metrics(received, out)


def wandb_history(run_dir: Path) -> list[dict]:
    """The history rows of the W&B offline run under `run_dir`. wandb 0.31 ships no reader of its own
    for these files: they are LevelDB's log format (32 KiB blocks of records with a 7-byte header:
    crc, length, type) after a 7-byte W&B header, each record a protobuf `Record`."""
    from wandb.proto import wandb_internal_pb2

    [path] = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    rows, pos, pending = [], 7, b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if left < 7 or (length == 0 and kind == 0):  # the zero-filled tail of a block
            pos += left
            continue
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk  # FULL/FIRST start a record, MIDDLE/LAST add
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            if record.WhichOneof("record_type") == "history":
                rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                             for item in record.history.item})
    return rows


def test_wandb_gets_an_offline_run_in_the_run_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    assert main(["train", "--env", "toyadd", *SHORT, "--out", str(out), "--report-to", "wandb"]) == 0
    import wandb

    # A finished run's file is written by wandb's service process, at the latest when it stops (at
    # exit for the command line); stopping it here is how a reader in this process waits for it.
    wandb.teardown()
    received: dict[str, list[tuple[int, float]]] = {}
    for row in wandb_history(out):
        for key, value in row.items():
            if not key.startswith("_") and key != "step":
                received.setdefault(key, []).append((row["step"], value))
    assert_trl_and_heldout_metrics(received, out)


def test_mlflow_gets_a_run_in_a_sqlite_store_in_the_run_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    out = tmp_path / "run"
    assert main(["train", "--env", "toyadd", *SHORT, "--out", str(out), "--report-to", "mlflow",
                 "--trl", "loss_type=grpo"]) == 0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("llmgym").experiment_id])
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    assert run.data.params["algo"] == "grpo" and "loss_type" in run.data.params["trl"]
    received = {key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
                for key in run.data.metrics}
    assert_trl_and_heldout_metrics(received, out)


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_guard_probes_reach_the_trackers_of_their_run_directory(tmp_path):
    import llmgym
    from llmgym.rlhf.guard import make_guard

    run = RunDir(tmp_path / "run")
    run.write_config({"env": "rlhf", "report_to": "tensorboard"})
    policy = llmgym.make_policy(TINY, seed=0)
    guard = make_guard(run.path, lambda model: {"proxy": 0.8, "gold": 0.5, "kl": None, "degeneracy": {}},
                       config="watch", tokenizer=policy.tokenizer)
    guard.probe_now(3, policy.model)
    run.write_summary({})
    assert tensorboard_scalars(run.path / "tensorboard")["rlhf/gold_score"] == [(3, 0.5)]
    assert {"step": 3, "rlhf/proxy_reward": 0.8, "rlhf/gold_score": 0.5} == run.rows()[0]


def test_a_resumed_run_replaces_the_events_logged_after_its_checkpoint(tmp_path):
    run = RunDir(tmp_path / "run")
    run.write_config({"report_to": "tensorboard"})
    for step in range(4):
        run.log_metrics({"step": step, "loss": float(step)})
    OPEN.finish(run.path)  # killed after step 3; the checkpoint holds step 1
    run.cut_after(1)
    run.write_config({"report_to": "tensorboard"})
    for step in (2, 3):
        run.log_metrics({"step": step, "loss": 10.0 + step})
    run.write_summary({})
    assert tensorboard_scalars(run.path / "tensorboard")["loss"] == [(0, 0.0), (1, 1.0), (2, 12.0), (3, 13.0)]


def test_a_tracker_that_fails_is_dropped_with_one_warning_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    class Broken:
        def __init__(self, *args):
            pass

        def log(self, step, values):
            raise OSError("disk full")

        def close(self):
            pass

    monkeypatch.setitem(OPENERS, "tensorboard", Broken)
    run = RunDir(tmp_path / "run")
    run.write_config({"report_to": "tensorboard"})
    run.log_metrics({"step": 1, "loss": 0.5})
    run.log_metrics({"step": 2, "loss": 0.4, "guard/stop_reason": "text stays in metrics.jsonl"})
    run.write_summary({})
    assert capsys.readouterr().err == ("llmgym: warning: --report-to tensorboard failed (OSError: disk full); it gets "
                                       "no more rows, metrics.jsonl has them all\n")
    assert [r["loss"] for r in run.rows()] == [0.5, 0.4]


def test_a_tracker_that_cannot_start_is_one_line(tmp_path, monkeypatch):
    from llmgym.errors import LLMGymError

    def offline_only(*args):
        raise RuntimeError("api_key not configured (no-tty)\nmore detail")

    monkeypatch.setitem(OPENERS, "wandb", offline_only)
    with pytest.raises(LLMGymError) as caught:
        RunDir(tmp_path / "run").write_config({"report_to": "tensorboard,wandb"})
    assert str(caught.value) == "--report-to wandb could not start (RuntimeError: api_key not configured (no-tty))"
    assert (tmp_path / "run").resolve() not in OPEN.by_run  # the TensorBoard writer opened first is closed
