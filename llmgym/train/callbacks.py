"""Trainer callbacks of a run: metrics rows, periodic held-out evaluation, checkpoint markers,
and the held-out `evaluate` used before, during and after training.

They only observe: TRL's trainers do the training, these write what happened to the run directory
(main process only, so a distributed run writes every file once).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from llmgym.env import TextEnv
from llmgym.memory import trim
from llmgym.rollout import rollout, summarize
from llmgym.rubric import FORMAT, SUCCESS, component_with_role, is_solved, solved_at
from llmgym.types import SamplingParams, Task

from .rundir import RunDir


def evaluate(env: TextEnv, policy: Any, tasks: Sequence[Task], max_tokens: int, batch_size: int = 64, *,
             samples: int = 1, temperature: float = 0.0, seed: int = 0) -> dict[str, float]:
    """Held-out figures of `policy` (a `TrainablePolicy` over the model being evaluated:
    `policy.with_model(model)`) on `tasks`, `samples` answers each (via rollout): accuracy with its 95%
    interval (`accuracy_lo`, `accuracy_hi`: `clustered_wilson`), `format` (the share of answers in the
    prompt's format, the rubric's format entry; absent without one), mean reward and mean length.

    `temperature` 0 is greedy (one answer per task whatever `samples` says); above 0 sampling is seeded
    by `seed`, so the same model, tasks and seed give the same figures, and evaluations before and after
    training draw the same random numbers.
    """
    if not tasks:
        return {"accuracy": 0.0, "accuracy_lo": 0.0, "accuracy_hi": 1.0, "reward": 0.0, "length": 0.0, "n": 0}
    samples = 1 if temperature == 0 else max(1, samples)
    params = SamplingParams(temperature=temperature, max_tokens=max_tokens,
                            seed=seed if temperature > 0 else None)
    episodes = rollout(env, policy, tasks, n=samples, params=params, batch_size=batch_size)
    success, at = component_with_role(env.rubric, SUCCESS), solved_at(env.rubric)
    figures = summarize(episodes, success, at)
    per_task = [sum(is_solved(e.score.components, e.reward, success, at) for e in episodes[i:i + samples]) / samples
                for i in range(0, len(episodes), samples)]  # rollout returns episodes task-major
    figures["accuracy_lo"], figures["accuracy_hi"] = clustered_wilson(per_task, samples)
    fmt = component_with_role(env.rubric, FORMAT)
    if fmt is not None:
        figures["format"] = sum(e.score.components.get(fmt, 0.0) >= 1.0 for e in episodes) / len(episodes)
    figures["samples"] = samples
    return figures


def clustered_wilson(per_task: Sequence[float], samples: int) -> tuple[float, float]:
    """95% interval of accuracy, the mean of `per_task` (each task's share of right answers among its
    `samples` answers): Wilson's score interval at an effective sample size that the answers' clustering
    by task sets.

    Answers to one task are not independent draws (an easy task is answered right again and again), so
    counting every answer (n = tasks x samples) would overstate the evidence, and counting tasks alone
    (the bench's interval, `llmgym.report.metrics`) wastes what extra samples show about a task whose
    answers vary. The cluster-robust variance of the mean of task means, var = s^2 / tasks, says how much
    the figure would move with another draw of tasks and samples; the effective size is
    p (1 - p) / var, clamped to [tasks, tasks x samples] (no fewer than one draw per task, no more than
    the draws there are), and Wilson's interval at that size stays inside [0, 1] near 0% and 100%, where
    a normal interval would not. One sample per task gives tasks exactly, the textbook Wilson interval.

    >>> [round(x, 3) for x in clustered_wilson([1.0] * 8 + [0.0] * 8, 1)]  # 8 of 16: Wilson at n = 16
    [0.28, 0.72]
    >>> [round(x, 3) for x in clustered_wilson([0.5] * 16, 8)]  # every task half right: n = 16 x 8
    [0.415, 0.585]
    """
    from llmgym.report.metrics import wilson_interval

    n = len(per_task)
    if n == 0:
        return (0.0, 1.0)
    p = sum(per_task) / n
    most = n * max(1, samples)
    variance = (sum((x - p) ** 2 for x in per_task) / (n - 1) / n) if n > 1 else 0.0
    effective = most if variance == 0 else min(most, max(n, p * (1 - p) / variance))
    return wilson_interval(p * effective, effective)


def figures_line(f: dict[str, Any]) -> str:
    """One line of held-out figures: accuracy with its interval, format, reward, length.

    >>> figures_line({"accuracy": 0.5, "accuracy_lo": 0.4, "accuracy_hi": 0.6, "format": 0.9, "reward": 0.6,
    ...               "length": 12.0})
    'accuracy 50.0% [40.0%, 60.0%], format 90.0%, reward 0.600, length 12.0'
    >>> figures_line({"accuracy": 0.0, "accuracy_lo": 0.0, "accuracy_hi": 1.0, "reward": 0.0, "length": 0.0, "n": 0})
    'no held-out tasks (--eval-tasks 0)'
    """
    if f.get("n") == 0:
        return "no held-out tasks (--eval-tasks 0)"
    interval = f" [{f['accuracy_lo']:.1%}, {f['accuracy_hi']:.1%}]" if "accuracy_lo" in f else ""
    fmt = f", format {f['format']:.1%}" if "format" in f else ""
    return f"accuracy {f['accuracy']:.1%}{interval}{fmt}, reward {f['reward']:.3f}, length {f['length']:.1f}"


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
            trim()  # the last step's freed buffers leave the process before this one allocates (llmgym.memory)
            self.step_started = time.perf_counter()

        def on_step_end(self, args, state, control, model=None, **kw):
            self.step_seconds = time.perf_counter() - self.step_started
            step = state.global_step
            if is_main and eval_every and step % eval_every == 0 and step < state.max_steps:
                figures = evaluate_now(model)
                run.log_metrics(eval_row(step, figures))
                say(f"step {step}: held-out {figures_line(figures)}")

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


def sample_logger(run: RunDir, *, is_main: bool, every: int, env: str | None = None) -> Callable[..., None]:
    """The `on_scores` hook of the reward functions: rows of samples.jsonl (main process only), each
    with the rubric's value of the completion (`scores`) and its components; with `env` (an env of a
    mixture) each row names it."""

    def on_scores(prompts: list, texts: list[str], tasks: list[Task], components: dict[str, list[float]],
                  state: Any, *, scores: Sequence[Any]) -> None:
        step = (state.global_step + 1) if state is not None else 0  # the step these samples train
        if not is_main or step % every:
            return
        rows = []
        for i, (text, task) in enumerate(zip(texts, tasks)):
            comps = {name: vals[i] for name, vals in components.items()}
            rows.append({"step": step, "task_id": task.id, "prompt": task.text, "completion": text,
                         "answer": task.answer, "reward": scores[i].value, "components": comps,
                         **({"env": env} if env is not None else {})})
        run.append(run.samples, rows)

    return on_scores
