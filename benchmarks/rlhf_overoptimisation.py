"""Over-optimisation on CPU: a tiny policy trained with GRPO against a reward model that was fitted
to simulated rankings, with the gold labeler watching (Gao et al., 2022, in miniature).

    .venv/bin/python benchmarks/rlhf_overoptimisation.py --out runs/rlhf-overopt [--guard/--no-guard]

Stages (each reused when its output already exists, so a rerun continues):

1. `rankings.jsonl`: the simulated writer's samples for `--prompts` joke prompts, ranked by gold.
2. `rm/`: a reward model (tiny Llama backbone, TRL `RewardTrainer`); prints held-out pairwise
   accuracy, also against the gold labeler.
3. `sft/`: the tiny policy taught the task's template answers (the "pretrained" starting point).
4. `rl/`: GRPO against the reward model (`rlhf:reward=reward_model:rm/`; gold is a weight-0
   metric), probed every `--probe-every` steps by the over-optimisation guard. With `--no-guard`
   the guard only records (its thresholds are set out of reach) so the whole curve is visible.

It prints proxy, gold and KL per probe, where gold peaked, where (and why) the guard stopped, and
renders `rl/report.html` (`llmgym report rl/`). Figures, not pass/fail: CPU speed varies.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/rlhf-overopt")
    ap.add_argument("--env", default="rlhf:family=joke")
    ap.add_argument("--prompts", type=int, default=300, help="ranked prompts for the reward model")
    ap.add_argument("--rm-steps", type=int, default=150)
    ap.add_argument("--sft-steps", type=int, default=300)
    ap.add_argument("--rl-steps", type=int, default=200)
    ap.add_argument("--probe-every", type=int, default=10)
    ap.add_argument("--lr", type=float, default=5e-4, help="GRPO learning rate")
    ap.add_argument("--guard", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    import llmgym
    from llmgym.rlhf import rankings as rk
    from llmgym.rlhf.guard import GuardConfig, guard_for_env
    from llmgym.rlhf.reward_model import RMConfig, train_reward_model
    from llmgym.rlhf.simulate import simulate_rankings
    from llmgym.train.config import TrainConfig
    from llmgym.train.run import train

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    torch.manual_seed(args.seed)

    data = out / "rankings.jsonl"
    if not data.is_file():
        rk.append(data, simulate_rankings(llmgym.make(args.env), args.prompts, 5, seed=args.seed))
    rm_dir = out / "rm"
    if not (rm_dir / "llmgym_rm.json").is_file():
        train_reward_model(RMConfig(data=str(data), base="tiny:hidden=64,layers=2,heads=4", out=str(rm_dir),
                                    steps=args.rm_steps, batch_size=16, max_length=128, seed=args.seed))
    rm_metrics = json.loads((rm_dir / "llmgym_rm.json").read_text())["metrics"]
    print(f"reward model: held-out pairwise accuracy {rm_metrics['heldout_accuracy']:.1%} on "
          f"{rm_metrics['heldout_pairs']} pairs; against gold {rm_metrics.get('heldout_gold_accuracy', float('nan')):.1%} "
          f"[{time.perf_counter() - t0:.0f} s]", flush=True)

    sft = out / "sft"
    if not (sft / "final" / "config.json").is_file():
        train(TrainConfig(env=args.env, policy="tiny", algo="sft", steps=args.sft_steps, out=str(sft),
                          eval_tasks=16, eval_every=0, save_every=args.sft_steps, batch_size=16,
                          max_completion_length=96, seed=args.seed))
    print(f"sft done [{time.perf_counter() - t0:.0f} s]", flush=True)

    rl = out / "rl"
    if (rl / "metrics.jsonl").exists():
        print(f"{rl} exists; delete it to rerun the RL stage")
        return summarise(rl)
    env = llmgym.make(f"{args.env},reward=reward_model:{rm_dir}")
    cfg = TrainConfig(env=f"{args.env},reward=reward_model:{rm_dir}", policy=str(sft), algo="grpo",
                      steps=args.rl_steps, out=str(rl), learning_rate=args.lr, num_generations=8,
                      prompts_per_step=2, max_completion_length=96, temperature=1.0, beta=0.0,
                      save_every=args.rl_steps, eval_every=0, seed=args.seed)
    from llmgym.policies.hf import HFPolicy
    from llmgym.train.algos import fit_rl
    from llmgym.train.callbacks import make_callbacks
    from llmgym.train.rundir import RunDir

    run = RunDir(rl)
    run.write_config({**cfg.to_dict(), "guard": args.guard})
    policy = HFPolicy(str(sft))
    guard_cfg = GuardConfig(eval_every=args.probe_every, patience=3, min_gold_drop=0.03)
    if not args.guard:
        guard_cfg = GuardConfig(eval_every=args.probe_every, patience=10**9, max_repetition=None, min_distinct_2=None,
                                max_near_identical=None, max_length_drift=None, max_longest_run=None)
    guard = guard_for_env(env, rl, policy.model, policy.tokenizer, config=guard_cfg, probe_tasks=16, n=2,
                          max_tokens=96, seed=args.seed)
    callbacks = make_callbacks(run, is_main=True, eval_every=0, evaluate_now=lambda m: {}, say=print, world_size=1)
    cfg = cfg.resolved(is_tiny=True)
    fit_rl(cfg, env, policy.model, policy.tokenizer, str(run.checkpoints), callbacks + [guard], None, 1, None)
    print(f"rl done [{time.perf_counter() - t0:.0f} s]", flush=True)
    return summarise(rl)


def summarise(rl: Path) -> int:
    rows = [json.loads(line) for line in (rl / "metrics.jsonl").read_text().splitlines() if line.strip()]
    probes = [r for r in rows if "rlhf/proxy_reward" in r]
    print(f"{'step':>5} {'proxy':>7} {'gold':>7} {'kl':>8} {'distinct_2':>10} {'near_ident':>10}")
    for r in probes:
        print(f"{r['step']:>5} {r['rlhf/proxy_reward']:>7.3f} {r.get('rlhf/gold_score', float('nan')):>7.3f} "
              f"{r.get('rlhf/kl', float('nan')):>8.2f} {r.get('degeneracy/distinct_2', float('nan')):>10.3f} "
              f"{r.get('degeneracy/near_identical', float('nan')):>10.3f}")
    if probes:
        peak = max(probes, key=lambda r: r.get("rlhf/gold_score", float("-inf")))
        print(f"gold peaked at step {peak['step']} ({peak.get('rlhf/gold_score', float('nan')):.3f}); proxy "
              f"{probes[0]['rlhf/proxy_reward']:.3f} -> {probes[-1]['rlhf/proxy_reward']:.3f}")
    verdict_path = rl / "guard.json"
    if verdict_path.is_file():
        v = json.loads(verdict_path.read_text())
        print(f"guard: stopped={v['stopped']} at step {v['step']}; best checkpoint step {v['best_step']} "
              f"-> {v['best_checkpoint']}; reason: {v['reason']}")
    try:
        from llmgym.report.run_report import render_run

        print("report:", render_run(rl))
    except Exception as exc:  # the figures above stand without the report
        print(f"report not rendered: {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
