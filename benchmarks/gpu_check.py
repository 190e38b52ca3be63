"""The GPU check of docs/training.md, in one short run: rollout tokens/s of HF `generate` against
vLLM, and GRPO steps of `llmgym train` on the GPU (with TRL's HF generation, and with `--use-vllm`).

    python benchmarks/gpu_check.py --json $OUT/gpu_check.json      # on a GPU machine: ~3-5 minutes
    python benchmarks/gpu_check.py --device cpu --quick            # the same code, small, on a CPU

Models are built from a config, so the check needs no download and nothing larger than this repo
travels to the GPU machine (the embedded SmolLM2 package is 93 MB):
- generation: a Llama of SmolLM2-135M's shape (hidden 576, 30 layers, 9 heads, 3 KV heads, MLP 1,536,
  vocabulary 49,152, tied embeddings) with random weights, saved once to a folder that vLLM loads.
  Tokens/s depend on the shape, not on the weights. Prompts are 64 random token ids; every row
  generates exactly `--new-tokens` tokens (EOS suppressed: `min_new_tokens` for HF, `ignore_eos` for
  vLLM), T=0.7; the best of `--repeats` timed calls after one warm-up counts. HF runs in bf16 on a GPU
  (fp32 on a CPU) with its dynamic cache; vLLM runs `vllm.LLM`, the offline engine TRL's colocate
  mode builds inside the trainer.
- training: the `tiny` policy (character tokenizer) at SmolLM2-135M's width and depth, saved to a
  folder (`--policy hf:path=DIR`, so TRL's colocated vLLM can load it by path), `llmgym train --env
  math --steps N`; s/step and tokens/s (prompt and completion tokens, TRL's `num_tokens`) from the
  run's metrics.jsonl, peak GPU memory from torch. The first step (warm-up, vLLM's start) is left
  out of the means when there are more.

Where vLLM is not importable, its rows say so in one line each and the rest still runs.

A figure, not a test: nothing here passes or fails, except a run with no GPU and no `--device cpu`,
which is one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_rollout import generate_seconds  # this folder is on sys.path when a script here runs

from llmgym.train.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent
TRAIN_CHILD = "--train-child"
SMOLLM2_SHAPE = dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                     intermediate_size=1536, vocab_size=49152, tie_word_embeddings=True)
PAD_ID = 2  # the generation model's EOS, used as its pad
QUICK_SHAPE = dict(SMOLLM2_SHAPE, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                   intermediate_size=128)


def generation_model(folder: Path, device: str, shape: dict[str, Any]) -> Any:
    """A random-weight Llama of `shape` (SmolLM2-135M's unless --quick), saved to `folder`, on `device`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(**shape, max_position_embeddings=2048, bos_token_id=1, eos_token_id=PAD_ID,
                         pad_token_id=PAD_ID)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    return model.to(device=device, dtype=dtype).eval()


def prompt_ids(batch: int, length: int = 64) -> list[list[int]]:
    import torch

    g = torch.Generator().manual_seed(1)
    return torch.randint(3, SMOLLM2_SHAPE["vocab_size"], (batch, length), generator=g).tolist()


def hf_tokens_per_s(model: Any, batch: int, new_tokens: int, repeats: int) -> float:
    import torch

    ids = torch.tensor(prompt_ids(batch), device=model.device)
    enc = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    generate_seconds(model, PAD_ID, enc, 2)  # warm-up: kernels, allocator
    return batch * new_tokens / min(generate_seconds(model, PAD_ID, enc, new_tokens) for _ in range(repeats))


def vllm_missing(device: str) -> str | None:
    """Why vLLM cannot run here, or None."""
    if device != "cuda":
        return "vLLM runs on a GPU only"
    try:
        import vllm  # noqa: F401
    except ImportError as exc:
        return f"vllm not importable ({exc})"
    return None


def vllm_rows(folder: Path, batches: list[int], new_tokens: int, repeats: int, device: str) -> list[dict[str, Any]]:
    """vLLM's offline engine on the same model and prompts; one row saying why where it cannot run."""
    why = vllm_missing(device)
    if why:
        return [{"engine": "vllm", "skipped": why}]
    import vllm

    llm = vllm.LLM(model=str(folder), skip_tokenizer_init=True, dtype="bfloat16", gpu_memory_utilization=0.3,
                   max_model_len=1024, seed=0)
    params = vllm.SamplingParams(max_tokens=new_tokens, min_tokens=new_tokens, ignore_eos=True, temperature=0.7,
                                 top_p=1.0, detokenize=False)
    rows = []
    for batch in batches:
        prompts = [{"prompt_token_ids": ids} for ids in prompt_ids(batch)]
        llm.generate(prompts[:1], vllm.SamplingParams(max_tokens=2, detokenize=False), use_tqdm=False)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            outs = llm.generate(prompts, params, use_tqdm=False)
            best = min(best, time.perf_counter() - t0)
        made = sum(len(o.outputs[0].token_ids) for o in outs)
        rows.append({"engine": "vllm", "batch": batch, "tokens_per_s": made / best})
    del llm
    return rows


