"""A pool of long-lived bubblewrap sandboxes, each running one fork server (see `forkserver.py`).

Why this shape: starting `bwrap` per execution manages 50-100 runs/s, forking inside a long-lived
sandbox 600-900/s (`benchmarks/bench_sandbox.py` measures the pool). Isolation per sandbox:

- started as an unprivileged host uid (`setpriv`, when we are root) with every capability dropped,
  in new user, pid, network, ipc, uts and cgroup namespaces, `--die-with-parent`, `--new-session`,
  an empty environment, `/usr` read-only and a small private `/tmp`; nothing of the host's home,
  project or `/etc` is visible;
- the first message of every sandbox reports its uid and capabilities; a sandbox running as root or
  with any capability is refused before it runs anything;
- where `/sys/fs/cgroup` v1 is writable (root), each sandbox also gets its own memory and pids
  cgroup as a backstop behind the per-run rlimits;
- a sandbox whose run left processes or files behind, or that stopped answering, is recycled.

`LLMGYM_UNSAFE_NO_SANDBOX=1` runs the same fork server without bubblewrap, as the current user:
an explicit, loud opt-in for machines where bubblewrap cannot run, never a silent fallback.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import os
import resource
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Sequence

from ..errors import LLMGymError
from .limits import Limits, Program, Result
from .processes import Cgroup, spawn

log = logging.getLogger(__name__)

UNSAFE_ENV = "LLMGYM_UNSAFE_NO_SANDBOX"
SANDBOX_UID = int(os.environ.get("LLMGYM_SANDBOX_UID", "65534"))
INSTALL_HINT = "install it with `apt-get install -y bubblewrap`"
# Output is capped at 1 MiB; JSON escaping of control characters can make that ~6 MiB.
MAX_RESPONSE_BYTES = 16 << 20
HOST_GRACE_S = 3.0  # the fork server enforces the deadline; the host only catches a stuck sandbox
TMP_SIZE_BYTES = 64 << 20
_ids = itertools.count()


def with_wire(program: Path) -> str:
    """The source of a sandboxed program with `wire.py`'s message helpers in front, to run as `-c`."""
    return Path(__file__).with_name("wire.py").read_text() + "\n\n" + program.read_text()


FORKSERVER_SOURCE = with_wire(Path(__file__).with_name("forkserver.py"))


def unsafe_mode() -> bool:
    """True when the user opted into running model code without a sandbox."""
    return os.environ.get(UNSAFE_ENV, "") not in ("", "0")


def find_python() -> str:
    """A world-readable system interpreter that works after dropping privileges."""
    for path in ("/usr/bin/python3.11", "/usr/bin/python3"):
        if os.access(path, os.X_OK) and os.stat(path).st_mode & 0o005 == 0o005:
            return path
    raise LLMGymError("the sandbox needs a system Python at /usr/bin/python3: install it with `apt-get install -y python3`")


