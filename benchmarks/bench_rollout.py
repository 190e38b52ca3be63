"""Rollout speed on CPU: tokens/s of HF generate by batch, dtype and KV cache, and of llama.cpp.

HF `generate` configurations run side by side in one run; llama.cpp (llama-cpp-python, the same
model's Q4_1 GGUF) runs on one stream for comparison.

    .venv/bin/python benchmarks/bench_rollout.py                          # SmolLM2-135M, batches 1/16/64 x 48
    .venv/bin/python benchmarks/bench_rollout.py --batches 1,4 --new-tokens 16   # a short run
    .venv/bin/python benchmarks/bench_rollout.py --policy tiny --no-llama

Every configuration samples (T=0.7, top-p 1) exactly `--new-tokens` tokens per sequence (EOS is
suppressed, so all rows do the same work) from the math env's chat prompts, left-padded as
`HFPolicy` pads them. Configurations: fp32 and bf16 weights (`bfloat16`: the cast copy llmgym samples
from, `llmgym.cpu_dtype.cast_copy`; `bf16-plain`: `model.to(torch.bfloat16)`, whose output layer gets a
strided input, the matmul that `contiguous_output_layer` avoids; `--dtypes` picks among them), and
transformers' dynamic KV cache against its static one (`cache_implementation="static"`, allocated
once for prompt + new tokens). Each is warmed up with a 2-token call first; the fastest of
`--repeats` timed calls counts. Ratios are against fp32 with the dynamic cache at the same batch.
It also prints what `llmgym.policies.hf.fast_cpu_dtype` decides on this CPU (its microbenchmark
and /proc/cpuinfo flags), so the decision can be checked against the real generation ratio.
`--threads N` sets torch's (and llama.cpp's) thread count: on a machine other processes load,
fewer threads than cores can be faster, since a thread that waits for a descheduled sibling at
every barrier stalls the whole pass.

llama.cpp runs in a child process (builds of llama.cpp have crashed on some CPUs: a crash is
reported as a line, not the end of the benchmark), one stream, over `min(4, max batch)` prompts,
with the same sampling and EOS banned through a logit bias.

A figure, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

LLAMA_CHILD = "--llama-child"


def prompts(n: int) -> list[list[dict[str, str]]]:
    """`n` chat prompts of the default training env (system prompt + problem), as training sees them."""
    import llmgym

    env = llmgym.make("math")
    return [t.messages(env.system_prompt) for t in env.tasks("train", n=n, seed=0)]


def load(policy_spec: str) -> tuple[Any, Any]:
    import llmgym

    policy = llmgym.make_policy(policy_spec)
    return policy.model.eval(), policy.tokenizer


def encode(tokenizer: Any, chats: list[list[dict[str, str]]]) -> Any:
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side


def generate_seconds(model: Any, pad_token_id: int, enc: Any, new_tokens: int, cache: str = "dynamic") -> float:
    """Seconds of one sampling call of exactly `new_tokens` tokens per row (EOS suppressed), on the model's device."""
    import torch

    kwargs: dict[str, Any] = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True,
                                  temperature=0.7, top_p=1.0, top_k=0, pad_token_id=pad_token_id)
    if cache == "static":
        kwargs["cache_implementation"] = "static"
    torch.manual_seed(0)
    cuda = model.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**enc, **kwargs)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    assert out.shape[1] - enc["input_ids"].shape[1] == new_tokens, "EOS was not suppressed"
    return seconds


def static_cache_works(model: Any, tokenizer: Any, enc: Any) -> str | None:
    """None where `generate` runs with a static cache here, else the reason it does not."""
    try:
        generate_seconds(model, tokenizer.pad_token_id, {k: v[:1] for k, v in enc.items()}, 2, "static")
    except Exception as exc:  # noqa: BLE001 - any failure means "not supported here", reported as a line
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def hf_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    model32, tok = load(args.policy)
    models = {"float32": model32}
    if "bfloat16" in args.dtypes:
        from llmgym.cpu_dtype import cast_copy

        models["bfloat16"] = cast_copy(model32, torch.bfloat16)  # what --rollout-dtype bfloat16 samples from
    if "bf16-plain" in args.dtypes:
        import copy

        # The plain cast, whose output layer gets generation's strided last-position view (llmgym.cpu_dtype).
        models["bf16-plain"] = copy.deepcopy(model32).to(torch.bfloat16)
    models = {d: models[d] for d in args.dtypes}
    chats = prompts(max(args.batches))
    caches = list(args.caches)
    if "static" in caches:
        why = static_cache_works(model32, tok, encode(tok, chats[:1]))
        if why:
            print(f"static cache: not available here ({why}); measuring the dynamic cache only")
            caches = [c for c in caches if c != "static"]
    rows = []
    for batch in args.batches:
        enc = encode(tok, chats[:batch])
        prompt_len = enc["input_ids"].shape[1]
        for dtype, model in models.items():
            for cache in caches:
                generate_seconds(model, tok.pad_token_id, enc, 2, cache)  # warm-up: kernels, allocator, cache buffers
                best = min(generate_seconds(model, tok.pad_token_id, enc, args.new_tokens, cache) for _ in range(args.repeats))
                rows.append({"engine": "hf", "batch": batch, "dtype": dtype, "cache": cache,
                             "prompt_tokens": prompt_len, "seconds": best,
                             "tokens_per_s": batch * args.new_tokens / best})
                print(f"  measured hf batch {batch:3d} {dtype:8s} {cache:7s}: {rows[-1]['tokens_per_s']:7.1f} tok/s",
                      flush=True)
    return rows


