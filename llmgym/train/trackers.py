"""Experiment trackers: where a run's metrics go besides metrics.jsonl (`llmgym train --report-to NAME`).

Every row the run directory appends to metrics.jsonl goes to each tracker `report_to` names, at the
row's `step`: TRL's logs of every step (loss, reward, rewards/NAME/mean, kl, grad_norm, ...: the run's
trainer callback copies each of them into metrics.jsonl), the held-out evaluations (eval/accuracy, a
mixture's eval/LABEL/accuracy, ...), bon's rounds and the over-optimisation guard's probes (rlhf/...,
degeneracy/...). TRL's own tracker integrations stay off (`llmgym.train.trl_options.config_kwargs`):
one path, so the tracker shows the numbers metrics.jsonl and the run report hold, under the same names.
Only numbers go to trackers; text values (the guard's stop reason) stay in metrics.jsonl.

    tensorboard  RUN/tensorboard/ event files            tensorboard --logdir RUN/tensorboard
    wandb        RUN/wandb/, offline unless $WANDB_MODE   wandb sync RUN/wandb/offline-run-*
    mlflow       $MLFLOW_TRACKING_URI, else RUN/mlflow.db  mlflow ui --backend-store-uri sqlite:///RUN/mlflow.db
    trackio      trackio's local store ($TRACKIO_DIR)     trackio show --project llmgym

Nothing leaves the machine unless asked: wandb runs offline unless $WANDB_MODE says otherwise, mlflow
writes a SQLite file in the run directory unless $MLFLOW_TRACKING_URI names a server, trackio writes its
local store. Project and experiment are "llmgym" ($WANDB_PROJECT, $MLFLOW_EXPERIMENT_NAME override),
the run's name is the run directory's; each tracker also records the run's config.yaml.

The run directory opens the trackers when it writes config.yaml (a new run, or a resumed one), sends
each row as it is logged, and closes them after summary.json, the run's last write (also at exit, for
a run that fails). A resumed run is a new wandb/mlflow run and continues trackio's run of its name;
TensorBoard drops the events that the first session logged after the checkpoint, as metrics.jsonl
drops those rows. A tracker that fails while logging is dropped with one warning and the run goes on.

>>> parse_report_to("tensorboard, wandb"), parse_report_to("none")
('tensorboard,wandb', 'none')
"""

from __future__ import annotations

import atexit
import difflib
import importlib.util
import math
import numbers
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from llmgym.errors import LLMGymError

EXTRA = "trackers"
# name -> (the module it needs, the package that provides it)
TRACKERS: dict[str, tuple[str, str]] = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "wandb": ("wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow-skinny"),
    "trackio": ("trackio", "trackio"),
}
PROJECT = "llmgym"


def parse_report_to(value: Any) -> str:
    """`--report-to` as recorded: `none`, or tracker names joined by commas; unknown names are one line."""
    if value is None or value is False:
        return "none"
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    names = [str(n).strip().lower() for n in items if str(n).strip()]
    if not names or names == ["none"]:
        return "none"
    for name in names:
        if name not in TRACKERS:
            choices = [*TRACKERS, "none"]
            close = difflib.get_close_matches(name, choices, n=1)
            hint = f" (did you mean: {close[0]}?)" if close else ""
            raise LLMGymError(f"--report-to {name!r} is no tracker{hint}; choose from {', '.join(choices)} "
                              "(several: tensorboard,wandb)")
    return ",".join(dict.fromkeys(names))


def tracker_names(report_to: str | None) -> list[str]:
    spec = parse_report_to(report_to)
    return [] if spec == "none" else spec.split(",")


def check_installed(report_to: str | None) -> None:
    """A chosen tracker whose library is missing is one line naming the extra that brings it."""
    for name in tracker_names(report_to):
        module, package = TRACKERS[name]
        if importlib.util.find_spec(module) is None:
            raise LLMGymError(f"--report-to {name} needs the {package} package: pip install 'llm-gym[{EXTRA}]' "
                              f"(or pip install {package})")


