"""Step time of `llmgym train` against a plain TRL GRPOTrainer script, same model, data, reward
and settings (llmgym's flat-group drop off, so both do the same work), measured one after the other in
this process. Prints both and the ratio (goal <= 1.05).

    python benchmarks/bench_train_step.py                 # tiny policy, 12 steps
    python benchmarks/bench_train_step.py --policy smollm2 --steps 6
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time

import llmgym
from llmgym.train.config import TrainConfig
from llmgym.train.data import prompt_dataset, reward_functions
from llmgym.train.rundir import RunDir
from llmgym.train.run import load_policy, train


def plain_trl(cfg: TrainConfig, out: str) -> tuple[list[float], list[float]]:
    """The hand-written baseline: GRPOTrainer with the env's rows and one combined reward."""
    import torch
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    env = llmgym.make(cfg.env)
    policy = load_policy(cfg.policy, cfg.seed)
    funcs, weights = reward_functions(env)
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t)

    args = GRPOConfig(output_dir=out, max_steps=cfg.steps, learning_rate=cfg.learning_rate,
                      per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
                      num_generations=cfg.num_generations, max_completion_length=cfg.max_completion_length,
                      temperature=cfg.temperature, beta=cfg.beta, reward_weights=weights, logging_steps=1,
                      save_strategy="no", report_to="none", use_cpu=not torch.cuda.is_available(),
                      lr_scheduler_type="constant", seed=cfg.seed, disable_tqdm=True,
                      gradient_checkpointing=cfg.gradient_checkpointing, weight_decay=0.0,
                      bf16=cfg.bf16)  # GRPOConfig defaults to bf16, slow on CPUs without bf16 units
    trainer = GRPOTrainer(model=policy.model, reward_funcs=funcs, args=args,
                          train_dataset=prompt_dataset(env, cfg.train_tasks, cfg.seed),
                          processing_class=policy.tokenizer, callbacks=[Timer()])
    trainer.train()
    lengths = [r["completions/mean_length"] for r in trainer.state.log_history if "completions/mean_length" in r]
    return times, lengths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", default="tiny")
    ap.add_argument("--env", default="math")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3, help="alternating runs of each (A B A B ...)")
    a = ap.parse_args()
    base = TrainConfig(env=a.env, policy=a.policy, steps=a.steps, eval_tasks=0, eval_every=0, save_every=0)
    is_tiny = a.policy.startswith("tiny")
    # The same work on both sides: llmgym's default leaves flat groups out of the backward pass
    # (`--dynamic-sampling auto`), which TRL's script does not, and a shorter loss pass draws fewer
    # random numbers, so the next step samples other completions. Off here; bench_learning measures it.
    cfg = dataclasses.replace(base.resolved(is_tiny=is_tiny), dynamic_sampling="off")
    skip = 1 if a.steps > 2 else 0  # the first step of a run pays one-off warm-up in both
    trl_times, trl_lengths, ours, our_lengths = [], [], [], []
    # Alternating, so that a change in machine load between runs hits both sides alike.
    for r in range(a.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            times, lengths = plain_trl(cfg, f"{tmp}/trl")
            trl_times += times[skip:]
            trl_lengths += lengths
            train(TrainConfig(**{**cfg.to_dict(), "out": f"{tmp}/llmgym"}))
            rows = [r for r in RunDir(f"{tmp}/llmgym").rows() if "reward" in r and "step_time" in r]
            ours += [r["step_time"] for r in rows][skip:]
            our_lengths += [r["completions/mean_length"] for r in rows]
    t_trl, t_ours = statistics.median(trl_times), statistics.median(ours)
    print(f"policy {a.policy}, env {a.env}, {cfg.prompts_per_step}x{cfg.num_generations} completions "
          f"x <= {cfg.max_completion_length} tokens, {a.rounds} x {a.steps} steps each (first of each run skipped)")
    # Step time follows completion length: compare the two only where the lengths agree.
    print(f"plain TRL GRPOTrainer: median {t_trl:.3f} s/step, mean completion length {statistics.mean(trl_lengths):.1f}")
    print(f"llmgym train:          median {t_ours:.3f} s/step, mean completion length {statistics.mean(our_lengths):.1f}")
    print(f"ratio llmgym / TRL:    {t_ours / t_trl:.3f}  (goal <= 1.05)")


if __name__ == "__main__":
    main()