def llama_child(args: argparse.Namespace) -> None:
    """In the child process: tokens/s of llama-cpp-python on one stream, as one JSON line."""
    import llama_cpp

    from llmgym.policies.smollm2 import gguf_path

    llm = llama_cpp.Llama(model_path=str(gguf_path()), n_ctx=1024, n_threads=args.threads or os.cpu_count() or 1,
                          n_batch=512, seed=0, verbose=False)
    eos = llm.token_eos()
    chats = prompts(args.streams)
    llm.create_chat_completion(messages=chats[0], max_tokens=2)  # warm-up
    tokens, seconds = 0, 0.0
    for chat in chats:
        t0 = time.perf_counter()
        out = llm.create_chat_completion(messages=chat, max_tokens=args.new_tokens, temperature=0.7, top_p=1.0,
                                         top_k=0, logit_bias={eos: -1e9})
        seconds += time.perf_counter() - t0
        tokens += out["usage"]["completion_tokens"]
    print(json.dumps({"engine": "llama.cpp", "batch": 1, "dtype": "Q4_1", "cache": "-",
                      "seconds": seconds, "tokens_per_s": tokens / seconds, "streams": len(chats)}))


def llama_row(args: argparse.Namespace) -> dict[str, Any] | str:
    """The llama.cpp figure, or a line saying why there is none."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install llama-cpp-python)"
    cmd = [sys.executable, __file__, LLAMA_CHILD, "--new-tokens", str(args.new_tokens),
           "--streams", str(min(4, max(args.batches))), "--threads", str(args.threads)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [""])[-1]
        return f"llama.cpp child exited with status {done.returncode} {tail}".strip()
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict[str, Any]]) -> None:
    base = {r["batch"]: r["tokens_per_s"] for r in rows
            if r["engine"] == "hf" and r["dtype"] == "float32" and r["cache"] == "dynamic"}
    print(f"\n{'engine':9s} {'batch':>5s} {'dtype':8s} {'cache':7s} {'tok/s':>8s} {'x fp32-dynamic':>15s}")
    for r in rows:
        ref = base.get(r["batch"])
        ratio = f"{r['tokens_per_s'] / ref:.2f}" if ref else "-"
        print(f"{r['engine']:9s} {r['batch']:5d} {r['dtype']:8s} {r['cache']:7s} {r['tokens_per_s']:8.1f} {ratio:>15s}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default="smollm2", help="policy spec: smollm2 (default) or tiny[:hidden=..]")
    ap.add_argument("--batches", default="1,16,64", help="generation batch sizes, comma-separated")
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--dtypes", default="float32,bfloat16,bf16-plain")
    ap.add_argument("--caches", default="dynamic,static")
    ap.add_argument("--repeats", type=int, default=1, help="timed calls per configuration (the fastest counts)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--no-llama", action="store_true", help="skip llama.cpp")
    ap.add_argument("--streams", type=int, default=4, help=argparse.SUPPRESS)
    ap.add_argument(LLAMA_CHILD, action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.llama_child:
        llama_child(args)
        return
    args.batches = [int(b) for b in args.batches.split(",")]
    args.dtypes = args.dtypes.split(",")
    unknown = sorted(set(args.dtypes) - {"float32", "bfloat16", "bf16-plain"})
    if unknown:
        ap.error(f"unknown --dtypes {', '.join(unknown)} (known: float32, bfloat16, bf16-plain)")
    args.caches = args.caches.split(",")

    import torch

    from llmgym.policies import hf

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"policy {args.policy}; {args.new_tokens} new tokens per sequence")
    seconds = hf.measure_dtypes()
    fp32, bf16 = seconds["float32"], seconds["bfloat16"]
    print(f"fast_cpu_dtype: cpuinfo bf16 flags {hf.cpu_bf16_flags()}, microbenchmark (one thread) fp32 "
          f"{fp32 * 1e3:.2f} ms, bf16 {bf16 * 1e3:.2f} ms (bf16 x{fp32 / bf16:.2f} as fast) -> {hf.fast_cpu_dtype()}")
    rows = hf_rows(args)
    if not args.no_llama and args.policy.split(":", 1)[0] == "smollm2":
        got = llama_row(args)
        if isinstance(got, str):
            print(f"llama.cpp: {got}")
        else:
            rows.append(got)
    print_table(rows)
    one = [r for r in rows if r["engine"] == "hf" and r["batch"] == 1]
    llama = [r for r in rows if r["engine"] == "llama.cpp"]
    if one and llama:
        best = max(one, key=lambda r: r["tokens_per_s"])
        print(f"\nllama.cpp one stream vs best HF batch-1 ({best['dtype']}, {best['cache']}): "
              f"x{llama[0]['tokens_per_s'] / best['tokens_per_s']:.2f}")
    for batch in args.batches:
        by = {(r["dtype"], r["cache"]): r["tokens_per_s"] for r in rows if r["engine"] == "hf" and r["batch"] == batch}
        if ("float32", "dynamic") in by and ("bfloat16", "dynamic") in by:
            print(f"batch {batch}: bf16/fp32 x{by['bfloat16', 'dynamic'] / by['float32', 'dynamic']:.2f}"
                  + (f", static/dynamic (fp32) x{by['float32', 'static'] / by['float32', 'dynamic']:.2f}"
                     if ("float32", "static") in by else ""))


if __name__ == "__main__":
    main()