def train_row(policy_dir: Path, steps: int, use_vllm: bool, device: str, quick: bool) -> dict[str, Any]:
    """`llmgym train` in a child process (a fresh CUDA context, vLLM's memory freed after), read back."""
    name = "grpo+vllm" if use_vllm else "grpo"
    why = vllm_missing(device) if use_vllm else None
    if why:
        return {"engine": name, "skipped": why}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = ["--env", "math", "--policy", f"hf:path={policy_dir}",
               "--steps", str(steps), "--eval-tasks", "0", "--save-every", "0", "--out", str(out)]
        if quick:
            cmd += ["--prompts-per-step", "2", "--num-generations", "2", "--max-completion-length", "8"]
        if use_vllm:
            cmd += ["--use-vllm"]
        env = {**os.environ, **({"CUDA_VISIBLE_DEVICES": ""} if device == "cpu" else {})}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, TRAIN_CHILD, *cmd], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"engine": name, "skipped": f"llmgym train exited {proc.returncode}: {tail[0]}"}
        rows = RunDir(out).rows()
    steps_rows = [r for r in rows if "step_time" in r and "reward" in r]
    timed = steps_rows[1:] or steps_rows  # the first step pays warm-up (and vLLM's start)
    peak = next((int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("PEAK_GPU_BYTES")), 0)
    return {"engine": name, "steps": len(steps_rows), "wall_s": wall,
            "s_per_step": statistics.mean(r["step_time"] for r in timed),
            "tokens_per_s": statistics.mean(r["tokens_per_s"] for r in timed if "tokens_per_s" in r)
            if any("tokens_per_s" in r for r in timed) else None,
            "peak_gpu_mib": peak / 2**20}


def tiny_policy_dir(folder: Path, shape: dict[str, Any]) -> None:
    """The tiny policy at the width and depth of `shape` (SmolLM2-135M's: 576 x 30 layers, 9 heads), saved."""
    from llmgym.policies.tiny import build_model, build_tokenizer

    tok = build_tokenizer()
    build_model(tok, hidden=shape["hidden_size"], layers=shape["num_hidden_layers"],
                heads=shape["num_attention_heads"]).save_pretrained(folder)
    tok.save_pretrained(folder)


def train_child(argv: list[str]) -> int:
    """In the child: `llmgym train ARGV`, then the process's peak GPU memory as one line."""
    import torch

    from llmgym.cli import main as cli_main

    code = cli_main(["train", *argv])
    print("PEAK_GPU_BYTES", torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0)
    return code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                    help="cpu: run the same code on a CPU (a dry run of the script; figures mean little)")
    ap.add_argument("--batches", default="1,16,64", help="generation batch sizes, comma-separated")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4, help="GRPO steps per training run")
    ap.add_argument("--quick", action="store_true",
                    help="a small model (64 x 2 layers), batches 1,2 x 8 tokens, 2 steps of 2x2 completions")
    ap.add_argument("--json", type=Path, help="also write every row to this file")
    a = ap.parse_args()
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # save_pretrained's shard bars
    if a.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here; run it on a GPU machine, or with --device cpu for a dry run",
              file=sys.stderr)
        return 2
    if a.quick:
        a.batches, a.new_tokens, a.repeats, a.steps = "1,2", 8, 1, 2
    batches = [int(b) for b in a.batches.split(",")]
    where = torch.cuda.get_device_name(0) if a.device == "cuda" else "CPU"
    print(f"gpu_check on {where}: torch {torch.__version__}; generation {a.batches} x {a.new_tokens} new tokens; "
          f"{a.steps} GRPO steps per training run", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        gen_dir, policy_dir = Path(tmp) / "generation-model", Path(tmp) / "tiny-policy"
        shape = QUICK_SHAPE if a.quick else SMOLLM2_SHAPE
        model = generation_model(gen_dir, a.device, shape)
        for batch in batches:
            rows.append({"engine": "hf", "batch": batch,
                         "tokens_per_s": hf_tokens_per_s(model, batch, a.new_tokens, a.repeats)})
            print(f"  hf   batch {batch:3d}: {rows[-1]['tokens_per_s']:9.1f} tokens/s", flush=True)
        del model
        if a.device == "cuda":
            torch.cuda.empty_cache()
        rows += vllm_rows(gen_dir, batches, a.new_tokens, a.repeats, a.device)
        tiny_policy_dir(policy_dir, shape)
        rows += [train_row(policy_dir, a.steps, use_vllm, a.device, a.quick) for use_vllm in (False, True)]
    print_table(rows)
    if a.json:
        from llmgym.io import atomic_write_text

        atomic_write_text(a.json, json.dumps({"device": where, "torch": torch.__version__, "rows": rows}, indent=1))
    return 0


def print_table(rows: list[dict[str, Any]]) -> None:
    hf = {r["batch"]: r["tokens_per_s"] for r in rows if r["engine"] == "hf"}
    print("\nrollout tokens/s (random weights)")
    for r in rows:
        if r["engine"] not in ("hf", "vllm"):
            continue
        if "skipped" in r:
            print(f"  {r['engine']:5s} skipped: {r['skipped']}")
            continue
        ratio = r["tokens_per_s"] / hf[r["batch"]] if r["batch"] in hf else float("nan")
        print(f"  {r['engine']:5s} batch {r['batch']:3d}: {r['tokens_per_s']:9.1f} tokens/s  x{ratio:.2f} of hf")
    print("GRPO steps of llmgym train (tiny policy, character tokenizer)")
    base = next((r for r in rows if r["engine"] == "grpo" and "skipped" not in r), None)
    for r in rows:
        if not r["engine"].startswith("grpo"):
            continue
        if "skipped" in r:
            print(f"  {r['engine']:9s} skipped: {r['skipped']}")
            continue
        ratio = f"  x{r['s_per_step'] / base['s_per_step']:.2f} of grpo's step" if base else ""
        tps = f"{r['tokens_per_s']:.1f}" if r["tokens_per_s"] is not None else "-"
        print(f"  {r['engine']:9s} {r['steps']} steps: {r['s_per_step']:.2f} s/step, {tps} tokens/s, "
              f"peak GPU {r['peak_gpu_mib']:.0f} MiB{ratio}")


if __name__ == "__main__":
    sys.exit(train_child(sys.argv[2:]) if sys.argv[1:2] == [TRAIN_CHILD] else main())
