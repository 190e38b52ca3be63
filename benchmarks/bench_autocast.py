"""The loss pass on CPU in fp32 against bf16 autocast, with and without autocast's weight cache.

One training micro-batch as `llmgym train` runs it for a pretrained policy: one sequence (a math
prompt and its completion, `--length` tokens), activation recomputation on, token embeddings frozen,
log-probabilities of the last 48 positions, backward. Each configuration runs in its own child
process, so its peak resident set (`ru_maxrss`) is its own; the configurations take turns over
`--rounds` rounds and the fastest round of each counts (load on the machine only ever adds time).

    .venv/bin/python benchmarks/bench_autocast.py                 # SmolLM2-135M, 100 tokens, 3 rounds
    .venv/bin/python benchmarks/bench_autocast.py --length 150 --passes 6

Configurations: `fp32` (the default); `bf16 cached` (`torch.autocast` as accelerate opens it by default:
a bf16 copy of every weight is kept until the forward pass ends); `bf16` (`cache_enabled=False`, what
`llmgym train --bf16` uses on CPU: each matmul casts its weight afresh). It also prints what
`llmgym.cpu_dtype.fast_cpu_dtype` decides on this CPU. A figure, not a test: nothing passes or fails.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CONFIGS = {"fp32": None, "bf16 cached": True, "bf16": False}  # name -> autocast's cache_enabled (None: off)


def child(config: str, length: int, passes: int) -> dict:
    """Seconds per pass (the fastest of `passes` after one warm-up) and the process's peak RSS."""
    import torch

    from llmgym.train.run import load_policy

    model = load_policy("smollm2", 0).model
    model.get_input_embeddings().weight.requires_grad_(False)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    model.train()
    ids = torch.randint(0, model.config.vocab_size, (1, length), generator=torch.Generator().manual_seed(0))
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cache = CONFIGS[config]

    def one_pass() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cache is not None, cache_enabled=bool(cache)):
            logits = model(input_ids=ids).logits[:, -48:]
            loss = logits.float().log_softmax(-1).gather(-1, ids[:, -48:, None]).mean()
        loss.backward()

    return timed(one_pass, passes, loaded)


def timed(one_pass, passes: int, loaded: int) -> dict:
    """The fastest of `passes` runs of `one_pass` after one warm-up, and this process's peak RSS (in all
    and above `loaded`, an earlier `ru_maxrss`); benchmarks/bench_shared_prompt.py uses it too."""
    one_pass()
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        one_pass()
        best = min(best, time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": best, "peak_mib": peak / 1024, "over_loaded_mib": (peak - loaded) / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--length", type=int, default=100, help="tokens of the sequence (prompt + completion)")
    ap.add_argument("--passes", type=int, default=4, help="timed passes per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.length, a.passes)))
        return
    from llmgym.cpu_dtype import cpu_bf16_flags, fast_cpu_dtype

    print(f"CPU bf16 flags: {cpu_bf16_flags()}; llmgym.cpu_dtype.fast_cpu_dtype(): {fast_cpu_dtype()}")
    runs: dict[str, list[dict]] = {config: [] for config in CONFIGS}
    for _ in range(a.rounds):
        for config in CONFIGS:
            done = subprocess.run([sys.executable, __file__, "--child", config, "--length", str(a.length),
                                   "--passes", str(a.passes)], capture_output=True, text=True, check=True)
            runs[config].append(json.loads(done.stdout.strip().splitlines()[-1]))
    # Each figure's least over the rounds: time and memory only ever grow with what else runs.
    best = {config: {key: min(r[key] for r in rs) for key in rs[0]} for config, rs in runs.items()}
    base = best["fp32"]
    print(f"\none loss pass (forward with recomputation + backward), SmolLM2-135M, 1 x {a.length} tokens, "
          f"fastest of {a.rounds} x {a.passes}")
    print(f"{'config':<12} {'s/pass':>7} {'x fp32':>7} {'peak MiB':>9} {'over loaded':>12}")
    for config, r in best.items():
        print(f"{config:<12} {r['seconds']:>7.3f} {r['seconds'] / base['seconds']:>7.2f} {r['peak_mib']:>9.0f} "
              f"{r['over_loaded_mib']:>+12.0f}")


if __name__ == "__main__":
    main()
