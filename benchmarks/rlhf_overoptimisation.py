"""Over-optimisation on CPU: a tiny policy trained with GRPO against a reward model that was fitted
to simulated rankings, with the gold labeler watching (Gao et al., 2022, in miniature).

    .venv/bin/python benchmarks/rlhf_overoptimisation.py --out runs/rlhf-overopt --guard watch
    .venv/bin/python benchmarks/rlhf_overoptimisation.py --out runs/rlhf-overopt      # guard on

Stages, in InstructGPT's order (each reused when its output already exists, so the second command
above trains only its own RL stage, from the same reward model and the same starting policy):

1. `sft/final/`: the tiny policy taught template answers (the "pretrained" starting point) with
   TRL's `SFTTrainer`. Each train prompt has one reference answer per task stream, so the data
   joins `--sft-seeds` streams (other keywords, other templates for the same prompt): with one
   answer per prompt a small model memorises which answer goes with which audience and never
   learns that the keywords follow the subject (gold stays near 0 on held-out prompts).
2. `rankings.jsonl`: `--k` samples per train prompt ranked by the gold labeler; `--rankings policy`
   ranks the starting policy's own samples (at `--temperature`), `writer` the simulated writer's
   (mutated template answers, degenerate texts), `both` both.
3. `rm/`: a reward model (`--rm-base`, by default a 2-layer tiny Llama reading the last
   `--rm-max-length` characters of prompt + completion: 128 holds the completion and little of the
   prompt) fitted with TRL's `RewardTrainer`; prints held-out pairwise
   accuracy, also against the gold labeler.
4. `rl-MODE/`: GRPO against the reward model (`rlhf:reward=reward_model:rm/`; gold is a weight-0
   metric) run by `llmgym train` itself (`llmgym.train.run.train`; 32 prompts x 8 samples per step
   by default: with 2-8 prompts per step the sampling noise finds the reward model's errors before
   gold can rise), probed by the over-optimisation guard, whose spec is `--guard` (the syntax of
   `llmgym train --guard`). `watch:...` only records, so the whole curve is visible, and notes
   where it would have stopped; `stop:...` stops and keeps `rl-stop/best/`. With `--control` the
   RL stage optimises the gold labeler itself (`rl-control-MODE/`): how fast gold can rise at all
   with these RL settings, the yardstick for the reward-model run.

`--verify N` then re-measures the starting policy, `rl-MODE/best/` and `rl-MODE/final/` on N fresh
samples per held-out prompt, with paired bootstrap intervals (`rl-MODE/verify.json`).

It prints proxy, gold and KL per probe, where gold peaked, where (and why) the guard stopped,
writes that table to `rl-MODE/summary.txt` and renders `rl-MODE/report.html` (what `llmgym report`
renders). Figures, not pass/fail: CPU speed varies. On a machine shared with other jobs set
`OMP_NUM_THREADS=1`: two threads that wait on each other under contention run several times slower.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/rlhf-overopt")
    ap.add_argument("--env", default="rlhf:family=joke")
    ap.add_argument("--prompts", type=int, default=300, help="ranked prompts for the reward model")
    ap.add_argument("--k", type=int, default=5, help="samples ranked per prompt")
    ap.add_argument("--rankings", choices=("policy", "writer", "both"), default="writer",
                    help="whose samples are ranked: the starting policy's (as in InstructGPT), the simulated "
                         "writer's (mutated template answers, degenerate texts) or both")
    ap.add_argument("--rm-base", default="tiny:hidden=64,layers=2,heads=4")
    ap.add_argument("--rm-max-length", type=int, default=128, help="tokens (characters) the reward model reads")
    ap.add_argument("--rm-steps", type=int, default=150)
    ap.add_argument("--sft-steps", type=int, default=600)
    ap.add_argument("--sft-seeds", type=int, default=8, help="reference answers per train prompt for SFT")
    ap.add_argument("--sft-mix", type=float, default=0.0,
                    help="share of SFT answers taken from the simulated writer (mixed quality) instead of templates")
    ap.add_argument("--rl-steps", type=int, default=40)
    ap.add_argument("--prompts-per-step", type=int, default=32, help="GRPO prompts per step (8 samples each)")
    ap.add_argument("--beta", type=float, default=0.0, help="GRPO KL penalty to the starting policy")
    ap.add_argument("--lr", type=float, default=5e-5, help="GRPO learning rate")
    ap.add_argument("--temperature", type=float, default=1.2,
                    help="sampling temperature of GRPO and of the guard's probes (unless --guard names one)")
    ap.add_argument("--max-tokens", type=int, default=112, help="most tokens per sample (training and probes)")
    ap.add_argument("--guard", default="stop",
                    help="guard spec, MODE[:KEY=VALUE,...] (llmgym.rlhf.guard.GuardConfig.from_spec); keys it "
                         "leaves out take the benchmark's eval_every=2, probe_tasks=59, samples=6 and --temperature")
    ap.add_argument("--bon", type=int, default=0, metavar="N",
                    help="also measure best-of-n against the reward model (n = 1, 2, 4, ... N) on the held-out "
                         "prompts -> bon.json: gold and proxy of the reward model's pick against KL = log n - (n-1)/n")
    ap.add_argument("--verify", type=int, default=0, metavar="N",
                    help="after the RL stage (or on an existing one): N samples per held-out prompt from the starting "
                         "policy, the guard's best/ and final/ -> RL/verify.json: gold and proxy with paired 95%% "
                         "bootstrap intervals over prompts (the probes' differences are a few hundred samples)")
    ap.add_argument("--control", action="store_true",
                    help="the control: RL against the gold labeler itself (no reward model) -> rl-control-MODE/")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    import llmgym
    from llmgym.rlhf import rankings as rk
    from llmgym.rlhf.guard import GuardConfig
    from llmgym.rlhf.reward_model import RMConfig, train_reward_model
    from llmgym.rlhf.simulate import simulate_rankings

    defaults = {"eval_every": 2, "probe_tasks": 59, "samples": 6, "temperature": args.temperature}
    guard_cfg = dataclasses.replace(GuardConfig.from_spec(args.guard),
                                    **{k: v for k, v in defaults.items() if f"{k}=" not in args.guard})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0, cpu0 = time.perf_counter(), time.process_time()
    stages: dict[str, float] = {}  # wall seconds of the stages this invocation ran
    torch.manual_seed(args.seed)

    # The order of InstructGPT: a supervised starting policy, rankings of *its* samples, a reward
    # model of those rankings, then RL from the starting policy against the reward model.
    sft = out / "sft"
    if not (sft / "final" / "config.json").is_file():
        t = time.perf_counter()
        fit_sft_policy(llmgym.make(args.env), sft, args.sft_steps, args.sft_seeds, args.seed, args.sft_mix)
        stages["sft"] = time.perf_counter() - t
    print(f"[{time.perf_counter() - t0:.0f} s] starting policy ready", flush=True)

    data = out / "rankings.jsonl"
    if not data.is_file():
        t = time.perf_counter()
        records = []
        if args.rankings in ("policy", "both"):
            from llmgym.policies.hf import HFPolicy
            from llmgym.types import SamplingParams

            records += simulate_rankings(llmgym.make(args.env), args.prompts, args.k, seed=args.seed,
                                         policy=HFPolicy(str(sft / "final"), batch_size=64),
                                         params=SamplingParams(temperature=args.temperature,
                                                               max_tokens=args.max_tokens, seed=args.seed))
        if args.rankings in ("writer", "both"):
            records += simulate_rankings(llmgym.make(args.env), args.prompts, args.k, seed=args.seed)
        rk.append(data, records)
        stages["rankings"] = time.perf_counter() - t
    rm_dir = out / "rm"
    if not (rm_dir / "llmgym_rm.json").is_file():
        t = time.perf_counter()
        train_reward_model(RMConfig(data=str(data), base=args.rm_base, out=str(rm_dir), steps=args.rm_steps,
                                    batch_size=16, max_length=args.rm_max_length, seed=args.seed))
        stages["reward_model"] = time.perf_counter() - t
    rm_metrics = json.loads((rm_dir / "llmgym_rm.json").read_text())["metrics"]
    print(f"[{time.perf_counter() - t0:.0f} s] reward model ready", flush=True)

    if args.bon:
        best_of_n_curve(llmgym.make(f"{args.env},reward=reward_model:{rm_dir}"), sft / "final", out / "bon.json",
                        args.bon, args.temperature, args.max_tokens, guard_cfg.probe_tasks, args.seed)
        return 0

    rl = out / (f"rl-control-{guard_cfg.mode}" if args.control else f"rl-{guard_cfg.mode}")
    if (rl / "metrics.jsonl").exists():
        print(f"{rl} exists; delete it to rerun the RL stage")
    else:
        t = time.perf_counter()
        result = rl_stage(args, rl, sft / "final", rm_dir, guard_cfg)
        stages["rl"] = time.perf_counter() - t
        from llmgym.train.rundir import RunDir

        RunDir(rl).write_summary({**result, "benchmark_wall_seconds": time.perf_counter() - t0,
                                  "benchmark_cpu_seconds": time.process_time() - cpu0, "stage_wall_seconds": stages,
                                  "torch_threads": torch.get_num_threads(), "reward_model": rm_metrics})
        print(f"[{time.perf_counter() - t0:.0f} s] rl done ({result['steps']} steps, {stages['rl']:.0f} s)", flush=True)
    if args.verify:
        verify_policies(llmgym.make(f"{args.env},reward=reward_model:{rm_dir}"), sft / "final", rl, args.verify,
                        args.temperature, args.max_tokens, guard_cfg.probe_tasks, args.seed)
    return summarise(rl, rm_metrics)


def rl_stage(args, rl: Path, start: Path, rm_dir: Path, guard_cfg) -> dict:
    """GRPO from `start` against the reward model (or, with --control, the gold labeler) -> `rl`;
    returns the run's summary."""
    from llmgym.train.config import TrainConfig

    reward_env = f"{args.env},reward=gold" if args.control else f"{args.env},reward=reward_model:{rm_dir}"
    cfg = TrainConfig(env=reward_env, policy=str(start), algo="grpo", steps=args.rl_steps, out=str(rl),
                      learning_rate=args.lr, num_generations=8, prompts_per_step=args.prompts_per_step,
                      max_completion_length=args.max_tokens, temperature=args.temperature, beta=args.beta,
                      save_every=0, eval_every=0, eval_tasks=8, samples_every=5, seed=args.seed,
                      guard=guard_cfg.to_spec())
    from llmgym.train.run import train

    if not args.control:
        # Exactly `llmgym train` with these options (the command the docs print), which adds the guard.
        return train(cfg)
    # The control: train() adds no guard when gold is the reward itself, so the probe (proxy = gold)
    # is passed in to draw the same curve.
    from llmgym.rlhf.guard import guard_for_env

    def probe(ctx):
        return guard_for_env(ctx.env, ctx.run.path, ctx.policy, config=cfg.guard, max_tokens=args.max_tokens,
                             kl_logged_by_trainer=args.beta > 0, seed=args.seed)

    return train(cfg, callbacks=[probe])


