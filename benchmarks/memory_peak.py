"""Where a training run's memory peak is: `llmgym train` in this process, sampled every 5 ms.

    .venv/bin/python benchmarks/memory_peak.py train --env math --steps 1 --eval-tasks 0 --save-every 0

A thread reads this process's RSS (anonymous and file-backed) every 5 ms, with glibc's heap counters
(`mallinfo2`: bytes in use, and bytes free but kept) and the main thread's Python stack. At exit it
prints the peak, what was running then (the stack, trimmed to llmgym, TRL, transformers and torch
frames), the heap at that moment, the largest mappings from `/proc/self/smaps`, and the stack four
times a second wherever RSS was within 10% of the peak, to see a climb rather than a point. It found the
first Adafactor step's heap growth that `llmgym.memory.eager_optimizer_state` removes (docs/training.md,
"The heap: gradients and optimizer state"). Child processes (the verifier worker) are not counted:
benchmarks/bench_train_memory.py measures the whole tree. The sampler itself holds a few MiB.
"""

from __future__ import annotations

import sys
import threading
import time

from llmgym.memory import heap_counters

INTERVAL = 0.005
KEEP = ("llmgym", "algorithms", "trl", "transformers", "torch", "accelerate", "safetensors")
# Frames of plumbing (module calls, decorators) that say nothing about what runs
PLUMBING = {"_call_impl", "_wrapped_call_impl", "wrapped_func", "inner", "_fn", "decorate_context", "wrapper",
            "forward_call"}


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM", "RssAnon", "RssFile")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) >> 10
    return out


def _mappings(top: int = 8) -> list[tuple[str, int]]:
    """The `top` largest resident mappings by name (anonymous ones summed as [anon])."""
    sizes: dict[str, int] = {}
    name = "[anon]"
    with open("/proc/self/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and ":" not in parts[0]:
                name = parts[5] if len(parts) > 5 else "[anon]"
                name = "/".join(name.split("/")[-2:]) if name.startswith("/") else name
            elif parts[0] == "Rss:":
                sizes[name] = sizes.get(name, 0) + int(parts[1])
    return sorted(((k, v >> 10) for k, v in sizes.items()), key=lambda kv: -kv[1])[:top]


def _stack(frame, depth: int = 8) -> str:
    names = []
    while frame is not None:
        path = frame.f_code.co_filename
        if any(f"/{k}/" in path for k in KEEP) and frame.f_code.co_name not in PLUMBING:
            names.append(f"{frame.f_code.co_name} ({'/'.join(path.split('/')[-2:])}:{frame.f_lineno})")
        frame = frame.f_back
    return " < ".join(names[:depth])


class Sampler:
    def __init__(self) -> None:
        self.main = threading.get_ident()
        self.started = time.perf_counter()
        self.peak: dict = {"rss": 0}
        self.series: list[tuple[float, int, str]] = []  # (seconds, RSS MiB, stack), four a second
        self.stop = threading.Event()

    def run(self) -> None:
        quarter = -1
        while not self.stop.is_set():
            status = _status()
            rss, now = status["VmRSS"], time.perf_counter() - self.started
            frame = sys._current_frames().get(self.main)
            if rss > self.peak["rss"]:
                mappings, mapped_at = self.peak.get("mappings"), self.peak.get("mapped_at", 0)
                if rss > mapped_at + 16:  # smaps is slow to read: again only 16 MiB higher
                    mappings, mapped_at = _mappings(), rss
                self.peak = {"rss": rss, "anon": status["RssAnon"], "file": status["RssFile"], "at": now,
                             "stack": _stack(frame, 14), "heap": heap_counters(), "mappings": mappings,
                             "mapped_at": mapped_at}
            if int(now * 4) != quarter:
                quarter = int(now * 4)
                self.series.append((now, rss, _stack(frame)))
            time.sleep(INTERVAL)

    def report(self) -> None:
        p = self.peak
        print(f"\npeak RSS {p['rss']} MiB sampled (the kernel's high-water mark: {_status()['VmHWM']} MiB; "
              f"anonymous {p.get('anon')}, file-backed {p.get('file')}) at {p.get('at', 0):.1f} s, in: "
              f"{p.get('stack') or '(no llmgym, TRL or torch frame)'}", file=sys.stderr)
        if p.get("heap"):
            h = p["heap"]
            print(f"glibc heap then: {h['heap']} MiB, {h['in_use']} in use, {h['free']} free but kept; "
                  f"{h['mapped']} MiB in mmap'd blocks", file=sys.stderr)
        if p.get("mappings"):
            print("largest mappings near the peak (MiB): " + ", ".join(f"{k} {v}" for k, v in p["mappings"]),
                  file=sys.stderr)
        print("within 10% of the peak (s, MiB, stack):", file=sys.stderr)
        for at, rss, stack in self.series:
            if rss >= 0.9 * p["rss"]:
                print(f"  {at:6.2f} {rss:6d}  {stack}", file=sys.stderr)


def main(argv: list[str]) -> int:
    from llmgym.cli import main as cli

    sampler = Sampler()
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    try:
        return cli(argv)
    finally:
        sampler.stop.set()
        thread.join()
        sampler.report()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["train", "--env", "math", "--steps", "1", "--eval-tasks", "0", "--save-every", "0"]))
