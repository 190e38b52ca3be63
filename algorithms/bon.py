"""`bon`: best-of-n rejection sampling around TRL's SFTTrainer.

What it really is: expert iteration (rejection-sampling fine-tuning), the "pick the best solution
and train on it" loop; no policy gradient, so no group baseline and no KL reference.

Each round takes the next `batch_size` train prompts, samples `num_generations` completions for
each through `llmgym.rollout`, keeps the best-scoring completion of every prompt that earned
reward > 0, and runs SFTTrainer over the kept ones (one pass).

The optimizer (and its learning-rate schedule) restarts each round, on purpose: each round is a
fresh SFT on a fresh dataset, as in rejection-sampling fine-tuning, so Adam's moments of the last
round's samples would steer this round's; and a checkpoint holds only the model, so a resumed run
trains exactly as one that was never stopped.

A round is a step for the run's callbacks (`RunContext.callbacks`, driven by `RoundEvents` as a
Trainer drives them): its figures become the metrics.jsonl row through `on_log`, held-out
evaluation and the over-optimisation guard run in `on_step_end`, and every `save_every` rounds the
model is checkpointed (the folder renamed into place whole, then `on_save` points LATEST at it), so
`--resume` continues from the last saved round.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import tempfile
import time
from typing import Any, Callable, Sequence

from llmgym.env import TextEnv
from llmgym.io import save_model_dir
from llmgym.train.algorithm import Algorithm, FitResult, RunContext
from llmgym.train.config import TrainConfig
from llmgym.train.rundir import RunDir


class BestOfN(Algorithm):
    name = "bon"
    trl_config = "trl:SFTConfig"
    trains_mixtures = False  # one env's tasks per round; a mixture's rows would need per-row envs
    guarded = True

    def learning_rate(self, is_tiny: bool) -> float:
        return 1e-3 if is_tiny else 2e-5

    def default_steps(self, is_tiny: bool) -> int:
        return 30 if is_tiny else 16

    def fit(self, ctx: RunContext) -> FitResult:
        model, rounds = fit_bon(ctx.config, ctx.env, ctx.policy, ctx.model, ctx.tokenizer, ctx.run, ctx.checkpoint,
                                ctx.done_steps, callbacks=ctx.callbacks, is_main=ctx.is_main, world=ctx.world_size,
                                say=ctx.say)
        return FitResult(model, rounds)


def best_of_n(cfg: TrainConfig, env: TextEnv, policy: Any, tasks: list, round_index: int
              ) -> tuple[list[dict[str, Any]], dict[str, float], list]:
    """Sample n per task; the kept SFT rows, the round's reward figures, and the episodes."""
    from llmgym.rollout import rollout
    from llmgym.types import SamplingParams

    n = cfg.num_generations
    params = SamplingParams(temperature=cfg.temperature, max_tokens=cfg.max_completion_length,
                            seed=cfg.seed * 100_003 + round_index)
    episodes = rollout(env, policy, tasks, n=n, params=params)
    rows, rewards, zero_var = [], [], 0
    for i, task in enumerate(tasks):
        group = episodes[i * n:(i + 1) * n]
        values = [e.reward for e in group]
        rewards.extend(values)
        zero_var += max(values) == min(values)
        best = max(group, key=lambda e: e.reward)
        if best.reward > 0:
            rows.append({"prompt": task.messages(env.system_prompt),
                         "completion": [{"role": "assistant", "content": best.turns[-1].action}]})
    mean = sum(rewards) / len(rewards)
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / len(rewards))
    lengths = [e.info.get("completion_tokens", 0) for e in episodes]
    tokens = sum(lengths)
    seconds = sum(e.info.get("seconds", 0.0) for e in episodes)
    figures = {"reward": mean, "reward_std": std, "frac_reward_zero_std": zero_var / len(tasks),
               "kept_fraction": len(rows) / len(tasks), "completions/mean_length": tokens / len(lengths),
               "rollout_tokens_per_s": tokens / seconds if seconds else 0.0}
    for name in env.rubric.components:
        vals = [e.score.components.get(name, 0.0) for e in episodes]
        figures[f"rewards/{name}/mean"] = sum(vals) / len(vals)
    return rows, figures, episodes


