"""Learning per minute: held-out accuracy against training wall time, `llmgym train` against a plain
TRL GRPOTrainer script, same model, env, reward, eval set and wall-clock budget, in one run.

    python benchmarks/bench_learning.py --quick                  # tiny policy, seconds: checks the script
    python benchmarks/bench_learning.py --budget-s 240           # SmolLM2-135M on math, 240 s per variant

Variants, each in its own process, one after the other, each stopped by the same clock:

- `plain TRL` (the baseline): `GRPOConfig`/`GRPOTrainer` as a TRL user writes them without llmgym:
  prompts are the env's train tasks, the reward is the env's rubric called as one TRL reward
  function. It sets what any user sets (learning rate, batch, group size, completion length,
  temperature, seed), to llmgym's defaults for full-weight training of the policy, and leaves every
  other field at TRL's default. It trains every weight, as a plain script does.
- `llmgym train` with its defaults (each group's prompt computed once in the loss pass,
  `--shared-prompt`; zero-variance groups left out of the backward pass, `--dynamic-sampling auto`),
  with `--curriculum adaptive`, `--dynamic-sampling fill` and both, with `--bf16` (the loss pass in
  bf16 mixed precision) and with `--no-shared-prompt` (TRL's loss pass), where `llmgym train` has
  those flags (otherwise the variant is reported as not available). Its own
  held-out evaluation and checkpoints are off (`--eval-tasks 0 --save-every 0`): the benchmark
  evaluates, outside the budget, and the clock stops the run (`--steps` is only a cap).

The clock counts time inside optimizer steps (sampling, scoring, update, llmgym's callbacks); model
loading and the snapshots are outside it. At `--checkpoints` evenly spaced times it pauses to save
the weights; once the budget is spent it stops the trainer. Afterwards one evaluation process
samples `--eval-samples` completions per held-out task (seeded, the same random stream for every
snapshot) from the starting model and every snapshot, through training's own held-out evaluation
(`llmgym.train.callbacks.evaluate`): pass@1 with its 95% interval. Peak memory is the resident set
of each run's process tree, sampled every 0.1 s. Step time, tokens/s (the tokens TRL counts: prompt
and completion tokens of the step's batch) and peak memory are printed next to the baseline's, with
ratios. The processes themselves are in `learning_runs.py`.

The floor the project sets: llmgym reaches the baseline's final accuracy in at most half the time
the baseline needed for it. The script reports whether it holds; it never fails on a figure.
Everything lands in `--out` (default `runs/bench-learning-TIME`): each variant's log, clock.json
and eval.json, and results.json with every printed figure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from learning_runs import write_json

RUNS = Path(__file__).resolve().with_name("learning_runs.py")
# (key, label, llmgym train flags); None marks the plain-TRL baseline.
VARIANTS: list[tuple[str, str, list[str] | None]] = [
    ("trl", "plain TRL (baseline)", None),
    ("llmgym", "llmgym train (defaults)", []),
    ("curriculum", "llmgym --curriculum adaptive", ["--curriculum", "adaptive"]),
    ("dynamic", "llmgym --dynamic-sampling fill", ["--dynamic-sampling", "fill"]),
    ("both", "llmgym --curriculum adaptive --dynamic-sampling fill",
     ["--curriculum", "adaptive", "--dynamic-sampling", "fill"]),
    ("bf16", "llmgym --bf16 (mixed precision)", ["--bf16"]),
    ("unshared", "llmgym --no-shared-prompt", ["--no-shared-prompt"]),
]
W = max(len(label) for _, label, _ in VARIANTS) + 1  # the label column of the tables
# What config.yaml says of each llmgym run, shown next to the baseline's GRPOConfig values.
SHOWN = ("learning_rate", "prompts_per_step", "num_generations", "max_completion_length", "temperature", "lora",
         "base_dtype", "rollout_dtype", "bf16", "optimizer", "train_embeddings", "micro_batch_size",
         "gradient_checkpointing", "shared_prompt", "curriculum", "dynamic_sampling")


# ---------------------------------------------------------------- the parent ------------------------------
def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:")), 0)
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue  # the process ended meanwhile
    return total


def run_child(kind: str, spec_file: Path, log: Path, timeout: float, flags: list[str] | None = None,
              threads: int | None = None) -> dict[str, Any]:
    """Run one process of `learning_runs.py` to its end (or `timeout`), sampling its tree's RSS and
    the machine's load average (other processes' work slows a run as much as any change)."""
    cmd = [sys.executable, str(RUNS), kind, str(spec_file), *(["--", *flags] if flags else [])]
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    peak, loads, done = 0, [], threading.Event()

    def sample() -> None:
        nonlocal peak
        ticks = 0
        while not done.wait(0.1):
            peak = max(peak, tree_rss(proc.pid))
            ticks += 1
            if ticks % 10 == 0:
                loads.append(os.getloadavg()[0])

    poller = threading.Thread(target=sample, daemon=True)
    poller.start()
    started = time.perf_counter()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the child's own session: only what this script started
        rc = proc.wait()
    except BaseException:  # this script stopped (Ctrl-C, `timeout`'s SIGTERM): its child goes with it
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        done.set()
    poller.join()
    return {"rc": rc, "peak_rss": peak, "wall_s": time.perf_counter() - started,
            "load_avg": sum(loads) / len(loads) if loads else os.getloadavg()[0]}


def available_flags() -> set[str]:
    from llmgym.cli import OneLineParser
    from llmgym.train.command import add_arguments

    parser = OneLineParser(prog="llmgym train")
    add_arguments(parser)
    return {s for action in parser._actions for s in action.option_strings}


def missing_flags(flags: list[str], known: set[str]) -> list[str]:
    """The options of `flags` that `llmgym train` does not have (its values are not options).

    >>> missing_flags(["--curriculum", "adaptive", "--lora"], {"--lora"})
    ['--curriculum']
    """
    return [f for f in flags if f.startswith("--") and f not in known]


def last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:160] if lines else "no output"


def median(xs: list[float]) -> float | None:
    import statistics

    return statistics.median(xs) if xs else None


def figures(key: str, out: Path, child: dict[str, Any]) -> dict[str, Any]:
    """What one variant's run and its evaluation wrote, as the tables show it."""
    clock = json.loads((out / key / "clock.json").read_text())
    points = json.loads((out / key / "eval.json").read_text())["points"]
    steps, tokens = clock["step_seconds"], clock["tokens"]
    config = {}
    if (out / key / "run" / "config.yaml").is_file():
        import yaml

        recorded = yaml.safe_load((out / key / "run" / "config.yaml").read_text())
        config = {k: recorded[k] for k in SHOWN if k in recorded}
    # The first step pays one-off warm-up; leave it out where there are others.
    return {"status": "ran", "steps": len(steps), "train_seconds": clock["train_seconds"],
            "step_s": median(steps[1:] if len(steps) > 2 else steps),
            "tokens_per_s": tokens["num_tokens"] / sum(steps[:tokens["step"]]) if tokens and tokens["step"] else None,
            "peak_rss_mib": child["peak_rss"] / 2**20, "process_wall_s": child["wall_s"],
            "load_avg": child["load_avg"], "points": points,
            "config": config}


