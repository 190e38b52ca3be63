"""The run directory: what one `llmgym train` leaves behind, and how `--resume` finds its place.

    RUN/config.yaml         the resolved TrainConfig; its first line, a comment, the env's version
    RUN/metrics.jsonl       one row per step (TRL's logs + tokens/s) and one per held-out evaluation
    RUN/samples.jsonl       sampled completions with their reward components
    RUN/checkpoints/        TRL/Trainer checkpoints; LATEST names the newest complete one
    RUN/final/              the trained model (loadable with --policy RUN)
    RUN/summary.json        before/after held-out figures, env version, wall time, ranks that took part
    RUN/tensorboard/, ...   the trackers config.yaml's `report_to` names (`llmgym.train.trackers`): every
                            metrics row also goes to them, from config.yaml's writing to summary.json's

Trainer writes a checkpoint folder file by file; LATEST is replaced atomically (temp file +
`os.replace`) only after the folder is complete, so a `kill -9` during a save leaves LATEST on the
previous checkpoint. `--resume` restarts from LATEST, deletes newer half-written folders and cuts
metrics/samples rows after that step, so nothing is lost beyond one interval or written twice.

A run is finished once summary.json is written (the last write, after final/). `--resume` of a
finished run, or of one whose checkpoint already reaches `--steps` (killed during the final
evaluation or while saving final/), trains no step: it finishes from that checkpoint, reusing a
final evaluation row already logged. summary.json records `target_steps` (the `--steps` it was
written for), so `--resume RUN --steps MORE` still continues a finished run. Temp files and folders
of killed atomic writes (`.final-*`, `.summary.json.*.tmp`, ...) are removed when the directory is
run again (`clean_leftovers`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterable

from llmgym.errors import LLMGymError
from llmgym.io import atomic_write_text as atomic_write, append_jsonl, clean_leftovers, read_json, read_jsonl, save_model_dir, write_jsonl

from .trackers import OPEN

_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")
# config.yaml's first line records the version of the env trained on. A comment, not a key: the
# file stays a TrainConfig that `--resume` and `--config` read as it is (unknown keys are refused).
_ENV_VERSION_RE = re.compile(r"^# env_version: (\"(?:[^\"\\]|\\.)*\")")


class RunDir:
    """One run's folder. Only the main process writes (callers check); reading is safe anywhere."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.metrics = self.path / "metrics.jsonl"
        self.samples = self.path / "samples.jsonl"
        self.final = self.path / "final"
        self.summary = self.path / "summary.json"
        self.config = self.path / "config.yaml"

    # -- config ---------------------------------------------------------------------------------
    def write_config(self, data: dict[str, Any], *, env_version: str | None = None) -> None:
        """config.yaml: the TrainConfig options `data`, under a comment naming the env's version."""
        import yaml

        self.path.mkdir(parents=True, exist_ok=True)
        head = "" if env_version is None else (f"# env_version: {json.dumps(str(env_version))} (the version of "
                                               "the env trained on: a record, not an option)\n")
        atomic_write(self.config, head + yaml.safe_dump(data, sort_keys=False))
        if data.get("report_to", "none") != "none":
            # A resumed run's rows continue after the kept ones (cut_after ran before this).
            first = max((int(r.get("step", 0)) for r in self.rows()), default=-1) + 1
            OPEN.start(self.path, data["report_to"], data, first_step=first)

    def read_config(self) -> dict[str, Any]:
        import yaml

        if not self.config.is_file():
            raise LLMGymError(f"{self.path} is not a run directory (no config.yaml)")
        return yaml.safe_load(self.config.read_text()) or {}

    def recorded_env_version(self) -> str | None:
        """The env version config.yaml records; `"unrecorded"` for a config.yaml written before env
        versions were, None when the directory holds no config.yaml yet."""
        from llmgym.env import UNRECORDED

        if not self.config.is_file():
            return None
        with open(self.config, encoding="utf-8") as f:
            match = _ENV_VERSION_RE.match(f.readline())
        try:
            return str(json.loads(match.group(1))) if match else UNRECORDED
        except ValueError:  # a hand-edited line: no version anyone can trust
            return UNRECORDED

    # -- rows -----------------------------------------------------------------------------------
    def append(self, path: Path, rows: Iterable[dict[str, Any]]) -> None:
        append_jsonl(path, rows, default=_plain)

    def log_metrics(self, row: dict[str, Any]) -> None:
        """Append a row to metrics.jsonl, and send it to the run's trackers (`report_to`) when it has some."""
        self.append(self.metrics, [row])
        OPEN.send(self.path, row)

    def rows(self, path: Path | None = None) -> list[dict[str, Any]]:
        """Rows of a jsonl file; a torn last line (a kill mid-write) is dropped, any other bad line
        is an error naming file and line (`llmgym.io.read_jsonl`)."""
        path = path or self.metrics
        if not path.is_file():
            return []
        return list(read_jsonl(path))

    def cut_after(self, step: int) -> None:
        """Drop rows logged after `step` (they belong to steps a resume will redo)."""
        for path in (self.metrics, self.samples):
            if path.is_file():
                kept = [r for r in self.rows(path) if r.get("step", 0) <= step]
                write_jsonl(path, kept, default=_plain)

    # -- checkpoints ----------------------------------------------------------------------------
    def mark_checkpoint(self, name: str) -> None:
        atomic_write(self.checkpoints / "LATEST", name + "\n")

    def latest_checkpoint(self) -> tuple[Path, int] | None:
        marker = self.checkpoints / "LATEST"
        if not marker.is_file():
            return None
        name = marker.read_text().strip()
        m = _CKPT_RE.match(name)
        if not m or not (self.checkpoints / name / "trainer_state.json").is_file():
            return None
        return self.checkpoints / name, int(m.group(1))

    def drop_checkpoints_after(self, step: int) -> None:
        if not self.checkpoints.is_dir():
            return
        for child in self.checkpoints.iterdir():
            m = _CKPT_RE.match(child.name)
            if m and int(m.group(1)) > step:
                shutil.rmtree(child, ignore_errors=True)

    # -- final model ----------------------------------------------------------------------------
    def save_model(self, target: Path, model: Any, tokenizer: Any) -> None:
        """Save a model folder (e.g. `final/`) atomically: temp folder, then rename (`llmgym.io.save_model_dir`)."""
        save_model_dir(target, model, tokenizer)

    def write_summary(self, data: dict[str, Any]) -> None:
        """summary.json, the run's last write: the run's trackers are closed after it."""
        atomic_write(self.summary, json.dumps(data, indent=2, default=_plain) + "\n")
        OPEN.finish(self.path)

    def finished_summary(self, steps: int) -> dict[str, Any] | None:
        """The summary of a run already finished for `steps` training steps, else None."""
        if not (self.final / "config.json").is_file() or not self.summary.is_file():
            return None
        try:
            data = read_json(self.summary)
        except ValueError:
            return None
        target = data.get("target_steps", data.get("steps")) if isinstance(data, dict) else None
        # A guard may have stopped the run before `target_steps`: it is finished all the same.
        return data if isinstance(target, int) and steps <= target else None

    # -- leftovers ------------------------------------------------------------------------------
    def clean_leftovers(self) -> list[Path]:
        """Remove what killed atomic writes left behind (main process, before the run writes)."""
        return [*clean_leftovers(self.path), *clean_leftovers(self.checkpoints)]


def _plain(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)
