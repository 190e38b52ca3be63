"""Freed tensor memory goes back to the operating system: glibc's fixed mmap threshold.

PyTorch's CPU allocator takes each tensor's memory from `malloc`. glibc serves large requests with
`mmap` (returned to the system on `free`) only above a threshold that it raises, by default, to the
size of the largest block freed so far (up to 32 MiB); after the first backward pass most activation
and gradient buffers fall under it, are carved from the heap, and stay resident after they are freed,
so a training process's peak RSS grows by the fragments. `mallopt(M_MMAP_THRESHOLD, 128 KiB)` fixes the
threshold (and turns the adjustment off), as the environment variable `MALLOC_MMAP_THRESHOLD_=131072`
would before start. Measured with benchmarks/bench_train_memory.py, 2 steps of the SmolLM2 default run:
peak 3,467 -> 3,280 MiB with AdamW, 2,502 -> 2,251 MiB with Adafactor (docs/training.md, "Memory").
No library does this; it is one libc call, skipped where libc is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024


def return_freed_memory() -> bool:
    """Fix glibc's mmap threshold for this process; False where there is no glibc `mallopt`."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
