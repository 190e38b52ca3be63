"""Tensor memory the CPU trainer keeps off glibc's heap or hands back to the system: `malloc_trim`
between steps, one gradient buffer a step, Adafactor's state made before the first step, and an opt-in
fixed mmap threshold.

PyTorch's CPU tensors come from `malloc`. glibc serves large requests with `mmap` (returned to the
system on `free`) only above a threshold that it raises, by default, to the largest block freed so far
(up to 32 MiB); after the first backward pass most activation and gradient buffers are carved from the
heap instead, and its free pages stay resident. `trim()` (`malloc_trim(0)`) hands them back; the trainer
calls it at the start of every step and after each rollout, which costs no measurable time.
`flat_gradients` and `eager_optimizer_state` keep long-lived blocks (gradients, optimizer state) from
being interleaved with short-lived temporaries, the pattern that leaves freed heap resident at a peak;
docs/training.md, "The heap: gradients and optimizer state", has what each saves.

`return_freed_memory(threshold)` fixes the threshold instead (`mallopt(M_MMAP_THRESHOLD, ...)`, the
same as `MALLOC_MMAP_THRESHOLD_` before start) for the whole process: lower peaks, slower steps, since
every larger tensor is then a fresh mapping whose pages fault in. Measured with
benchmarks/bench_train_memory.py, 3 steps of the SmolLM2 default run, `--eval-tasks 0` (docs/training.md,
"Memory"): glibc's default 1,967-1,982 MiB at 18.6 s a step; 128 KiB 1,807 MiB at 24.7-31.9 s; 1 MiB
1,879 MiB at 26.1 s; 4 MiB 2,055 MiB at 20.1 s (before the gradient buffer and the eager state). The speed
is worth more than 160 MiB here, so it is off unless `LLMGYM_MMAP_THRESHOLD` (bytes) asks for it. No
library does any of this: the libc calls are one line each (skipped where libc is not glibc), and the
gradient buffer and the optimizer state are a hook and a loop over PyTorch's and transformers' own
structures.
"""

from __future__ import annotations

import ctypes
import functools
import os
from typing import Any

M_MMAP_THRESHOLD = -3  # glibc's malloc.h


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library this process already runs on, looked up once (no `find_library`, which spawns
    `ldconfig`: `trim` runs at every step)."""
    try:
        return ctypes.CDLL(None)
    except (OSError, TypeError):
        return None


def return_freed_memory(threshold: int | None = None) -> bool:
    """Fix glibc's mmap threshold for this process at `threshold` bytes (default: `LLMGYM_MMAP_THRESHOLD`,
    unset or 0 for glibc's adaptive one); False where nothing was set."""
    if threshold is None:
        threshold = int(os.environ.get("LLMGYM_MMAP_THRESHOLD") or 0)
    libc = _libc()
    if threshold <= 0 or libc is None or not hasattr(libc, "mallopt"):
        return False
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


def heap_counters() -> dict[str, int] | None:
    """glibc's heap in MiB (`mallinfo2`): `heap` (brk and arenas), `in_use`, `free` (freed, still held),
    `mapped` (blocks mmap'd on their own); None without glibc 2.33+. What benchmarks/memory_peak.py
    reads at a peak."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _MallInfo2
    m = libc.mallinfo2()
    return {"heap": m.arena >> 20, "in_use": m.uordblks >> 20, "free": m.fordblks >> 20, "mapped": m.hblkhd >> 20}


def trim() -> bool:
    """Give the heap's free pages back to the system (`malloc_trim(0)`); False without glibc."""
    libc = _libc()
    return bool(libc is not None and hasattr(libc, "malloc_trim") and libc.malloc_trim(0))