def time_to_reach(start: dict[str, Any], points: list[dict[str, Any]], target: float) -> float | None:
    """Training seconds at the first evaluation (the start's included) at or above `target`."""
    return next((p["t"] for p in [start, *points] if p["accuracy"] >= target - 1e-12), None)


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def ratio(x: float | None, base: float | None) -> str:
    return "" if x is None or not base else f" (x{x / base:.2f})"


def point(p: dict[str, Any]) -> str:
    return f"{pct(p['accuracy'])} [{p['low']:.1%}, {p['high']:.1%}]"


def report(spec: dict[str, Any], results: dict[str, dict[str, Any]], settings: dict) -> dict:
    """Print the tables; everything they show, as a dict for results.json."""
    start = json.loads((Path(spec["out"]) / "eval-start.json").read_text())
    threads = f"{spec['threads']} torch thread(s)" if spec.get("threads") else "torch's default threads"
    print(f"bench_learning: env {spec['env']}, policy {spec['policy']}, {spec['budget_s']:g} s of training per variant "
          f"(time inside optimizer steps), weights saved every {spec['budget_s'] / spec['checkpoints']:g} s; every "
          f"variant starts from the same weights, seed {spec['seed']}, one after the other on this machine, {threads}")
    print(f"held-out: {start['tasks']} eval tasks x {spec['eval_samples']} sampled answers (T={spec['eval_temperature']:g}, "
          f"<= {spec['eval_max_tokens']} tokens, seeded: the same random stream for every snapshot); pass@1, 95% "
          f"interval: {start['interval']}")
    print("plain TRL: GRPOConfig(" + ", ".join(f"{k}={v}" for k, v in settings.items()) + "), every other field "
          "TRL's default; reward: the env's rubric as one reward function")
    for r in results.values():
        if r.get("config"):
            print(f"{r['label']}: " + ", ".join(f"{k}={v}" for k, v in r["config"].items()) + " (its config.yaml)")
    print(f"\n{'held-out accuracy against training time':<{W}} {'t (s)':>7} {'step':>6}  pass@1 [95% interval]")
    print(f"{'starting model (every variant)':<{W}} {0:>7.0f} {0:>6}  {point(start)}")
    for r in results.values():
        if r["status"] != "ran":
            print(f"{r['label']:<{W}} {r['status']}")
        for i, p in enumerate(r.get("points", [])):
            print(f"{(r['label'] if i == 0 else ''):<{W}} {p['t']:>7.0f} {p['step']:>6}  {point(p)}")
    base = results["trl"]
    target = base["points"][-1]["accuracy"] if base.get("points") else None
    base_time = time_to_reach(start, base["points"], target) if target is not None else None
    print(f"\n{'variant':<{W}} {'steps':>5} {'s/step':>14} {'tokens/s':>16} {'peak RSS MiB':>16} {'final':>6} {'load':>5}  "
          f"reaches the baseline's final accuracy")
    for r in results.values():
        if r["status"] != "ran":
            print(f"{r['label']:<{W}} {r['status']}")
            continue
        r["reach_s"] = time_to_reach(start, r["points"], target) if target is not None else None
        reach = ("-" if target is None else f"not within {r['train_seconds']:.0f} s" if r["reach_s"] is None
                 else f"at {r['reach_s']:.0f} s" + ratio(r["reach_s"], base_time))
        print(f"{r['label']:<{W}} {r['steps']:>5} {r['step_s'] or 0:>6.2f}{ratio(r['step_s'], base.get('step_s')):>8} "
              f"{r['tokens_per_s'] or 0:>8.1f}{ratio(r['tokens_per_s'], base.get('tokens_per_s')):>8} "
              f"{r['peak_rss_mib']:>8.0f}{ratio(r['peak_rss_mib'], base.get('peak_rss_mib')):>8} "
              f"{pct(r['points'][-1]['accuracy'] if r['points'] else None):>6} {r['load_avg']:>5.1f}  {reach}")
    floor: dict[str, Any] = {"target": target, "baseline_time_s": base_time, "verdicts": {}}
    print()
    if target is None:
        floor["measurable"] = False
        print("floor: not measurable: the baseline did not run")
    elif target <= start["accuracy"]:
        floor["measurable"] = False
        print(f"floor: not measurable: the baseline ended at {target:.1%}, not above the starting model's "
              f"{start['accuracy']:.1%}, so every variant 'reaches' it at 0 s")
    else:
        floor["measurable"] = True
        print(f"floor: llmgym reaches the baseline's final {target:.1%} (which the baseline first reached at "
              f"{base_time:.0f} s) within half that time, {base_time / 2:.0f} s:")
        for key, r in results.items():
            if key != "trl" and r["status"] == "ran":
                holds = r["reach_s"] is not None and r["reach_s"] <= base_time / 2
                floor["verdicts"][key] = holds
                when = f"at {r['reach_s']:.0f} s" if r["reach_s"] is not None else f"not within {r['train_seconds']:.0f} s"
                print(f"  {r['label']:<{W - 2}} {'holds' if holds else 'does not hold'} (reached {when})")
    return {"spec": spec, "settings": settings, "start": start, "variants": results, "floor": floor}


