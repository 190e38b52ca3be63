"""The two demos, timed: the default `llmgym train --env math` (SmolLM2, GRPO) with held-out
accuracy before/after and wall time, and the tiny from-scratch pipeline (sft, then grpo from the
sft run) with accuracy after each stage and wall time. Prints figures; asserts nothing.

    python benchmarks/bench_demo.py             # both (the default demo took 705 s on 2 cores)
    python benchmarks/bench_demo.py --only tiny
"""

from __future__ import annotations

import argparse
import tempfile
import time

from llmgym.train.config import TrainConfig
from llmgym.train.run import train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["default", "tiny"])
    ap.add_argument("--tiny-sft-steps", type=int, default=None, help="default: llmgym train's (300)")
    ap.add_argument("--tiny-grpo-steps", type=int, default=None, help="default: llmgym train's (40)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lines = []
        if a.only in (None, "default"):
            t = time.perf_counter()
            s = train(TrainConfig(env="math", out=f"{tmp}/default"))
            lines.append(f"default demo (smollm2, grpo, {s['steps']} steps): held-out accuracy "
                         f"{s['before']['accuracy']:.1%} -> {s['after']['accuracy']:.1%} "
                         f"on {s['after']['n']} tasks, wall {time.perf_counter() - t:.0f} s")
        if a.only in (None, "tiny"):
            t = time.perf_counter()
            # Exactly `llmgym train --env math --policy tiny --algo sft`, then `--algo grpo` from it.
            sft = train(TrainConfig(env="math", policy="tiny", algo="sft", steps=a.tiny_sft_steps, out=f"{tmp}/sft"))
            grpo = train(TrainConfig(env="math", policy=f"{tmp}/sft", algo="grpo", steps=a.tiny_grpo_steps,
                                     out=f"{tmp}/grpo"))
            lines.append(f"tiny pipeline: accuracy after sft {sft['after']['accuracy']:.1%}, after grpo "
                         f"{grpo['after']['accuracy']:.1%} (eval n={grpo['after']['n']}), "
                         f"wall {time.perf_counter() - t:.0f} s")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
