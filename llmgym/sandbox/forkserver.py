"""The fork server that runs INSIDE each bubblewrap sandbox (`/usr/bin/python3 -I -S -c <this file>`).

It imports only the standard library and never imports llmgym: it runs under the system interpreter
as an unprivileged uid with an empty environment, where the project's virtualenv is not visible.

Protocol on fds 0 (requests) and 1 (responses), both moved to high fds at start-up so that children
never inherit them: each message is a 4-byte big-endian length and a UTF-8 JSON object. The first
message is a hello that reports who we run as (the host refuses to use a sandbox running as root or
with any capability). Then for each request `{"code", "stdin", "limits"}` one child is forked:

- the child calls `setsid`, sets rlimits (CPU, address space, file size, open files, processes,
  no core), gets fresh pipes for stdout/stderr, a memfd as stdin and a fresh working directory, and
  executes the code in a clean `__main__` namespace;
- the server reads both pipes until the child exits, under a wall deadline that covers the reading
  (a grandchild can hold a pipe open) and a cap on output bytes;
- afterwards it kills everything in the sandbox but itself (`kill(-1, SIGKILL)`: setsid escapers
  are still our descendants, and we are a child subreaper, so they are reaped here) and reports how
  many processes it had to reap beyond the child (`leftovers`), so the host can recycle the sandbox.

The server is made non-dumpable: code running as the same uid can then neither ptrace it nor open
its `/proc/<pid>/mem` or `/proc/<pid>/fd`, so it cannot forge responses or steal the host channel.

The message helpers (`read_exact`, `send_message`, `recv_message`) come from `wire.py`, whose source
the host puts in front of this one.
"""

import _signal
import ctypes
import json
import os
import resource
import select
import shutil
import signal
import sys
import time
import gc
import traceback

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
REQ_FD, RESP_FD = 100, 101
READ_CHUNK = 65536
MAX_FD = 1 << 20  # above any RLIMIT_NOFILE we could have been given
# Signals the server ignores; children get them back at their defaults. As plain ints: the `signal`
# module's enum wrappers cost ~0.15 ms on their first use in every forked child.
IGNORED_SIGNALS = tuple(int(s) for s in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                                         signal.SIGUSR1, signal.SIGUSR2))
_RESET_SIGNALS = IGNORED_SIGNALS  # what a child resets to SIG_DFL; main() adds inherited ignores
_STDIO = None  # the children's sys.stdin/stdout/stderr, built once by _warm_up()
# In bubblewrap's pid namespace we are pid 2 (its reaper is pid 1) and not root. Anything else is
# the explicit unsandboxed opt-in, where the namespace-wide clean-up below must never run.
SANDBOXED = os.getpid() <= 3 and os.getuid() != 0
# Unsandboxed, the host hands us a private directory of its own (and removes it).
WORK_ROOT = "/tmp" if SANDBOXED else sys.argv[1]


def _prctl(option, value):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl failed")