class FlatGradients:
    """The hooks `flat_gradients` installs: `release_untouched()` before the optimizer step, `remove()`."""

    def __init__(self, model: Any) -> None:
        self.params: list[Any] = []
        self.touched: set[int] = set()  # ids of the parameters a backward pass reached this step
        self._hooked: set[int] = set()
        self._hooks = [model.register_forward_pre_hook(self._allocate)]

    def _touch(self, param: Any) -> None:
        self.touched.add(id(param))

    def _allocate(self, module: Any, args: Any) -> None:
        import torch

        if not torch.is_grad_enabled():
            return  # generation, and TRL's log-probabilities under no_grad
        params = [p for p in module.parameters() if p.requires_grad]
        if not params or any(p.grad is not None for p in params):
            return  # a later micro-batch of the step: its gradients accumulate into the same views
        groups: dict[tuple[Any, Any], list[Any]] = {}
        for p in params:
            groups.setdefault((p.dtype, p.device), []).append(p)
        for p in params:  # here, not at install: a parameter unfrozen later is watched too
            if id(p) not in self._hooked:
                self._hooked.add(id(p))
                self._hooks.append(p.register_post_accumulate_grad_hook(self._touch))
        for (dtype, device), group in groups.items():
            buffer = torch.zeros(sum(p.numel() for p in group), dtype=dtype, device=device)
            offset = 0
            for p in group:
                p.grad = buffer[offset:offset + p.numel()].view_as(p)
                offset += p.numel()
        self.params, self.touched = params, set()

    def release_untouched(self) -> int:
        """Drop the zero gradient of each parameter no backward pass reached this step, as PyTorch would
        have left it (None: optimizers skip such a parameter, where a zero gradient would still move
        AdamW's momentum and decay its weight); returns how many."""
        untouched = [p for p in self.params if id(p) not in self.touched and p.grad is not None]
        for p in untouched:
            p.grad = None
        return len(untouched)

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks, self._hooked = [], set()


def flat_gradients(model: Any) -> FlatGradients:
    """Give `model`'s trainable parameters their gradients as views of one zeroed buffer per dtype, at
    the first forward pass with gradients of each optimizer step (when none of them holds a gradient
    yet); call `release_untouched()` on what it returns before the optimizer step, and `remove()` to
    undo it.

    Without it each parameter's gradient is the tensor its first backward pass computed, carved from
    glibc's heap between that pass's short-lived temporaries; when those are freed the gaps stay
    resident beside 400 MiB of gradients that live until the optimizer step. One buffer that large is
    a mapping of its own (above glibc's mmap threshold), away from the heap, and returns to the system
    at once when the trainer drops the gradients after the step (`zero_grad(set_to_none=True)`).
    Autograd accumulates into an existing gradient in place, so the update is the same bit for bit
    (tests/test_memory_defaults.py); a parameter no backward pass reached gets None again from
    `release_untouched`, as without the buffer. Measured with benchmarks/bench_train_memory.py
    (docs/training.md, "The heap: gradients and optimizer state"). For one CPU process: on a GPU
    PyTorch's caching allocator already keeps blocks apart, and a distributed run's gradients go
    through DDP's buckets."""
    return FlatGradients(model)


def eager_optimizer_state(optimizer: Any) -> int:
    """Create transformers' `Adafactor` state for every trainable parameter now, before the first step;
    returns how many parameters it set up (0 for any other optimizer, or where the state exists: a
    resumed run's).

    Adafactor creates each parameter's state inside its first step: two small factored second-moment
    vectors and a 0-d RMS, allocated between that parameter's update temporaries (each as large as the
    parameter). Those small, long-lived blocks land inside the temporaries' freed space and split it,
    so the next parameter's temporaries take fresh heap: measured on the default SmolLM2 run, the first
    step's heap grew by up to ~700 MiB of free but resident memory in about one run in five (peaks of
    2,277-2,354 MiB instead of ~1,750; docs/training.md, "The heap: gradients and optimizer state").
    Created here, in one go before any temporary exists, they are exactly the zeros the first step
    would make (`Adafactor.step`'s own initialisation then finds them present), so the updates do not
    change."""
    import torch

    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate's wrapper
    try:
        from transformers.optimization import Adafactor
    except ImportError:  # pragma: no cover - transformers always has it
        return 0
    if not isinstance(inner, Adafactor):
        return 0
    made = 0
    for group in inner.param_groups:
        for p in group["params"]:
            if not p.requires_grad or inner.state.get(p):
                continue  # (`state` is a defaultdict: a lookup alone would add an empty entry)
            state = inner.state[p]
            # the dtype Adafactor's step computes in: a half-precision gradient is cast to fp32 first
            dtype = torch.float32 if p.dtype in (torch.float16, torch.bfloat16) else p.dtype
            shape = p.shape
            state["step"] = 0
            if group["beta1"] is not None:
                state["exp_avg"] = torch.zeros(shape, dtype=dtype, device=p.device)
            if len(shape) >= 2:
                state["exp_avg_sq_row"] = torch.zeros(shape[:-1], dtype=dtype, device=p.device)
                state["exp_avg_sq_col"] = torch.zeros(shape[:-2] + shape[-1:], dtype=dtype, device=p.device)
            else:
                state["exp_avg_sq"] = torch.zeros(shape, dtype=dtype, device=p.device)
            state["RMS"] = 0
            made += 1
    return made