def collect(out: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """The spec, every variant's status and figures, and the baseline's settings, from the files the
    runs wrote; a variant whose run or evaluation did not finish says so."""
    spec = json.loads((out / "spec.json").read_text())
    results = json.loads((out / "variants.json").read_text())
    for key, r in results.items():
        if r.get("status") is None:
            r["status"] = "ran" if (out / key / "eval.json").is_file() else "did not finish"
        if r["status"] == "ran":
            r.update(figures(key, out, r["child"]))
    settings = json.loads((out / "trl" / "settings.json").read_text()) if (out / "trl" / "settings.json").is_file() else {}
    return spec, results, settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policy", default="smollm2", help="policy every variant trains (tiny: a quick check)")
    ap.add_argument("--env", default="math")
    ap.add_argument("--budget-s", type=float, default=240.0, help="training seconds per variant")
    ap.add_argument("--checkpoints", type=int, default=4, help="evenly spaced snapshots within the budget")
    ap.add_argument("--eval-tasks", type=int, default=64, help="held-out tasks (the eval split may hold fewer)")
    ap.add_argument("--eval-samples", type=int, default=4, help="sampled answers per held-out task")
    ap.add_argument("--eval-temperature", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default=",".join(k for k, _, _ in VARIANTS),
                    help="comma-separated, from " + ", ".join(k for k, _, _ in VARIANTS) + " (trl is always run)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of every run (OMP_NUM_THREADS; "
                                                               "default: torch's choice)")
    ap.add_argument("--out", default=None, help="where runs, snapshots and results.json go")
    ap.add_argument("--keep-snapshots", action="store_true", help="keep the saved weights after evaluation")
    ap.add_argument("--report-only", metavar="OUT", help="print the tables of a benchmark's folder again (of "
                                                         "what finished, if it was stopped)")
    ap.add_argument("--quick", action="store_true", help="tiny policy, 4 s budget, 4 tasks x 2 answers: checks "
                                                         "the script end to end")
    a = ap.parse_args()
    # SIGTERM (`timeout`, kill) unwinds like Ctrl-C, so the running child, in its own session, is ended too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench_learning: stopped; --report-only OUT prints what "
                                                      "finished"))
    if a.report_only:
        out = Path(a.report_only)
        if not (out / "variants.json").is_file():
            sys.exit(f"bench_learning: error: {out} holds no benchmark (no variants.json)")
        spec, results, settings = collect(out)
        write_json(out / "results.json", report(spec, results, settings))
        return
    if a.quick:
        a.policy, a.budget_s, a.checkpoints, a.eval_tasks, a.eval_samples = "tiny", 4.0, 2, 4, 2
    unknown = set(a.variants.split(",")) - {k for k, _, _ in VARIANTS}
    if unknown or a.budget_s <= 0 or a.checkpoints < 1 or a.eval_tasks < 1 or a.eval_samples < 1:
        sys.exit("bench_learning: error: " + (f"unknown variant {sorted(unknown)[0]!r}; choose from "
                 + ", ".join(k for k, _, _ in VARIANTS) if unknown else
                 "--budget-s must be > 0 and --checkpoints, --eval-tasks, --eval-samples >= 1"))
    from llmgym.train.config import TrainConfig

    length = TrainConfig(env=a.env, policy=a.policy).resolved(is_tiny=a.policy.startswith("tiny")).max_completion_length
    out = Path(a.out or f"runs/bench-learning-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    spec = {"env": a.env, "policy": a.policy, "seed": a.seed, "budget_s": a.budget_s, "checkpoints": a.checkpoints,
            "eval_tasks": a.eval_tasks, "eval_samples": a.eval_samples, "eval_temperature": a.eval_temperature,
            "eval_max_tokens": length, "threads": a.threads, "keep_snapshots": a.keep_snapshots, "out": str(out),
            "variants": []}
    write_json(out / "spec.json", spec)
    flags = available_flags()
    timeout = a.budget_s * 3 + 900  # loading, the first step's warm-up, saving final/
    results: dict[str, dict[str, Any]] = {}
    for key, label, extra in VARIANTS:
        if key != "trl" and key not in a.variants.split(","):
            continue
        results[key] = {"label": label, "flags": extra, "status": None}
        missing = missing_flags(extra or [], flags)
        if missing:
            results[key]["status"] = f"not available (llmgym train has no {', '.join(missing)})"
    write_json(out / "variants.json", results)
    for key, r in results.items():
        if r["status"] is not None:
            continue
        (out / key).mkdir(exist_ok=True)
        write_json(out / key / "spec.json", spec)
        print(f"[{time.strftime('%H:%M:%S')}] training {r['label']} -> {out / key}", flush=True)
        r["child"] = run_child("trl" if r["flags"] is None else "llmgym", out / key / "spec.json",
                               out / key / "log.txt", timeout, r["flags"], a.threads)
        if r["child"]["rc"] != 0 or not (out / key / "clock.json").is_file():
            r["status"] = f"failed (exit {r['child']['rc']}): {last_line(out / key / 'log.txt')}"
        else:
            # Evaluated now, outside the budget: a benchmark stopped later keeps this variant's figures.
            print(f"[{time.strftime('%H:%M:%S')}] evaluating its snapshots", flush=True)
            write_json(out / "eval-spec.json", {**spec, "variants": [key]})
            evaluation = run_child("eval", out / "eval-spec.json", out / key / "eval-log.txt", 24 * 3600,
                                   threads=a.threads)
            if evaluation["rc"] != 0:
                r["status"] = f"evaluation failed (exit {evaluation['rc']}): {last_line(out / key / 'eval-log.txt')}"
        write_json(out / "variants.json", results)
    print()
    spec, results, settings = collect(out)
    write_json(out / "results.json", report(spec, results, settings))
    print(f"\nresults: {out / 'results.json'}")


if __name__ == "__main__":
    main()
