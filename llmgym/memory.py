"""Freed tensor memory back to the operating system: `malloc_trim` between steps, and an opt-in fixed
mmap threshold.

PyTorch's CPU tensors come from `malloc`. glibc serves large requests with `mmap` (returned to the
system on `free`) only above a threshold that it raises, by default, to the largest block freed so far
(up to 32 MiB); after the first backward pass most activation and gradient buffers are carved from the
heap instead, and its free pages stay resident. `trim()` (`malloc_trim(0)`) hands them back; the trainer
calls it at the start of every step, which costs no measurable time.

`return_freed_memory(threshold)` fixes the threshold instead (`mallopt(M_MMAP_THRESHOLD, ...)`, the
same as `MALLOC_MMAP_THRESHOLD_` before start) for the whole process: lower peaks, slower steps, since
every larger tensor is then a fresh mapping whose pages fault in. Measured with
benchmarks/bench_train_memory.py, 3 steps of the SmolLM2 default run, `--eval-tasks 0` (docs/training.md,
"Memory"): glibc's default 1,967-1,982 MiB at 18.6 s a step; 128 KiB 1,807 MiB at 24.7-31.9 s; 1 MiB
1,879 MiB at 26.1 s; 4 MiB 2,055 MiB at 20.1 s. The speed is worth more than 160 MiB here, so it is
off unless `LLMGYM_MMAP_THRESHOLD` (bytes) asks for it. No library does either; each is one libc call,
skipped where libc is not glibc.
"""

from __future__ import annotations

import ctypes
import functools
import os

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


def trim() -> bool:
    """Give the heap's free pages back to the system (`malloc_trim(0)`); False without glibc."""
    libc = _libc()
    return bool(libc is not None and hasattr(libc, "malloc_trim") and libc.malloc_trim(0))