def fit_sft_policy(env, out: Path, steps: int, seeds: int, seed: int, mix: float = 0.0) -> None:
    """SFT of a fresh `tiny` policy on `seeds` answers per train prompt -> OUT/final/. A `mix` share
    of the answers are the simulated writer's (stutters, junk words, swapped keywords, degenerate
    texts) instead of the template's: the starting policy then writes a mixture of good and bad
    answers, like a model pretrained on text of mixed quality, and RL has a good mode to find."""
    import random

    from datasets import Dataset

    from llmgym.rlhf.simulate import simulated_completions
    from llmgym.train.algos import sft_trainer
    from llmgym.train.config import TrainConfig
    from llmgym.train.run import load_policy
    from llmgym.train.rundir import RunDir

    rng = random.Random(f"sft-mix/{seed}")
    rows = []
    for s in range(seed, seed + seeds):
        for task in env.tasks("train", n=100_000, seed=s):
            answer = env.reference(task)
            if not answer:
                continue
            if mix and rng.random() < mix:
                answer = simulated_completions(task, 1, rng)[0]
            rows.append({"prompt": task.messages(env.system_prompt),
                         "completion": [{"role": "assistant", "content": answer}]})
    data = Dataset.from_list(rows)
    policy = load_policy("tiny", seed)
    cfg = TrainConfig(env=env.name, policy="tiny", algo="sft", steps=steps, out=str(out), learning_rate=1e-3,
                      batch_size=16, save_every=0, seed=seed)
    trainer = sft_trainer(cfg, policy.model, policy.tokenizer, data.shuffle(seed=seed), str(out / "trainer"), [], 1,
                          steps=steps, with_peft=False)
    trainer.train()
    RunDir(out).save_model(out / "final", trainer.model, policy.tokenizer)


