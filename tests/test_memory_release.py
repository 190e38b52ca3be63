"""llmgym.memory: freed heap pages go back to the system between steps, and the fixed mmap threshold
is set only when asked for (it slows steps; see the module docstring)."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import pytest

from llmgym.memory import return_freed_memory, trim

GLIBC = ctypes.util.find_library("c") is not None and "glibc" in " ".join(__import__("platform").libc_ver())


@pytest.mark.skipif(not GLIBC, reason="malloc_trim and mallopt are glibc's")
def test_trim_returns_freed_heap_pages_to_the_system():
    code = """
import ctypes, sys
from llmgym.memory import trim
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096
blocks = [bytearray(64 * 1024) for _ in range(3000)]  # ~190 MB of heap blocks below the mmap threshold
keep = blocks[-1]
del blocks
before = rss()
assert trim()
print(before - rss())
"""
    freed = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert freed > 50 * 2**20, freed


def test_the_mmap_threshold_is_left_alone_unless_asked(monkeypatch):
    monkeypatch.delenv("LLMGYM_MMAP_THRESHOLD", raising=False)
    assert return_freed_memory() is False
    assert return_freed_memory(0) is False
    monkeypatch.setenv("LLMGYM_MMAP_THRESHOLD", "0")
    assert return_freed_memory() is False
