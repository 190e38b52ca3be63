"""How the host starts and contains sandbox processes: a memory and pids cgroup per sandbox, and the
one long-lived thread that starts them (see `pool.py` for the sandbox itself)."""

from __future__ import annotations

import atexit
import os
import queue
import threading
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_MEMORY_BYTES = 3 << 30
CGROUP_PIDS = 512


class Cgroup:
    """A memory + pids cgroup (v1) for one sandbox; silently absent where cgroups are not writable."""

    def __init__(self, name: str):
        self.dirs: list[Path] = []
        _sweep_dead_owners()
        _stale_cgroups[:] = [p for p in _stale_cgroups if not self._remove(p)]
        for controller, settings in (("memory", {"memory.limit_in_bytes": CGROUP_MEMORY_BYTES}),
                                     ("pids", {"pids.max": CGROUP_PIDS})):
            base = CGROUP_ROOT / controller
            if os.geteuid() != 0 or not (base / "cgroup.procs").exists():
                continue
            path = base / "llmgym" / name
            try:
                path.mkdir(parents=True, exist_ok=True)
                for key, value in settings.items():
                    (path / key).write_text(str(value))
            except OSError:
                self._remove(path)
                continue
            self.dirs.append(path)

    def join(self) -> None:
        """Called in the child between fork and exec: move it into every cgroup of this sandbox."""
        for path in self.dirs:
            with open(path / "cgroup.procs", "w") as f:
                f.write(str(os.getpid()))

    @staticmethod
    def _remove(path: Path) -> bool:
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            return False

    def remove(self) -> None:
        """Remove the cgroups; ones whose last process is still exiting are retried later."""
        _stale_cgroups.extend(self.dirs)
        self.dirs = []
        _stale_cgroups[:] = [p for p in _stale_cgroups if not self._remove(p)]


_stale_cgroups: list[Path] = []
_swept = False


def _sweep_dead_owners() -> None:
    """Once per process: remove empty cgroups left by processes that have exited (named "<pid>-<n>")."""
    global _swept
    if _swept:
        return
    _swept = True
    for controller in ("memory", "pids"):
        base = CGROUP_ROOT / controller / "llmgym"
        try:
            entries = list(base.iterdir())
        except OSError:
            continue
        for path in entries:
            owner = path.name.split("-", 1)[0]
            if path.is_dir() and owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
                Cgroup._remove(path)  # fails harmlessly while a process is still inside
atexit.register(lambda: [Cgroup._remove(p) for p in _stale_cgroups])


class _Spawner:
    """Starts sandboxes from one long-lived thread.

    bwrap's `--die-with-parent` is PR_SET_PDEATHSIG, which fires when the *thread* that forked it
    exits: a sandbox started from a short-lived worker thread would die with that thread.
    """

    def __init__(self) -> None:
        self.jobs: queue.Queue = queue.Queue()
        threading.Thread(target=self._loop, name="llmgym-sandbox-spawner", daemon=True).start()

    def _loop(self) -> None:
        while True:
            fn, box, done = self.jobs.get()
            try:
                box.append(fn())
            except BaseException as exc:  # handed back to the caller
                box.append(exc)
            done.set()

    def call(self, fn):
        if threading.current_thread() is threading.main_thread():
            return fn()
        box: list = []
        done = threading.Event()
        self.jobs.put((fn, box, done))
        done.wait()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]


_spawner: _Spawner | None = None
_spawner_lock = threading.Lock()


def spawn(fn: Callable[[], T]) -> T:
    """`fn()` (which starts a process) run on the spawner thread, so the process outlives the calling thread."""
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = _Spawner()
    return _spawner.call(fn)