def bwrap_argv(python: str) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise LLMGymError(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT} "
                          f"(or set {UNSAFE_ENV}=1 to run model code UNSANDBOXED)")
    argv = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise LLMGymError("running as root, the sandbox needs `setpriv` to drop privileges: "
                              "install it with `apt-get install -y util-linux`")
        argv += [setpriv, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups"]
    lib64 = ["--symlink", "usr/lib64", "/lib64"] if os.path.isdir("/usr/lib64") else []
    argv += [
        bwrap, "--unshare-all", "--unshare-user", "--uid", "1000", "--gid", "1000", "--disable-userns",
        "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--clearenv",
        "--hostname", "sandbox",
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", *lib64,
        "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev",
        "--size", str(TMP_SIZE_BYTES), "--tmpfs", "/tmp",
        "--remount-ro", "/",
        "--chdir", "/tmp", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
        python, "-I", "-S", "-c", FORKSERVER_SOURCE,
    ]
    return argv


class Worker:
    """One sandbox (bwrap + fork server) and its message channel."""

    def __init__(self, unsafe: bool = False):
        self.unsafe = unsafe
        self.name = f"{os.getpid()}-{next(_ids)}"
        python = find_python()
        self.workdir = tempfile.mkdtemp(prefix="llmgym-unsandboxed-") if unsafe else None
        argv = [python, "-I", "-S", "-c", FORKSERVER_SOURCE, self.workdir] if unsafe else bwrap_argv(python)
        self.cgroup = Cgroup(self.name) if not unsafe else None
        self.errlog = tempfile.TemporaryFile()
        cgroup = self.cgroup

        def preexec() -> None:
            # Backstop for the whole uid: every sandbox's processes together, whatever the cgroups allow.
            resource.setrlimit(resource.RLIMIT_NPROC, (4096, 4096))
            if cgroup is not None:
                cgroup.join()

        self.proc = spawn(lambda: subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errlog,
            start_new_session=True, close_fds=True, preexec_fn=preexec, env={"PATH": "/usr/bin:/bin"}))
        self.buf = bytearray()
        self.busy_until: float | None = None
        try:
            hello = self.recv(timeout=60)
        except ValueError:
            hello = None
        if hello is None or not hello.get("hello"):
            detail = self._errlog_text() or "no hello from the sandbox"
            self.kill()
            raise LLMGymError(f"bubblewrap is installed but unusable here ({detail}): {INSTALL_HINT}, check that "
                              f"unprivileged user namespaces are enabled, or set {UNSAFE_ENV}=1 to run UNSANDBOXED")
        self.hello = hello
        if not unsafe:
            self._verify_privileges(hello)

    def _verify_privileges(self, hello: dict) -> None:
        caps = hello.get("caps", {})
        dropped = all(int(caps.get(k, "1"), 16) == 0 for k in ("CapEff", "CapPrm", "CapBnd"))
        if hello.get("uid") == 0 or hello.get("euid") == 0 or not dropped:
            self.kill()
            raise LLMGymError(f"refusing a sandbox that did not drop privileges (uid {hello.get('uid')}, "
                              f"caps {caps}): {INSTALL_HINT} from Debian/Ubuntu")

    def _errlog_text(self) -> str:
        try:
            self.errlog.seek(0)
            return self.errlog.read(2000).decode("utf-8", "replace").strip().replace("\n", "; ")
        except (OSError, ValueError):
            return ""

    @property
    def fd(self) -> int:
        assert self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def send(self, program: Program) -> None:
        data = json.dumps({"code": program.code, "stdin": program.stdin,
                           "limits": program.limits.to_dict()}).encode("utf-8", "surrogatepass")
        assert self.proc.stdin is not None
        self.proc.stdin.write(struct.pack(">I", len(data)) + data)
        self.proc.stdin.flush()
        self.busy_until = time.monotonic() + program.limits.wall_seconds + HOST_GRACE_S

    def feed(self) -> bool:
        """Read what is available; False on EOF."""
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def message(self) -> dict | None:
        """A complete message from the buffer, if one has arrived."""
        if len(self.buf) < 4:
            return None
        (length,) = struct.unpack(">I", self.buf[:4])
        if length > MAX_RESPONSE_BYTES:
            raise ValueError(f"sandbox {self.name} sent a {length}-byte message")
        if len(self.buf) < 4 + length:
            return None
        data = bytes(self.buf[4 : 4 + length])
        del self.buf[: 4 + length]
        return json.loads(data)

    def recv(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.message()
            if msg is not None:
                return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0] or not self.feed():
                return None

    def kill(self) -> None:
        """Kill the sandbox and everything in it (the pid namespace dies with its init)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.error("sandbox %s did not exit after SIGKILL", self.name)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self.errlog.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self.cgroup is not None:
            self.cgroup.remove()


def _failure(status: str, message: str, started: float) -> Result:
    return Result(status, -signal.SIGKILL, "", message, time.monotonic() - started)


class SandboxPool:
    """Runs programs in `workers` sandboxes, started lazily and recycled when dirty.

    >>> with SandboxPool(workers=1) as pool:                      # doctest: +SKIP
    ...     pool.run("print(input()[::-1])", stdin="abc").stdout
    'cba\\n'
    """

    def __init__(self, workers: int | None = None, *, unsafe: bool | None = None):
        # Twice the cores: while one sandbox forks, another one's child runs.
        self.size = workers if workers is not None else max(2, min(16, 2 * (os.cpu_count() or 1)))
        if self.size < 1:
            raise LLMGymError(f"a sandbox pool needs at least one worker, got {workers}")
        self.unsafe = unsafe_mode() if unsafe is None else unsafe
        if self.unsafe:
            log.warning("!!! %s is set: model-written code runs WITHOUT A SANDBOX, as uid %d !!!",
                        UNSAFE_ENV, os.geteuid())
        elif shutil.which("bwrap") is None:
            raise LLMGymError(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT} "
                              f"(or set {UNSAFE_ENV}=1 to run model code UNSANDBOXED)")
        self.idle: list[Worker] = []
        self.lock = threading.Lock()
        self.closed = False
        self.recycled = 0
        atexit.register(_close_at_exit, weakref.ref(self))

    def _new_worker(self) -> Worker:
        return Worker(unsafe=self.unsafe)

    def run(self, code: str, stdin: str = "", limits: Limits | None = None) -> Result:
        """Run one program; see `run_batch`."""
        return self.run_batch([Program(code, stdin, limits or Limits())])[0]

    def run_batch(self, programs: Sequence[Program]) -> list[Result]:
        """Run every program, up to `workers` at a time; results in the order of `programs`."""
        with self.lock:
            if self.closed:
                raise LLMGymError("this sandbox pool is closed")
            busy: dict[int, tuple[Worker, int, float]] = {}
            try:
                return self._run_batch(list(programs), busy)
            except BaseException:
                for worker, _, _ in busy.values():  # interrupted mid-run: their answers are lost
                    worker.kill()
                raise

    def _run_batch(self, programs: list[Program], busy: dict[int, tuple[Worker, int, float]]) -> list[Result]:
        results: list[Result | None] = [None] * len(programs)
        pending = list(range(len(programs)))[::-1]
        while pending or busy:
            while pending and len(busy) < self.size:
                worker = self.idle.pop() if self.idle else self._new_worker()
                index = pending.pop()
                started = time.monotonic()
                try:
                    worker.send(programs[index])
                except (BrokenPipeError, OSError):
                    worker.kill()
                    pending.append(index)  # the sandbox died between runs: retry on a fresh one
                    continue
                busy[worker.fd] = (worker, index, started)
            timeout = max(0.0, min(w.busy_until or 0.0 for w, _, _ in busy.values()) - time.monotonic())
            ready = select.select(list(busy), [], [], timeout)[0]
            for fd in ready:
                worker, index, started = busy[fd]
                alive = worker.feed()
                try:
                    msg = worker.message()
                except ValueError:  # a sandbox breaking the protocol is treated as dead
                    msg, alive = None, False
                if msg is None and alive:
                    continue
                del busy[fd]
                if msg is None:
                    results[index] = _failure("killed", "sandbox: the sandbox died during the run", started)
                    worker.kill()
                    self.recycled += 1
                    continue
                results[index] = Result(msg["status"], int(msg["exit_code"]), msg["stdout"], msg["stderr"],
                                        float(msg["duration"]))
                if msg.get("leftovers") or not msg.get("clean", True) or msg["status"] == "killed":
                    worker.kill()  # it left something behind: never reuse it
                    self.recycled += 1
                else:
                    worker.busy_until = None
                    self.idle.append(worker)
            now = time.monotonic()
            for fd, (worker, index, started) in list(busy.items()):
                if worker.busy_until is not None and now >= worker.busy_until:
                    del busy[fd]
                    results[index] = _failure("timeout", "sandbox: no answer within the wall limit; sandbox killed",
                                              started)
                    worker.kill()
                    self.recycled += 1
        return [r for r in results if r is not None]

    def close(self) -> None:
        """Kill every sandbox of this pool."""
        with self.lock:
            self.closed = True
            while self.idle:
                self.idle.pop().kill()

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _close_at_exit(ref: "weakref.ref[SandboxPool]") -> None:
    pool = ref()
    if pool is not None and not pool.closed:
        pool.close()


_default: SandboxPool | None = None
_default_pid = 0
_default_lock = threading.Lock()


def default_pool() -> SandboxPool:
    """The process-wide pool, started on first use and closed at exit."""
    global _default, _default_pid
    with _default_lock:
        # A forked copy of this process must not share the parent's sandboxes (and their pipes).
        if _default is None or _default.closed or _default_pid != os.getpid():
            _default = SandboxPool()
            _default_pid = os.getpid()
        return _default


def run(code: str, stdin: str = "", limits: Limits | None = None) -> Result:
    """Run one Python program in the default sandbox pool.

    >>> run("print(6 * 7)").stdout                                  # doctest: +SKIP
    '42\\n'
    """
    return default_pool().run(code, stdin, limits)


def run_batch(programs: Sequence[Program]) -> list[Result]:
    """Run programs in parallel in the default sandbox pool; results in order."""
    return default_pool().run_batch(programs)
