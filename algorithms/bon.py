"""`bon`: best-of-n rejection sampling around TRL's SFTTrainer.

What it really is: expert iteration (rejection-sampling fine-tuning), the "pick the best solution
and train on it" loop; no policy gradient, so no group baseline and no KL reference.

Each round takes the next `batch_size` train prompts, samples `num_generations` completions for
each through `llmgym.rollout`, keeps the best-scoring completion of every prompt that earned
reward > 0, and runs SFTTrainer over the kept ones (one pass). The optimizer restarts each round:
each round is a fresh SFT on a fresh dataset, as in rejection-sampling fine-tuning. A round is a
`step` in metrics.jsonl; every `save_every` rounds the model is checkpointed (folder written, then
LATEST replaced), so `--resume` continues from the last saved round.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from llmgym.env import TextEnv
from llmgym.train.algorithm import Algorithm, FitResult, RunContext
from llmgym.train.callbacks import eval_row
from llmgym.train.config import TrainConfig
from llmgym.train.rundir import RunDir, atomic_write


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
                                ctx.done_steps, is_main=ctx.is_main, world=ctx.world_size, say=ctx.say,
                                evaluate_now=ctx.evaluate, guard=ctx.guard)
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
            checkpoint: str | None, done_rounds: int, *, is_main: bool, world: int,
            say: Callable[[str], None], evaluate_now: Callable[[Any], dict], guard: Any = None) -> tuple[Any, int]:
    """Run the remaining rounds; returns the model and the number of rounds done.

    `guard` is a transformers `TrainerCallback` (the over-optimisation guard of a run against a
    learned reward): it sees the start and the end of every round as it would see optimizer steps,
    and when it sets `should_training_stop` no further round runs.
    """
    from datasets import Dataset
    from transformers import TrainerControl

    from llmgym.train.algos import sft_trainer

    if checkpoint:
        from llmgym.plugins import default_gym

        model = default_gym().make_policy(checkpoint).model  # a round's checkpoint: a whole model
    pool = list(env.tasks("train", n=cfg.train_tasks, seed=cfg.seed))
    sampler = policy.with_model(model)  # samples from the model being trained (llmgym.types.TrainablePolicy)

    def notify_guard(event: str, step: int) -> bool:
        """Pass a round boundary to the guard; True when it asks to stop."""
        if guard is None:
            return False
        control = TrainerControl()
        getattr(guard, event)(None, SimpleNamespace(global_step=step), control, model=model)
        return bool(control.should_training_stop)

    notify_guard("on_train_begin", done_rounds)
    done = done_rounds
    for r in range(done_rounds, cfg.steps):
        t0 = time.perf_counter()
        k = cfg.batch_size
        start = (r * k) % len(pool)
        tasks = (pool[start:] + pool[:start])[:k]
        rows, figures, episodes = best_of_n(cfg, env, sampler, tasks, r)
        step = r + 1
        if rows:
            steps = max(1, math.ceil(len(rows) / cfg.batch_size))
            with tempfile.TemporaryDirectory() as scratch:
                trainer = sft_trainer(cfg, model, tokenizer, Dataset.from_list(rows), scratch, [], world,
                                      steps=steps, with_peft=cfg.lora and r == 0)
                trainer.args.save_strategy = "no"
                result = trainer.train()
                model = trainer.model
                sampler = policy.with_model(model)
                figures["loss"] = result.training_loss
        figures["step_time"] = time.perf_counter() - t0
        if is_main:
            run.log_metrics({"step": step, **figures, "world_size": world})
            if cfg.samples_every and step % cfg.samples_every == 0:
                run.append(run.samples, [{"step": step, "task_id": e.task.id, "prompt": e.task.text,
                                          "completion": e.turns[-1].action, "answer": e.task.answer,
                                          "reward": e.reward, "components": dict(e.score.components)}
                                         for e in episodes])
            say(f"round {step}/{cfg.steps}: reward {figures['reward']:.3f}, kept {figures['kept_fraction']:.0%}")
            if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
                figs = evaluate_now(model)
                run.log_metrics(eval_row(step, figs))
                say(f"step {step}: held-out accuracy {figs['accuracy']:.1%}")
            if cfg.save_every and step % cfg.save_every == 0:
                _save_round(run, model, tokenizer, step, cfg.save_total_limit)
                say(f"saved checkpoint-{step}")
        done = step
        if notify_guard("on_step_end", step):
            say(f"guard: stopped after round {step}; the best policy is in {run.path / 'best'}")
            break
    if guard is not None:
        guard.on_train_end(None, SimpleNamespace(global_step=done), TrainerControl())
    return model, done


def _save_round(run: RunDir, model: Any, tokenizer: Any, step: int, keep: int) -> None:
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    target = run.checkpoints / f"checkpoint-{step}"
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoint-", dir=run.checkpoints))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    atomic_write(tmp / "trainer_state.json", json.dumps({"global_step": step}) + "\n")
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    run.mark_checkpoint(target.name)
    done = sorted((p for p in run.checkpoints.glob("checkpoint-*")), key=lambda p: int(p.name.split("-")[1]))
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