def best_of_n_curve(env, policy_dir: Path, dest: Path, n_max: int, temperature: float, max_tokens: int,
                    n_prompts: int, seed: int) -> dict:
    """Best-of-n against the reward model, the other half of Gao et al.'s figure 1: draw `n_max`
    samples per held-out prompt, and for n = 1, 2, 4, ... report the expected gold and proxy of the
    sample the reward model ranks first among n drawn without replacement (exact over all n-subsets:
    the i-th lowest of N is the top of C(i-1, n-1) of the C(N, n) subsets). KL(best-of-n || policy)
    = log n - (n-1)/n nats."""
    import math

    from llmgym.io import atomic_write_text
    from llmgym.policies.hf import HFPolicy
    from llmgym.types import SamplingParams

    tasks = list(env.tasks("eval", n=n_prompts, seed=seed))
    policy = HFPolicy(str(policy_dir), batch_size=64)
    rows = policy.generate([t.messages(env.system_prompt) for t in tasks], n=n_max,
                           params=SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed))
    proxy_r = next(r for r, w in env.rubric.entries if w)
    gold_r = next(r for r, _ in env.rubric.entries if r.name == "gold")
    ns = [n for n in (2 ** k for k in range(16)) if n <= n_max]
    # weights[n][r]: the chance that the r-th lowest of n_max samples tops a random n-subset.
    weights = {n: [math.comb(r, n - 1) / math.comb(n_max, n) for r in range(n_max)] for n in ns}
    per_prompt = []  # per prompt: {n: (expected gold, expected proxy) of the reward model's pick}
    for task, row in zip(tasks, rows):
        texts = [c.text for c in row]
        proxy = [s.value for s in proxy_r.score_batch(texts, [task] * len(texts))]
        gold = [s.value for s in gold_r.score_batch(texts, [task] * len(texts))]
        order = sorted(range(len(texts)), key=lambda i: proxy[i])
        per_prompt.append({n: (sum(w * gold[i] for w, i in zip(weights[n], order)),
                               sum(w * proxy[i] for w, i in zip(weights[n], order))) for n in ns})
    def gold_change(a: int, b: int) -> tuple[float, list[float]]:
        """Mean gold(best of a) - gold(best of b) and its 95% bootstrap interval over prompts."""
        diffs = [p[a][0] - p[b][0] for p in per_prompt]
        return sum(diffs) / len(diffs), _bootstrap(diffs, seed)

    curve = [{"n": n, "kl": math.log(n) - (n - 1) / n,
              "gold": sum(p[n][0] for p in per_prompt) / len(per_prompt),
              "proxy": sum(p[n][1] for p in per_prompt) / len(per_prompt),
              "gold_gain_ci95": gold_change(n, 1)[1]} for n in ns]
    peak = max(curve, key=lambda r: r["gold"])
    last = curve[-1]
    fall, fall_ci = gold_change(last["n"], peak["n"])
    result = {"prompts": len(tasks), "samples_per_prompt": n_max, "temperature": temperature, "curve": curve,
              "peak_n": peak["n"], "fall_from_peak": fall, "fall_from_peak_ci95": fall_ci}
    atomic_write_text(dest, json.dumps(result, indent=2) + "\n")
    print(f"best-of-n against the reward model ({len(tasks)} held-out prompts, {n_max} samples each):")
    print(f"{'n':>5} {'KL':>6} {'proxy':>7} {'gold':>7}  gold - gold(n=1), 95% interval")
    for r in curve:
        lo, hi = r["gold_gain_ci95"]
        print(f"{r['n']:>5} {r['kl']:>6.2f} {r['proxy']:>7.3f} {r['gold']:>7.3f}  {r['gold'] - curve[0]['gold']:+.3f} "
              f"[{lo:+.3f}, {hi:+.3f}]")
    lo, hi = result["fall_from_peak_ci95"]
    print(f"gold peaks at n = {peak['n']} (KL {peak['kl']:.2f}); n = {last['n']} is {result['fall_from_peak']:+.3f} "
          f"[{lo:+.3f}, {hi:+.3f}] from the peak")
    return result


