"""Trainer callbacks of a run: metrics rows, periodic held-out evaluation, checkpoint markers,
and the held-out `evaluate` used before, during and after training.

They only observe: TRL's trainers do the training, these write what happened to the run directory
(main process only, so a distributed run writes every file once).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from llmgym.env import TextEnv
from llmgym.rollout import rollout, summarize
from llmgym.rubric import SUCCESS, component_with_role
from llmgym.types import SamplingParams, Task

from .rundir import RunDir


def evaluate(env: TextEnv, policy: Any, tasks: Sequence[Task], max_tokens: int,
             batch_size: int = 64) -> dict[str, float]:
    """Greedy held-out accuracy, mean reward and mean length of `policy` (a `TrainablePolicy` over the
    model being evaluated: `policy.with_model(model)`) on `tasks` (via rollout)."""
    if not tasks:
        return {"accuracy": 0.0, "reward": 0.0, "length": 0.0, "n": 0}
    episodes = rollout(env, policy, tasks, params=SamplingParams(temperature=0.0, max_tokens=max_tokens),
                       batch_size=batch_size)
    return summarize(episodes, component_with_role(env.rubric, SUCCESS))


def eval_row(step: int, figures: dict[str, float]) -> dict[str, Any]:
    return {"step": step, **{f"eval/{k}": v for k, v in figures.items()}}


def make_callbacks(run: RunDir, *, is_main: bool, eval_every: int, evaluate_now: Callable[[Any], dict],
                   say: Callable[[str], None], world_size: int) -> list[Any]:
    """The run's callbacks: metrics and eval rows, and LATEST after each complete checkpoint."""
    from transformers import TrainerCallback

    class RunCallback(TrainerCallback):
        def __init__(self) -> None:
            self.last_tokens: float | None = None
            self.step_started = time.perf_counter()
            self.step_seconds = 0.0

        def on_step_begin(self, args, state, control, **kw):
            self.step_started = time.perf_counter()

        def on_step_end(self, args, state, control, model=None, **kw):
            self.step_seconds = time.perf_counter() - self.step_started
            step = state.global_step
            if is_main and eval_every and step % eval_every == 0 and step < state.max_steps:
                figures = evaluate_now(model)
                run.log_metrics(eval_row(step, figures))
                say(f"step {step}: held-out accuracy {figures['accuracy']:.1%}, "
                    f"reward {figures['reward']:.3f}, length {figures['length']:.1f}")

        def on_log(self, args, state, control, logs=None, **kw):
            if not is_main or not logs or "train_runtime" in logs:
                return
            row: dict[str, Any] = {"step": state.global_step}
            row.update({k: v for k, v in logs.items() if isinstance(v, (int, float))})
            seconds = logs.get("step_time") or self.step_seconds
            row.setdefault("step_time", seconds)
            tokens = logs.get("num_tokens")
            previous = self.last_tokens if self.last_tokens is not None else (0.0 if state.global_step == 1 else None)
            if tokens is not None and previous is not None and seconds:
                row["tokens_per_s"] = (tokens - previous) / seconds
            if tokens is not None:
                self.last_tokens = tokens
            row["world_size"] = world_size
            run.log_metrics(row)

        def on_save(self, args, state, control, **kw):
            # Trainer calls this after the checkpoint folder is fully written.
            if is_main:
                name = f"checkpoint-{state.global_step}"
                run.mark_checkpoint(name)
                say(f"saved {name}")

    return [RunCallback()]


def sample_logger(run: RunDir, *, is_main: bool, every: int, weights: dict[str, float],
                  env: str | None = None) -> Callable[..., None]:
    """The `on_scores` hook of the reward functions: rows of samples.jsonl (main process only); with
    `env` (an env of a mixture, scored with its own `weights`) each row names it."""

    def on_scores(prompts: list, texts: list[str], tasks: list[Task], components: dict[str, list[float]],
                  state: Any) -> None:
        step = (state.global_step + 1) if state is not None else 0  # the step these samples train
        if not is_main or step % every:
            return
        rows = []
        for i, (text, task) in enumerate(zip(texts, tasks)):
            comps = {name: vals[i] for name, vals in components.items()}
            rows.append({"step": step, "task_id": task.id, "prompt": task.text, "completion": text,
                         "answer": task.answer, "reward": sum(weights[k] * v for k, v in comps.items()),
                         "components": comps, **({"env": env} if env is not None else {})})
        run.append(run.samples, rows)

    return on_scores