def fit_bon(cfg: TrainConfig, env: TextEnv, policy: Any, model: Any, tokenizer: Any, run: RunDir,
            checkpoint: str | None, done_rounds: int, *, callbacks: Sequence[Any], is_main: bool, world: int,
            say: Callable[[str], None]) -> tuple[Any, int]:
    """Run the remaining rounds; returns the model and the number of rounds done.

    `callbacks` are the run's transformers `TrainerCallback`s (`RunContext.callbacks`: metrics rows,
    held-out evaluation, checkpoint markers, the over-optimisation guard, the caller's own), driven
    as a Trainer drives them with a round as its optimizer step: `on_train_begin`, then per round
    `on_step_begin`, `on_step_end`, `on_log` with the round's figures and, after a checkpoint,
    `on_save`; `on_train_end` last. A callback that sets `should_training_stop` (the guard) ends the
    run after that round.
    """
    from datasets import Dataset

    from llmgym.train.algos import sft_trainer

    if checkpoint:
        from llmgym.plugins import default_gym

        model = default_gym().make_policy(checkpoint).model  # a round's checkpoint: a whole model
    pool = list(env.tasks("train", n=cfg.train_tasks, seed=cfg.seed))
    sampler = policy.with_model(model)  # samples from the model being trained (llmgym.types.TrainablePolicy)
    events = RoundEvents(callbacks, cfg, run, done_rounds, tokenizer)

    events.fire("on_train_begin", model)
    done = done_rounds
    for r in range(done_rounds, cfg.steps):
        t0 = time.perf_counter()
        events.fire("on_step_begin", model)
        k = cfg.batch_size
        start = (r * k) % len(pool)
        tasks = (pool[start:] + pool[:start])[:k]
        rows, figures, episodes = best_of_n(cfg, env, sampler, tasks, r)
        step = r + 1
        if rows:
            steps = max(1, math.ceil(len(rows) / cfg.batch_size))
            with tempfile.TemporaryDirectory() as scratch:
                # The round's own trainer gets no callbacks: its inner steps are not the run's steps.
                trainer = sft_trainer(cfg, model, tokenizer, Dataset.from_list(rows), scratch, [], world,
                                      steps=steps, with_peft=cfg.lora and r == 0)
                trainer.args.save_strategy = "no"
                result = trainer.train()
                model = trainer.model
                sampler = policy.with_model(model)
                figures["loss"] = result.training_loss
        figures["step_time"] = time.perf_counter() - t0
        events.state.global_step = done = step
        if is_main and cfg.samples_every and step % cfg.samples_every == 0:
            run.append(run.samples, [{"step": step, "task_id": e.task.id, "prompt": e.task.text,
                                      "completion": e.turns[-1].action, "answer": e.task.answer,
                                      "reward": e.reward, "components": dict(e.score.components)}
                                     for e in episodes])
        say(f"round {step}/{cfg.steps}: reward {figures['reward']:.3f}, kept {figures['kept_fraction']:.0%}")
        events.fire("on_step_end", model)  # held-out evaluation, the guard's probe
        events.log(figures, model)
        if cfg.save_every and step % cfg.save_every == 0:
            if is_main:
                _save_round(run, model, tokenizer, events.state, cfg.save_total_limit)
            events.fire("on_save", model)  # after the folder is whole: LATEST names it
        if events.control.should_training_stop:
            say(f"stopped after round {step}; the best policy is in {run.path / 'best'}"
                if (run.path / "best").is_dir() else f"stopped after round {step}")
            break
    events.fire("on_train_end", model)
    return model, done


class RoundEvents:
    """The run's callbacks, called as a transformers Trainer calls them (`CallbackHandler.call_event`),
    with a real `TrainingArguments`, `TrainerState` and `TrainerControl`; a round is a step."""

    def __init__(self, callbacks: Sequence[Any], cfg: TrainConfig, run: RunDir, done_rounds: int, tokenizer: Any):
        from transformers import TrainerControl, TrainerState, TrainingArguments

        self.callbacks = list(callbacks)
        self.tokenizer = tokenizer
        # What a callback may read of the run: its folder, steps, batch size, learning rate and seed.
        self.args = TrainingArguments(output_dir=str(run.checkpoints), max_steps=cfg.steps,
                                      per_device_train_batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                      seed=cfg.seed, logging_steps=1, save_strategy="no", report_to=[])
        self.state = TrainerState(global_step=done_rounds, max_steps=cfg.steps, logging_steps=1,
                                  save_steps=cfg.save_every, train_batch_size=cfg.batch_size)
        self.control = TrainerControl()

    def fire(self, event: str, model: Any, **kwargs: Any) -> None:
        if event == "on_step_begin":  # as CallbackHandler does before every step
            self.control.should_log = self.control.should_evaluate = self.control.should_save = False
        for callback in self.callbacks:
            # The keywords CallbackHandler passes; each round's optimizer is the round trainer's own.
            result = getattr(callback, event)(self.args, self.state, self.control, model=model,
                                              processing_class=self.tokenizer, optimizer=None, lr_scheduler=None,
                                              train_dataloader=None, eval_dataloader=None, **kwargs)
            if result is not None:
                self.control = result

    def log(self, figures: dict[str, float], model: Any) -> None:
        """A round's figures to `on_log` (the run's metrics row), recorded in the state's log history."""
        self.state.log_history.append({**figures, "step": self.state.global_step})
        self.fire("on_log", model, logs=dict(figures))


def _save_round(run: RunDir, model: Any, tokenizer: Any, state: Any, keep: int) -> None:
    """checkpoint-N as a whole folder (`llmgym.io.save_model_dir`), then the oldest beyond `keep` go."""
    name = f"checkpoint-{state.global_step}"
    save_model_dir(run.checkpoints / name, model, tokenizer, files={"trainer_state.json": _state_json(state)})
    done = sorted((p for p in run.checkpoints.glob("checkpoint-*")), key=lambda p: int(p.name.split("-")[1]))
    for old in done[:-keep]:
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)


def _state_json(state: Any) -> str:
    """trainer_state.json as `TrainerState.save_to_json` writes it."""
    return json.dumps(dataclasses.asdict(state), indent=2, sort_keys=True) + "\n"