class TensorBoard:
    """Scalars in RUN/tensorboard/ through torch's SummaryWriter (the `tensorboard` package writes them)."""

    def __init__(self, path: Path, config: Mapping[str, Any], first_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: a resumed run's events from step first_step on replace the first session's.
        self.writer = SummaryWriter(log_dir=str(path / "tensorboard"), purge_step=first_step or None)
        if not first_step:
            self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in config.items()))

    def log(self, step: int, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()  # a reader (tensorboard, a test) sees each row as it is logged

    def close(self) -> None:
        self.writer.close()


class Wandb:
    """A W&B run in RUN/wandb/, offline unless $WANDB_MODE says otherwise; charts plot against `step`.
    wandb's service process writes the run's file, complete at the latest when it stops (at exit)."""

    def __init__(self, path: Path, config: Mapping[str, Any], first_step: int) -> None:
        import wandb

        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT") or PROJECT, name=path.name, dir=str(path),
                              config=dict(config), mode=os.environ.get("WANDB_MODE") or "offline",
                              reinit="create_new")
        # wandb's own step counts log calls; llmgym's rows share steps (a step's row, then its eval row).
        self.run.define_metric("step")
        self.run.define_metric("*", step_metric="step")

    def log(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log({"step": step, **values})

    def close(self) -> None:
        self.run.finish()


class Mlflow:
    """An MLflow run in $MLFLOW_TRACKING_URI, else in RUN/mlflow.db; the config as its params."""

    _ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. /")

    def __init__(self, path: Path, config: Mapping[str, Any], first_step: int) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(path / 'mlflow.db').resolve()}"
        self.client = MlflowClient(tracking_uri=uri)
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or PROJECT
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        self.run_id = self.client.create_run(experiment_id, run_name=path.name).info.run_id
        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in config.items()])

    def log(self, step: int, values: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(self.key(k), v, now, step) for k, v in values.items()])

    @classmethod
    def key(cls, name: str) -> str:
        """MLflow's metric names allow letters, digits and `_-. /` (newer versions `:` too); the rest of
        an env label (`:`, `=`, `@`, `,`) becomes `_`.

        >>> Mlflow.key("eval/math:level=2@3/accuracy")
        'eval/math_level_2_3/accuracy'
        """
        return "".join(c if c in cls._ALLOWED else "_" for c in name)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


class Trackio:
    """A trackio run in trackio's local store ($TRACKIO_DIR, else its cache folder), project llmgym."""

    def __init__(self, path: Path, config: Mapping[str, Any], first_step: int) -> None:
        import trackio

        self.run = trackio.init(project=PROJECT, name=path.name, config=dict(config), resume="allow", embed=False)

    def log(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log(dict(values), step=step)

    def close(self) -> None:
        self.run.finish()


OPENERS: dict[str, Callable[[Path, Mapping[str, Any], int], Any]] = {
    "tensorboard": TensorBoard, "wandb": Wandb, "mlflow": Mlflow, "trackio": Trackio}


class OpenTrackers:
    """The trackers open in this process, by run directory: every RunDir object of one folder (the
    run's, the guard's) sends to the same ones."""

    def __init__(self) -> None:
        self.by_run: dict[Path, dict[str, Any]] = {}
        self._exit_hook = False

    def start(self, path: Path, report_to: str | None, config: Mapping[str, Any], *, first_step: int = 0) -> None:
        """Open the trackers `report_to` names for the run in `path` (closing any still open for it)."""
        key = Path(path).resolve()
        self.finish(key)
        names = tracker_names(report_to)
        if not names:
            return
        check_installed(report_to)
        opened = self.by_run[key] = {}
        for name in names:
            try:
                opened[name] = OPENERS[name](Path(path), config, first_step)
            except Exception as exc:  # e.g. WANDB_MODE=online without a login, an unreachable MLFLOW_TRACKING_URI
                self.finish(key)
                first_line = (str(exc).strip().splitlines() or [""])[0]
                raise LLMGymError(f"--report-to {name} could not start ({type(exc).__name__}: {first_line})") from None
        if not self._exit_hook:
            # Registered after the trackers' libraries are imported, so it runs before their own exit
            # hooks (atexit runs last-registered first): a run that fails still closes its trackers.
            atexit.register(self.finish_all)
            self._exit_hook = True

    def send(self, path: Path, row: Mapping[str, Any]) -> None:
        opened = self.by_run.get(Path(path).resolve())
        if not opened:
            return
        step = row.get("step", 0)
        step = int(step) if isinstance(step, numbers.Real) and math.isfinite(step) else 0
        values = {k: float(v) for k, v in row.items() if k != "step" and isinstance(v, numbers.Real)}
        if not values:
            return
        for name, tracker in list(opened.items()):
            try:
                tracker.log(step, values)
            except Exception as exc:  # a tracker's failure must not end the training it observes
                del opened[name]
                print(f"llmgym: warning: --report-to {name} failed ({type(exc).__name__}: {exc}); "
                      "it gets no more rows, metrics.jsonl has them all", file=sys.stderr)

    def finish(self, path: Path) -> None:
        for name, tracker in self.by_run.pop(Path(path).resolve(), {}).items():
            try:
                tracker.close()
            except Exception as exc:  # the run is done; its files are written
                print(f"llmgym: warning: --report-to {name} failed to close ({type(exc).__name__}: {exc})",
                      file=sys.stderr)

    def finish_all(self) -> None:
        for path in list(self.by_run):
            self.finish(path)


OPEN = OpenTrackers()
