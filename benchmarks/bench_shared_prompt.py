"""The loss pass of one GRPO group on CPU: TRL's (every completion with its own copy of the prompt)
against llmgym's shared-prompt pass (`llmgym.train.shared_prompt`, the prompt once per group).

One group as `llmgym train` trains SmolLM2-135M on math: a `--prompt`-token prompt and `--group`
completions of `--completion` tokens, activation recomputation on, token embeddings frozen, TRL's
fused LM head at temperature 0.7, forward and backward of the summed log-probabilities. Each
configuration runs in its own child process, so its peak resident set (`ru_maxrss`) is its own; they
take turns over `--rounds` rounds and the fastest round of each counts (load only ever adds time).

    .venv/bin/python benchmarks/bench_shared_prompt.py                   # 67-token prompt, 8 x 48
    .venv/bin/python benchmarks/bench_shared_prompt.py --prompt 200 --completion 96

Configurations: `trl, micro 1` (TRL's pass over micro-batches of one sequence: the default before
shared prompts), `trl, micro 8` (TRL's pass over the group as one micro-batch), `shared` (the packed
row, the default now). A figure, not a test: nothing passes or fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys

from bench_autocast import timed

CONFIGS = ("trl, micro 1", "trl, micro 8", "shared")


def child(config: str, prompt: int, completion: int, group: int, passes: int) -> dict:
    """Seconds per group pass (the fastest of `passes` after one warm-up) and the peak RSS."""
    import torch
    from trl.trainer.utils import add_fused_lm_head

    from llmgym.train.run import load_policy
    from llmgym.train.shared_prompt import MASKS, shared_logps

    model = load_policy("smollm2", 0).model
    model.get_input_embeddings().weight.requires_grad_(False)
    # transformers 5 renamed it; the old name warns
    getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)({"use_reentrant": False})
    model.config.use_cache = False
    model.train()
    add_fused_lm_head(model, temperature=0.7, outputs=("log_probs", "entropy"))
    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    ids = torch.cat([torch.randint(0, vocab, (1, prompt), generator=g).repeat(group, 1),
                     torch.randint(0, vocab, (group, completion), generator=g)], 1)
    mask = torch.ones_like(ids)
    kind = MASKS[model.config._attn_implementation]
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def trl_pass(rows: slice) -> None:
        labels = ids[rows].clone()
        labels[:, :-completion] = -100
        out = model(input_ids=ids[rows], attention_mask=mask[rows], labels=labels, fused_lm_head=True)
        out.log_probs[:, -completion:].sum().backward()

    def one_pass() -> None:
        if config == "shared":
            logps, _ = shared_logps(model, ids, mask, completion, compute_entropy=True, kind=kind,
                                    autocast=contextlib.nullcontext)
            logps.sum().backward()
        elif config == "trl, micro 8":
            trl_pass(slice(0, group))
        else:
            for row in range(group):
                trl_pass(slice(row, row + 1))

    return timed(one_pass, passes, loaded)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt", type=int, default=67, help="prompt tokens")
    ap.add_argument("--completion", type=int, default=48, help="tokens per completion")
    ap.add_argument("--group", type=int, default=8, help="completions per prompt")
    ap.add_argument("--passes", type=int, default=3, help="timed passes per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    sizes = dict(prompt=a.prompt, completion=a.completion, group=a.group, passes=a.passes)
    if a.child:
        print(json.dumps(child(a.child, **sizes)))
        return
    runs: dict[str, list[dict]] = {config: [] for config in CONFIGS}
    for _ in range(a.rounds):
        for config in CONFIGS:
            cmd = [sys.executable, __file__, "--child", config, *(f"--{k}={v}" for k, v in sizes.items())]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs[config].append(json.loads(done.stdout.strip().splitlines()[-1]))
    best = {config: {key: min(r[key] for r in rs) for key in rs[0]} for config, rs in runs.items()}
    base = best[CONFIGS[0]]
    print(f"one group's loss pass (forward with recomputation + backward), SmolLM2-135M, {a.prompt}-token prompt, "
          f"{a.group} x {a.completion}-token completions, fastest of {a.rounds} x {a.passes}")
    print(f"{'config':<14} {'s/group':>8} {'x micro 1':>10} {'peak MiB':>9} {'over loaded':>12}")
    for config, r in best.items():
        print(f"{config:<14} {r['seconds']:>8.3f} {r['seconds'] / base['seconds']:>10.2f} {r['peak_mib']:>9.0f} "
              f"{r['over_loaded_mib']:>+12.0f}")


if __name__ == "__main__":
    main()
