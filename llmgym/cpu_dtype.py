"""Which dtype generation runs fastest in on this CPU: bf16 only where the CPU has native bf16
instructions and a short one-thread microbenchmark shows it faster than fp32 (CPUs differ: bf16 was
1.6x faster on one of the project's machines and 4x slower on another, which emulates it). The
answer is measured once per process. Core code (the trainer's `--base-dtype auto`) and the `hf`
policy (`dtype=auto`) both read it, so it lives in the core, not in a policy plugin.

Rollouts sampled in a faster dtype than the weights train in (`--rollout-dtype`, `sample_in`).

Sampling is the largest share of a CPU step, and on a CPU with native bf16 (AVX-512 BF16, AMX) a bf16
model generates ~1.5x faster than the same one in fp32 (docs/training.md, "Rollouts in bf16"),
while the update needs fp32 weights: a learning rate of 2e-6 moves a weight by less than bf16 can
represent. `sample_in(model, "bfloat16")` keeps both: `model.generate` samples from a bf16 copy of the
weights as they are at that call, and everything else (TRL's log-probabilities, the loss, the
optimizer) reads the fp32 model. The copy is cast afresh at every `generate` call (~0.1 s for
SmolLM2-135M) and freed when the call returns, so the copy never lives through a backward pass and
adds nothing to a step's peak memory.

Sampling from bf16 weights and training the fp32 policy's log-probabilities is the same small
mismatch every engine-backed trainer has (vLLM samples in bf16 too); with TRL's default single
iteration per batch its importance ratio is 1 by construction, so the mismatch is not corrected,
just as for TRL with vLLM unless `vllm_importance_sampling_correction` is on.

The hook is an attribute on the model instance: TRL calls `unwrapped_model.generate(...)` and
`llmgym`'s held-out evaluation calls `model.generate` through the `hf` policy, and no TRL option
swaps the sampling model, so the instance is the one place both go through. No library does this.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from llmgym.memory import trim

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


# ---------------------------------------------------------------- sampling in it -------------------------
ROLLOUT_DTYPES = ("auto", "float32", "bfloat16")


def cast_copy(model: Any, dtype: Any) -> Any:
    """A copy of `model` for sampling, its floating-point parameters in `dtype` and frozen.

    Each parameter is cast straight into the copy (deepcopy's memo hands it the cast tensor), so no
    second full-precision copy ever exists; tied weights stay tied, and buffers (rotary
    frequencies, which models keep in fp32 on purpose) are shared, not copied. Methods patched onto
    the instances (`sample_in`'s `generate`, a trainer's `forward`) are not carried over.

    """
    import copy

    import torch

    memo: dict[int, Any] = {}
    for param in model.parameters():
        if id(param) not in memo:
            data = param.detach()
            memo[id(param)] = torch.nn.Parameter(data.to(dtype) if data.is_floating_point() else data,
                                                 requires_grad=False)
    for buffer in model.buffers():
        memo[id(buffer)] = buffer
    out = copy.deepcopy(model, memo)
    out.__dict__.pop("generate", None)
    for module in out.modules():
        # A `forward` set on an instance is a patch that closes over the original module: TRL's
        # fused log-prob forward calls the fp32 model's own bound forward, so a copy that kept it
        # would sample from the fp32 weights after all. The class's forward is what sampling needs.
        module.__dict__.pop("forward", None)
        module.__dict__.pop("_original_forward", None)
    if out.device.type == "cpu" and dtype == torch.bfloat16:
        contiguous_output_layer(out)
    return out


def contiguous_output_layer(model: Any) -> None:
    """Hand `model`'s output layer contiguous inputs. Generation computes logits for the last
    position only, a strided `(batch, 1, hidden)` view of the hidden states; PyTorch's CPU matmul of
    such a bf16 view against SmolLM2's 49152 x 576 output layer broadcasts the weight for every
    row (measured: +900 MB for a batch of 16, and bf16 sampling 5.6 s against 4.1 s with contiguous
    inputs, 16 x 48 tokens; fp32 takes another path and is unaffected). One copy of 16 x 576 values
    per decoding step avoids it."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None:
        head.register_forward_pre_hook(_contiguous_first)


def _contiguous_first(module: Any, args: tuple) -> tuple:
    return (args[0].contiguous(), *args[1:]) if args else args


def sample_in(model: Any, dtype: str) -> bool:
    """Make `model.generate` sample from a copy of the model cast to `dtype` at each call; returns
    whether it did (False where the model already is in `dtype`). The model's own weights, and
    every other method, are left as they are."""
    import torch

    target = getattr(torch, dtype)
    if model.dtype == target:
        return False
    own_generate = type(model).generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        copy = cast_copy(model, target)
        try:
            return own_generate(copy, *args, **kwargs)
        finally:
            del copy
            trim()  # the copy's pages leave before the loss pass allocates its gradients (llmgym.memory)

    generate.llmgym_rollout_dtype = dtype  # what `rollout_dtype_of` reads
    model.generate = generate
    return True


def rollout_dtype_of(model: Any) -> str:
    """The dtype `model.generate` samples in: a `sample_in` copy's, else the model's own."""
    hooked = getattr(model.__dict__.get("generate"), "llmgym_rollout_dtype", None)
    return hooked or str(model.dtype).removeprefix("torch.")


def resolve_rollout_dtype(option: str, model: Any, *, is_tiny: bool, lora: bool) -> str:
    """The dtype a run samples in for `--rollout-dtype OPTION`: `auto` is bf16 for a pretrained
    full-weight fp32 model on a CPU where `fast_cpu_dtype` measures bf16 faster, else the model's own
    (a tiny model's steps are overhead, not matmuls; a LoRA run's frozen base already is in
    `--base-dtype`; on a GPU, vLLM is the fast sampler, `--use-vllm`)."""
    from llmgym.errors import LLMGymError

    own = str(model.dtype).removeprefix("torch.")
    if option not in ROLLOUT_DTYPES:
        raise LLMGymError(f"rollout_dtype must be one of {', '.join(ROLLOUT_DTYPES)}, got {option!r}")
    if option != "auto":
        if lora and option != own:
            raise LLMGymError("--rollout-dtype casts full-weight runs; a LoRA run samples in its --base-dtype")
        return option
    if is_tiny or lora or own != "float32" or model.device.type != "cpu":
        return own
    from llmgym.cpu_dtype import fast_cpu_dtype

    return fast_cpu_dtype()
