"""`bon` drives the run's transformers callbacks as a Trainer does, a round being a step: the run's own
(metrics rows, held-out evaluation, checkpoint markers) and the ones a caller passes to `train()`."""

from __future__ import annotations

import pytest
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

import train_toy
from llmgym.train.config import TrainConfig
from llmgym.train.rundir import RunDir
from llmgym.train.run import train

TINY = "tiny:hidden=32,layers=1"
SMALL = dict(env="toyadd", policy=TINY, algo="bon", eval_tasks=4, max_completion_length=8, train_tasks=32,
             num_generations=2, batch_size=4)


@pytest.fixture(autouse=True)
def toy_envs():
    train_toy.register()


class Recorder(TrainerCallback):
    """Every event with the step it came at; stops the run after `stop_at` when set."""

    def __init__(self, stop_at: int | None = None):
        self.events: list[tuple[str, int]] = []
        self.logs: list[dict] = []
        self.stop_at = stop_at
        self.kinds: set[tuple[type, type, type]] = set()

    def _seen(self, name, args, state, control):
        self.events.append((name, state.global_step))
        self.kinds.add((type(args), type(state), type(control)))

    def on_train_begin(self, args, state, control, **kw):
        self._seen("train_begin", args, state, control)
        self.max_steps = state.max_steps

    def on_step_begin(self, args, state, control, **kw):
        self._seen("step_begin", args, state, control)

    def on_step_end(self, args, state, control, model=None, **kw):
        self._seen("step_end", args, state, control)
        assert model is not None
        if self.stop_at is not None and state.global_step >= self.stop_at:
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kw):
        self._seen("log", args, state, control)
        self.logs.append(dict(logs))

    def on_save(self, args, state, control, **kw):
        self._seen("save", args, state, control)

    def on_train_end(self, args, state, control, **kw):
        self._seen("train_end", args, state, control)


def test_an_extra_callback_sees_every_bon_round_as_a_trainer_step(tmp_path):
    recorder = Recorder()
    out = tmp_path / "bon"
    # A function of the RunContext is called once to build the callback, as train() documents.
    train(TrainConfig(steps=2, save_every=1, eval_every=1, out=str(out), **SMALL), callbacks=[lambda ctx: recorder])
    assert recorder.events == [("train_begin", 0),
                               ("step_begin", 0), ("step_end", 1), ("log", 1), ("save", 1),
                               ("step_begin", 1), ("step_end", 2), ("log", 2), ("save", 2),
                               ("train_end", 2)]
    assert recorder.kinds == {(TrainingArguments, TrainerState, TrainerControl)} and recorder.max_steps == 2
    assert all({"reward", "kept_fraction", "step_time"} <= set(logs) for logs in recorder.logs)

    run = RunDir(out)
    rows = run.rows()
    # The run's own callbacks, driven the same way: a metrics row per round from on_log, a held-out
    # evaluation from on_step_end (every round before the last), LATEST from on_save.
    assert [r["step"] for r in rows if "kept_fraction" in r] == [1, 2]
    assert [r["reward"] for r in rows if "kept_fraction" in r] == [logs["reward"] for logs in recorder.logs]
    assert [r["step"] for r in rows if "eval/accuracy" in r] == [0, 1, 2]
    assert run.latest_checkpoint()[1] == 2


def test_a_callback_that_stops_training_ends_bon_after_that_round(tmp_path):
    out = tmp_path / "stopped"
    summary = train(TrainConfig(steps=3, save_every=0, eval_every=0, out=str(out), **SMALL),
                    callbacks=[Recorder(stop_at=1)])
    assert summary["steps"] == 1
    assert [r["step"] for r in RunDir(out).rows() if "kept_fraction" in r] == [1]


def test_a_resumed_bon_run_starts_its_callbacks_at_the_saved_round(tmp_path):
    out = tmp_path / "resumed"
    train(TrainConfig(steps=2, save_every=1, eval_every=0, out=str(out), **SMALL))
    recorder = Recorder()
    summary = train(TrainConfig(steps=3, save_every=1, eval_every=0, out=str(out), **SMALL), resume=True,
                    callbacks=[recorder])
    assert summary["steps"] == 3
    assert recorder.events[0] == ("train_begin", 2) and recorder.events[-1] == ("train_end", 3)
    assert [s for e, s in recorder.events if e == "step_end"] == [3]
    run = RunDir(out)
    assert [r["step"] for r in run.rows() if "kept_fraction" in r] == [1, 2, 3] and run.latest_checkpoint()[1] == 3
