"""Which dtype generation runs fastest in on this CPU: bf16 only where the CPU has native bf16
instructions and a short one-thread microbenchmark shows it faster than fp32 (CPUs differ: bf16 was
1.6x faster on one of the project's machines and 4x slower on another, which emulates it). The
answer is measured once per process. Core code (the trainer's `--base-dtype auto`) and the `hf`
policy (`dtype=auto`) both read it, so it lives in the core, not in a policy plugin."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

# What `fast_cpu_dtype` measured, once per process: the answer depends on the CPU, not on the model.
_FAST_CPU_DTYPE: str | None = None
# bf16 must beat fp32 by this much to be chosen: it rounds weights to 8 bits of mantissa, so a tie
# (or measurement noise on a busy machine) keeps the exact dtype.
BF16_MIN_SPEEDUP = 1.15
CPU_DTYPES = ("float32", "bfloat16")
# x86 names (AVX-512 BF16, AMX) and the Arm one (FEAT_BF16, "bf16" in the Features line).
_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str] | None:
    """The native bf16 instruction sets /proc/cpuinfo reports, or None where it cannot be read.

    >>> cpu_bf16_flags("flags : fpu avx2 avx512f avx512_bf16")
    ['avx512_bf16']
    >>> cpu_bf16_flags("flags : fpu avx2 fma")
    []
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:  # not Linux: the measurement alone decides
            return None
    words = set(cpuinfo.split())
    return [f for f in _BF16_FLAGS if f in words]


def _linear_stack(dtype: str) -> Any:
    """One pass of a decode-shaped stack of linear layers in `dtype`, as a function to time.

    The shapes are a SmolLM2-135M layer's MLP at a generation batch of 16 (16 x 576 -> 1536 -> 576),
    two layers deep so the weights (14 MB in fp32) spill out of L2 as a real model's do.
    """
    import torch

    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(0)
    layers = [(torch.randn(1536, 576, generator=gen).to(dt), torch.randn(576, 1536, generator=gen).to(dt))
              for _ in range(2)]
    x = torch.randn(16, 576, generator=gen).to(dt)

    def one_pass() -> None:
        h = x
        for up, down in layers:
            h = torch.nn.functional.linear(torch.nn.functional.linear(h, up).relu_(), down)

    return one_pass


def measure_dtypes(dtypes: Sequence[str] = CPU_DTYPES, *, rounds: int = 8) -> dict[str, float]:
    """Seconds of the fastest of `rounds` passes of `_linear_stack` for each dtype (~50 ms in all).

    What differs between CPUs is whether bf16 matmuls have native kernels (AVX-512 BF16, AMX) or
    are emulated (AVX2: several times slower than fp32). The dtypes take turns pass by pass, so a
    burst of load elsewhere hits both alike, and the fastest pass counts (load only ever adds). It
    runs on one thread: on a busy machine a multi-threaded pass mostly measures how long its
    threads wait for each other at barriers (on a loaded 2-core machine, 2 threads took 70-110 ms a
    pass in either dtype, one thread 2.9 ms in fp32 and 1.6 ms in bf16).
    """
    import torch

    passes = {d: _linear_stack(d) for d in dtypes}
    best = dict.fromkeys(passes, float("inf"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for one_pass in passes.values():  # the first pass warms kernels and caches
                one_pass()
            for _ in range(rounds):
                for dtype, one_pass in passes.items():
                    t0 = time.perf_counter()
                    one_pass()
                    best[dtype] = min(best[dtype], time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    return best


def choose_cpu_dtype(fp32_seconds: float, bf16_seconds: float) -> str:
    """`bfloat16` when it ran at least `BF16_MIN_SPEEDUP` times faster than fp32, else `float32`.

    >>> choose_cpu_dtype(1.0, 0.5), choose_cpu_dtype(1.0, 0.95), choose_cpu_dtype(1.0, 4.0)
    ('bfloat16', 'float32', 'float32')
    """
    return "bfloat16" if bf16_seconds * BF16_MIN_SPEEDUP <= fp32_seconds else "float32"


def fast_cpu_dtype() -> str:
    """The faster dtype for generating on this CPU, `bfloat16` or `float32`, measured at first use.

    Measured rather than assumed: bf16 generation of SmolLM2-135M was 1.6x faster than fp32 on a CPU
    with AVX-512 BF16 and ~4x slower on an AVX2-only one. A CPU whose /proc/cpuinfo lists no native
    bf16 instructions gets float32 without measuring (its bf16 matmuls are emulated); one that lists
    them still has to win the measurement (`measure_dtypes`), since a flag says nothing of how
    torch's kernels use it. The answer is cached for the process.
    """
    global _FAST_CPU_DTYPE
    if _FAST_CPU_DTYPE is None:
        if cpu_bf16_flags() == []:
            _FAST_CPU_DTYPE = "float32"
        else:
            seconds = measure_dtypes(CPU_DTYPES)
            _FAST_CPU_DTYPE = choose_cpu_dtype(seconds["float32"], seconds["bfloat16"])
    return _FAST_CPU_DTYPE
