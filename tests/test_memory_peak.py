"""benchmarks/memory_peak.py, the in-process sampler that places a training run's memory peak: on a tiny
run it finds the peak the kernel records, and says what was running then."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_sampled_peak_is_the_kernels_high_water_mark_and_comes_with_its_stack(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "memory_peak.py"), "train", "--env", "math",
                           "--policy", "tiny", "--steps", "2", "--eval-tasks", "0", "--save-every", "0",
                           "--out", str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = re.search(r"peak RSS (\d+) MiB sampled \(the kernel's high-water mark: (\d+) MiB; anonymous (\d+), "
                      r"file-backed (\d+)\) at ([\d.]+) s, in: (.*)", done.stderr)
    assert found, done.stderr[-3000:]
    sampled, hwm, anon, file = (int(found.group(i)) for i in range(1, 5))
    # Every 5 ms catches all but the briefest top. The kernel's mark is no exact ceiling either: it is
    # updated on unmapping, not when `malloc_trim` hands pages back, and RSS counters are cached per thread.
    assert 0.8 * hwm <= sampled <= 1.2 * hwm
    assert anon + file <= sampled  # (shared memory is the rest)
    assert "glibc heap then:" in done.stderr and "largest mappings near the peak" in done.stderr
    near = re.findall(r"^\s+([\d.]+)\s+(\d+)  ", done.stderr.split("within 10% of the peak")[1], re.M)
    assert near and all(int(rss) >= 0.9 * sampled for _, rss in near)
    assert (tmp_path / "run" / "final").is_dir()  # the run itself went through