def _bootstrap(diffs: list[float], seed: int, rounds: int = 2000) -> list[float]:
    """95% bootstrap interval (over prompts) of the mean of per-prompt differences."""
    import random

    rng = random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(len(diffs))] for _ in diffs) / len(diffs) for _ in range(rounds))
    return [means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]]


def verify_policies(env, start: Path, rl: Path, n: int, temperature: float, max_tokens: int, n_prompts: int,
                    seed: int) -> dict:
    """Gold and proxy of the starting policy, the guard's `best/` and `final/` on `n` samples per
    held-out prompt (the probe's prompts, fresh sampling seed), with paired bootstrap intervals over
    prompts for best - start and final - best -> RL/verify.json."""
    from llmgym.io import atomic_write_text
    from llmgym.policies.hf import HFPolicy
    from llmgym.types import SamplingParams

    tasks = list(env.tasks("eval", n=n_prompts, seed=seed))
    proxy_r = next(r for r, w in env.rubric.entries if w)
    gold_r = next(r for r, _ in env.rubric.entries if r.name == "gold")
    marker = rl / "best" / "llmgym_guard.json"
    best_step = json.loads(marker.read_text())["step"] if marker.is_file() else None
    steps = json.loads((rl / "summary.json").read_text()).get("steps") if (rl / "summary.json").is_file() else None
    per: dict[str, dict[str, list[float]]] = {}
    for name, path in (("start", start), ("best", rl / "best"), ("final", rl / "final")):
        if not (path / "config.json").is_file():
            continue
        policy = HFPolicy(str(path), batch_size=64)
        rows = policy.generate([t.messages(env.system_prompt) for t in tasks], n=n,
                               params=SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed + 7))
        gold, proxy = [], []
        for task, row in zip(tasks, rows):
            texts = [c.text for c in row]
            gold.append(sum(s.value for s in gold_r.score_batch(texts, [task] * len(texts))) / len(texts))
            proxy.append(sum(s.value for s in proxy_r.score_batch(texts, [task] * len(texts))) / len(texts))
        per[name] = {"gold": gold, "proxy": proxy}
    result: dict = {"prompts": len(tasks), "samples_per_prompt": n, "temperature": temperature,
                    "best_step": best_step, "final_step": steps, "policies": {}}
    for name, v in per.items():
        result["policies"][name] = {"gold": sum(v["gold"]) / len(tasks), "proxy": sum(v["proxy"]) / len(tasks)}
    for a, b in (("best", "start"), ("final", "best"), ("final", "start")):
        if a in per and b in per:
            for key in ("gold", "proxy"):
                diffs = [x - y for x, y in zip(per[a][key], per[b][key])]
                result[f"{key}_{a}_minus_{b}"] = {"mean": sum(diffs) / len(diffs), "ci95": _bootstrap(diffs, seed)}
    atomic_write_text(rl / "verify.json", json.dumps(result, indent=2) + "\n")
    print(f"verification: {n} samples on each of {len(tasks)} held-out prompts (temperature {temperature})")
    labels = {"start": "starting policy", "best": f"best/ (step {best_step})", "final": f"final/ (step {steps})"}
    for name, v in result["policies"].items():
        print(f"  {labels[name]:<22} gold {v['gold']:.3f}  proxy {v['proxy']:.3f}")
    for key in ("gold_best_minus_start", "gold_final_minus_best", "proxy_final_minus_best"):
        if key in result:
            lo, hi = result[key]["ci95"]
            print(f"  {key.replace('_', ' ')}: {result[key]['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    return result


def summarise(rl: Path, rm_metrics: dict) -> int:
    """Print (and write to RL/summary.txt) the probes, the gold peak, the guard's verdict."""
    lines = [f"reward model: held-out pairwise accuracy {rm_metrics['heldout_accuracy']:.1%} on "
             f"{rm_metrics['heldout_pairs']} pairs (simulated rankings); against gold "
             f"{rm_metrics.get('heldout_gold_accuracy', float('nan')):.1%} on "
             f"{rm_metrics.get('heldout_gold_pairs', 0)} pairs"]
    rows = [json.loads(line) for line in (rl / "metrics.jsonl").read_text().splitlines() if line.strip()]
    probes = [r for r in rows if "rlhf/proxy_reward" in r]
    lines.append(f"{'step':>5} {'proxy':>7} {'gold':>7} {'kl':>8} {'words':>6} {'distinct_2':>10} {'near_ident':>10}")
    for r in probes:
        lines.append(f"{r['step']:>5} {r['rlhf/proxy_reward']:>7.3f} {r.get('rlhf/gold_score', float('nan')):>7.3f} "
                     f"{r.get('rlhf/kl', float('nan')):>8.2f} {r.get('degeneracy/length', float('nan')):>6.1f} "
                     f"{r.get('degeneracy/distinct_2', float('nan')):>10.3f} "
                     f"{r.get('degeneracy/near_identical', float('nan')):>10.3f}")
    if probes:
        peak = max(probes, key=lambda r: r.get("rlhf/gold_score", float("-inf")))
        lines.append(f"gold: {probes[0].get('rlhf/gold_score', float('nan')):.3f} at step 0, peak "
                     f"{peak.get('rlhf/gold_score', float('nan')):.3f} at step {peak['step']}, "
                     f"{probes[-1].get('rlhf/gold_score', float('nan')):.3f} at step {probes[-1]['step']}; "
                     f"proxy {probes[0]['rlhf/proxy_reward']:.3f} -> {peak['rlhf/proxy_reward']:.3f} (peak) -> "
                     f"{probes[-1]['rlhf/proxy_reward']:.3f}")
    verdict_path = rl / "guard.json"
    if verdict_path.is_file():
        v = json.loads(verdict_path.read_text())
        if v["stopped"]:
            lines.append(f"guard ({v['mode']}): stopped at step {v['step']}; reason: {v['reason']}")
        elif v.get("would_stop_step") is not None:
            lines.append(f"guard ({v['mode']}): would have stopped at step {v['would_stop_step']}; "
                         f"reason: {v['would_stop_reason']}")
        else:
            lines.append(f"guard ({v['mode']}): no stop")
        lines.append(f"guard: best checkpoint step {v['best_step']} (gold {v['best_gold']}) -> {v['best_checkpoint']}")
    summary = rl / "summary.json"
    if summary.is_file():
        s = json.loads(summary.read_text())
        stage_text = ", ".join(f"{k} {v:.0f} s" for k, v in s.get("stage_wall_seconds", {}).items())
        wall = f"wall: RL stage {s['wall_seconds']:.0f} s for {s['steps']} steps"
        if "benchmark_wall_seconds" in s:  # absent when the RL stage was run as `llmgym train`
            wall += (f"; this invocation {s['benchmark_wall_seconds']:.0f} s ({stage_text}), "
                     f"{s.get('benchmark_cpu_seconds', 0):.0f} CPU s on {s.get('torch_threads')} torch thread(s)")
        lines.append(wall)
    samples = [json.loads(line) for line in (rl / "samples.jsonl").read_text().splitlines()] \
        if (rl / "samples.jsonl").is_file() else []
    for step in sorted({s["step"] for s in samples})[:: max(1, len({s["step"] for s in samples}) // 5)]:
        first = next(s for s in samples if s["step"] == step)
        c = first["components"]
        lines.append(f"sample at step {step} (proxy {c.get('reward_model', float('nan')):.2f}, gold "
                     f"{c.get('gold', float('nan')):.2f}): {first['completion']!r}")
    text = "\n".join(lines)
    print(text)
    (rl / "summary.txt").write_text(text + "\n")
    try:
        from llmgym.report.run_report import render_run

        print("report:", render_run(rl))
    except Exception as exc:  # the figures above stand without the report
        print(f"report not rendered: {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