def _capabilities():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return {k: fields[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs") if k in fields}


def _make_stdio():
    """The children's text stdin/stdout/stderr, built once over stand-ins of the kinds they will be.

    A child dup2()s its memfd and pipes onto fds 0-2 and takes these (still empty, copied on write by
    the fork) instead of opening three text files itself (~0.35 ms per child). The stand-ins matter:
    the wrappers cache whether their fd is seekable, and a child's stdin is a memfd, its output pipes.
    """
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    memfd = os.memfd_create("stdin", 0)
    pipe_r, pipe_w = os.pipe()
    try:
        os.dup2(memfd, 0)
        os.dup2(pipe_w, 1)
        os.dup2(pipe_w, 2)
        stdio = (open(0, "r", encoding="utf-8", errors="surrogatepass", closefd=False),
                 open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False),
                 open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False))
        for f in stdio:
            f.seekable()
    finally:
        for fd, copy in zip((0, 1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
        for fd in (memfd, pipe_r, pipe_w):
            os.close(fd)
    return stdio


def _warm_up():
    """Do once in the server what every child would otherwise do for the first time, at its own cost.

    Python 3.11 builds its ~100 AST types on the first `compile()` (~3 ms); a traceback pulls in more
    lazily created state. Done here, before `gc.freeze()`, every forked child inherits it. With
    `_make_stdio` and the plain-int signal resets: 4.6 ms -> 2.7 ms per child for a trivial program.
    """
    global _STDIO
    exec(compile("def f(a):\n    return [a for _ in ()]\nassert f(1) == []\n", "<warm-up>", "exec"),
         {"__name__": "__warm_up__"})
    try:
        raise ValueError("warm-up")
    except ValueError as exc:
        traceback.format_exception(type(exc), exc, exc.__traceback__)
    _STDIO = _make_stdio()


def _child(code, stdin_fd, out_w, err_w, limits, workdir):
    """In the forked child: isolate, limit, run `code`. Never returns."""
    try:
        os.setsid()
        os.dup2(stdin_fd, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, MAX_FD)  # one close_range(2) call, whatever is open
        for sig in _RESET_SIGNALS:
            _signal.signal(sig, _signal.SIG_DFL)
        os.chdir(workdir)
        cpu = max(1, int(limits["cpu_seconds"] + 0.999))
        mem = int(limits["memory_mb"]) << 20
        for res, value in (
            (resource.RLIMIT_CPU, (cpu, cpu + 1)),
            (resource.RLIMIT_AS, (mem, mem)),
            (resource.RLIMIT_DATA, (mem, mem)),
            (resource.RLIMIT_FSIZE, (int(limits["file_size_mb"]) << 20,) * 2),
            (resource.RLIMIT_NOFILE, (int(limits["open_files"]),) * 2),
            (resource.RLIMIT_NPROC, (int(limits["processes"]),) * 2),
            (resource.RLIMIT_CORE, (0, 0)),
            (resource.RLIMIT_MEMLOCK, (0, 0)),
        ):
            resource.setrlimit(res, value)
        sys.argv = ["<program>"]
        sys.stdin, sys.stdout, sys.stderr = _STDIO
    except BaseException:
        os._exit(125)
    status = 0
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(compile(code, "<program>", "exec"), namespace)
    except SystemExit as exc:
        if exc.code is None:
            status = 0
        elif isinstance(exc.code, int):
            status = exc.code & 0xFF
        else:
            try:
                print(exc.code, file=sys.stderr)
            except BaseException:
                pass
            status = 1
    except BaseException as exc:
        try:
            # Skip our own frame: the program's traceback starts at "<program>".
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        except BaseException:
            pass
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(status)


def _kill_all_but_me():
    if not SANDBOXED:
        return  # kill(-1) outside a pid namespace would hit every process of this user
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap_all():
    """Wait for every descendant (we are a subreaper); returns how many processes were reaped."""
    n = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if SANDBOXED else os.WNOHANG)
            if pid == 0:
                return n
            n += 1
        except ChildProcessError:
            return n
        except InterruptedError:
            continue


def _fix_perms_and_retry(func, path, _exc):
    try:
        os.chmod(os.path.dirname(path) or ".", 0o700)
        os.chmod(path, 0o700)
        func(path)
    except OSError:
        pass


def _clean_workdir(workdir):
    """Empty the run's directory for the next run; True when nothing else is left in the work root."""
    try:
        if os.listdir(workdir):
            shutil.rmtree(workdir, onerror=_fix_perms_and_retry)
            os.mkdir(workdir, 0o700)
        return os.listdir(WORK_ROOT) == [os.path.basename(workdir)] and not os.listdir(workdir)
    except OSError:
        return False


def _run(request, counter):
    code = request["code"]
    limits = request["limits"]
    cap = int(limits["output_bytes"])
    deadline_s = float(limits["wall_seconds"])
    workdir = os.path.join(WORK_ROOT, "run")
    if not os.path.isdir(workdir):
        os.mkdir(workdir, 0o700)
    stdin_fd = os.memfd_create("stdin", 0)
    data = request.get("stdin", "").encode("utf-8", "surrogatepass")
    view = memoryview(data)
    while view:
        view = view[os.write(stdin_fd, view):]
    os.lseek(stdin_fd, 0, os.SEEK_SET)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(code, stdin_fd, out_w, err_w, limits, workdir)
    for fd in (stdin_fd, out_w, err_w):
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    buffers = {out_r: bytearray(), err_r: bytearray()}
    open_fds = {out_r, err_r}
    total = 0
    exited = False
    why = None
    poller = select.poll()
    for fd in (out_r, err_r, pidfd):
        poller.register(fd, select.POLLIN)
    deadline = start + deadline_s
    while open_fds and not exited:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            why = "timeout"
            break
        for fd, _ev in poller.poll(remaining * 1000):
            if fd == pidfd:
                # Once the child is gone, whatever still holds a pipe open is killed below and
                # the pipes are drained then: waiting here would let an escaper stall us.
                exited = True
                continue
            chunk = os.read(fd, READ_CHUNK)
            if not chunk:
                poller.unregister(fd)
                open_fds.discard(fd)
                continue
            buffers[fd] += chunk[: max(0, cap - total)]
            total += len(chunk)
            if total > cap:
                why = "output_limit"
        if why is not None:
            break
    if not exited and why is None:
        # Both pipes closed but the child lives on: wait for it within the deadline.
        ready = select.select([pidfd], [], [], max(0.0, deadline - time.monotonic()))[0]
        if not ready:
            why = "timeout"
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _, wait_status, usage = os.wait4(pid, 0)
    duration = time.monotonic() - start
    _kill_all_but_me()
    # Drain what is left after everything that could write is dead (bounded by the cap).
    for fd in list(open_fds):
        while total <= cap:
            r = select.select([fd], [], [], 0)[0]
            if not r:
                break
            chunk = os.read(fd, READ_CHUNK)
            if not chunk:
                break
            buffers[fd] += chunk[: max(0, cap - total)]
            total += len(chunk)
    for fd in (out_r, err_r, pidfd):
        os.close(fd)
    leftovers = _reap_all()
    clean = _clean_workdir(workdir)
    stdout = bytes(buffers[out_r]).decode("utf-8", "replace")
    stderr = bytes(buffers[err_r]).decode("utf-8", "replace")
    if os.WIFSIGNALED(wait_status):
        exit_code = -os.WTERMSIG(wait_status)
    else:
        exit_code = os.WEXITSTATUS(wait_status)
    cpu_used = usage.ru_utime + usage.ru_stime
    if why is not None:
        status = why
    elif total > cap:
        status = "output_limit"
    elif exit_code == -signal.SIGXCPU or (exit_code == -signal.SIGKILL and
                                          cpu_used >= float(limits["cpu_seconds"]) - 0.05):
        status = "timeout"
    elif exit_code == 0:
        status = "ok"
    elif exit_code > 0 and "MemoryError" in stderr[-2000:]:
        status = "memory"
    elif exit_code == 125:
        status = "killed"
        stderr = stderr or "sandbox: could not set up the run"
    elif exit_code < 0:
        status = "killed"
    else:
        status = "error"
    return {"status": status, "exit_code": exit_code, "stdout": stdout, "stderr": stderr,
            "duration": duration, "leftovers": leftovers, "clean": clean}


def _inherited_ignores() -> tuple[int, ...]:
    """Signals already ignored when the server starts: `nohup` ignores SIGHUP, and a background job
    of a non-interactive shell starts with SIGINT and SIGQUIT ignored. Children get those back at
    their defaults too. SIGXFSZ stays ignored, as in every Python process."""
    out = []
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGXFSZ):
            continue
        try:
            if signal.getsignal(sig) == signal.SIG_IGN:
                out.append(int(sig))
        except (OSError, ValueError):
            continue
    return tuple(out)


def main():
    global _RESET_SIGNALS
    _RESET_SIGNALS = tuple(sorted(set(IGNORED_SIGNALS) | set(_inherited_ignores())))
    os.dup2(0, REQ_FD)
    os.dup2(1, RESP_FD)
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    # Something (a test, a bug) may signal us: keep serving rather than die with a traceback.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    send_message(RESP_FD, {"hello": True, "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
                           "pid": os.getpid(), "caps": _capabilities(), "sandboxed": SANDBOXED,
                           "python": sys.version.split()[0]})
    _warm_up()
    # Objects that exist now are never collected: forked children then do not touch (and copy)
    # their pages, which makes each fork cheaper.
    gc.freeze()
    counter = 0
    while True:
        try:
            request = recv_message(REQ_FD)
        except EOFError:
            return
        counter += 1
        try:
            response = _run(request, counter)
        except Exception:
            response = {"status": "killed", "exit_code": -1, "stdout": "",
                        "stderr": "sandbox error: " + traceback.format_exc(limit=3),
                        "duration": 0.0, "leftovers": 0, "clean": False}
            _kill_all_but_me()
            _reap_all()
        send_message(RESP_FD, response)


if __name__ == "__main__":
    main()
