"""Hostile programs against the sandbox: every one is contained, the host survives, nothing leaks.

Safety: bombs run only after `dropped_privileges` (module fixture, run before any case) has shown
that code in this pool runs as an unprivileged uid with no capabilities; every case has fixed
counts and a short wall limit, so a failure cannot stall the machine.
After each case: the host test process is alive, the canary files are unchanged, and no process is
left in the sandbox or on the host beyond the idle sandboxes themselves.
"""

from __future__ import annotations

import hashlib
import os
import socket
import textwrap
from pathlib import Path

import pytest

from llmgym.sandbox import Limits, SandboxPool

PROJECT = Path(__file__).resolve().parents[1]
LIMITS = Limits(wall_seconds=2, cpu_seconds=1, memory_mb=256, processes=16, file_size_mb=8)
SECRET = "llmgym-test-secret-4f1a"


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


@pytest.fixture(scope="module")
def listeners(tmp_path_factory):
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    path = tmp_path_factory.mktemp("sock") / "host.sock"
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(path))
    unix.listen()
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0llmgym-test-abstract")
    abstract.listen()
    yield {"port": tcp.getsockname()[1], "path": str(path), "abstract": "\\0llmgym-test-abstract"}
    for s in (tcp, unix, abstract):
        s.close()


@pytest.fixture(scope="module")
def canaries(tmp_path_factory):
    canary = tmp_path_factory.mktemp("canary") / "canary.txt"
    canary.write_text("original")
    # The project itself is edited while tests run, so its canary is a file of ours in the home dir.
    home = Path.home() / f".llmgym-canary-{os.getpid()}"
    home.write_text("original")
    yield [canary, home, Path("/etc/passwd")]
    home.unlink()


def _digest(files):
    return [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]


@pytest.fixture(scope="module")
def pool():
    os.environ["LLMGYM_TEST_SECRET"] = SECRET  # must never be visible inside
    try:
        with SandboxPool(workers=1) as p:
            yield p
    finally:
        os.environ.pop("LLMGYM_TEST_SECRET", None)


@pytest.fixture(scope="module")
def dropped_privileges(pool):
    """Gate for every attack: fail the module unless the sandbox runs code unprivileged."""
    r = pool.run("import os\nst = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)\n"
                 "print(os.getuid(), int(st['CapEff'], 16), int(st['CapBnd'], 16))", limits=LIMITS)
    uid, eff, bnd = r.stdout.split()
    assert r.status == "ok" and uid != "0" and eff == "0" and bnd == "0", r
    return True


def run_attack(pool, canaries, code, limits=LIMITS, stdin=""):
    before = _digest(canaries)
    result = pool.run(textwrap.dedent(code), stdin=stdin, limits=limits)
    assert _digest(canaries) == before, "a host file changed"
    # Nothing may outlive the run: inside, only bwrap's init and the fork server remain ...
    check = pool.run("import os; print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))", limits=LIMITS)
    assert check.status == "ok" and len(eval(check.stdout)) == 3, check  # init, fork server, this check
    # ... and on the host, each idle sandbox is bwrap plus its two processes.
    for worker in pool.idle:
        assert len(_descendants(worker.proc.pid)) <= 2
    return result


BLOCKED = {
    # reading host files
    "read_etc_shadow": "try:\n    open('/etc/shadow').read(); print('ESCAPED')\nexcept OSError: print('BLOCKED')",
    "read_etc_passwd": "try:\n    open('/etc/passwd').read(); print('ESCAPED')\nexcept OSError: print('BLOCKED')",
    "list_root_home": "import os\ntry:\n    os.listdir('/root'); print('ESCAPED')\nexcept OSError: print('BLOCKED')",
    "read_project": f"try:\n    open({str(PROJECT / 'pyproject.toml')!r}).read(); print('ESCAPED')\nexcept OSError: print('BLOCKED')",
    "list_home": "import os\ntry:\n    os.listdir('/home'); print('ESCAPED')\nexcept OSError: print('BLOCKED')",
    "sysfs": "import os\ntry:\n    os.listdir('/sys/class'); print('ESCAPED')\nexcept OSError: print('BLOCKED')",
    "proc_root_escape": "import os\ntry:\n    os.listdir('/proc/1/root/root'); print('ESCAPED')\nexcept OSError: print('BLOCKED')",
    "host_processes_invisible": "import os\nprint('ESCAPED' if len([p for p in os.listdir('/proc') if p.isdigit()]) > 4 else 'BLOCKED')",
    # writing outside the sandbox
    "write_usr": "try:\n    open('/usr/bin/evil', 'w').write('x'); print('ESCAPED')\nexcept OSError: print('BLOCKED')",
    "write_root_dir": "try:\n    open('/evil', 'w').write('x'); print('ESCAPED')\nexcept OSError: print('BLOCKED')",
    "chmod_python": "import os\ntry:\n    os.chmod('/usr/bin/python3.11', 0o777); print('ESCAPED')\nexcept OSError: print('BLOCKED')",
    "write_proc_sys": "try:\n    open('/proc/sys/kernel/hostname', 'w').write('x'); print('ESCAPED')\nexcept OSError: print('BLOCKED')",
    "remount_rw_ctypes": """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        rc = libc.mount(b'none', b'/usr', None, 32 | 4096, None)  # MS_REMOUNT | MS_BIND
        print('ESCAPED' if rc == 0 else 'BLOCKED')""",
    "chroot": "import os\ntry:\n    os.chroot('/tmp'); print('ESCAPED')\nexcept OSError: print('BLOCKED')",
    "new_user_namespace": """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        print('ESCAPED' if libc.unshare(0x10000000) == 0 else 'BLOCKED')""",
    "setuid_root_ctypes": """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        print('ESCAPED' if libc.setuid(0) == 0 else 'BLOCKED')""",
    "raise_rlimit": """
        import resource
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (10000, 10000)); print('ESCAPED')
        except (ValueError, OSError): print('BLOCKED')""",
    # network
    "tcp_to_host_listener": """
        import socket
        try:
            socket.create_connection(('127.0.0.1', {port}), timeout=1); print('ESCAPED')
        except OSError: print('BLOCKED')""",
    "tcp_to_internet": """
        import socket
        try:
            socket.create_connection(('1.1.1.1', 53), timeout=1); print('ESCAPED')
        except OSError: print('BLOCKED')""",
    "udp_send": """
        import socket
        try:
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53)); print('ESCAPED')
        except OSError: print('BLOCKED')""",
    "unix_socket_path": """
        import socket
        try:
            socket.socket(socket.AF_UNIX).connect({path!r}); print('ESCAPED')
        except OSError: print('BLOCKED')""",
    "abstract_unix_socket": """
        import socket
        try:
            socket.socket(socket.AF_UNIX).connect('{abstract}'); print('ESCAPED')
        except OSError: print('BLOCKED')""",
    "dns_lookup": """
        import socket
        try:
            socket.getaddrinfo('example.com', 80); print('ESCAPED')
        except OSError: print('BLOCKED')""",
    "raw_socket": """
        import socket
        try:
            socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print('ESCAPED')
        except OSError: print('BLOCKED')""",
    # environment secrets
    "environ_secret": f"import os\nprint('ESCAPED' if any({SECRET!r} in v for v in os.environ.values()) or os.environ.get('HOME') == '/root' else 'BLOCKED')",
    "proc_environ_secret": f"""
        import os
        found = False
        for p in [p for p in os.listdir('/proc') if p.isdigit()]:
            try:
                found |= {SECRET!r}.encode() in open('/proc/%s/environ' % p, 'rb').read()
            except OSError:
                pass
        print('ESCAPED' if found else 'BLOCKED')""",
    # the parent: ptrace, its memory, its host channel
    "ptrace_parent": """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        print('ESCAPED' if libc.ptrace(16, os.getppid(), 0, 0) == 0 else 'BLOCKED')  # PTRACE_ATTACH""",
    "parent_memory": """
        import os
        try:
            open('/proc/%d/mem' % os.getppid(), 'rb'); print('ESCAPED')
        except OSError: print('BLOCKED')""",
    "parent_host_channel": """
        import os
        try:
            os.open('/proc/%d/fd/101' % os.getppid(), os.O_WRONLY); print('ESCAPED')
        except OSError: print('BLOCKED')""",
    "inherited_host_fds": "import os\nprint('ESCAPED' if any(os.path.exists('/proc/self/fd/%d' % fd) for fd in (100, 101)) else 'BLOCKED')",
    "kill_init": "import os, signal\ntry:\n    os.kill(1, signal.SIGKILL)\nexcept OSError: pass\nprint('BLOCKED')",
}


@pytest.mark.parametrize("name", sorted(BLOCKED))
def test_blocked(pool, canaries, listeners, dropped_privileges, name):
    r = run_attack(pool, canaries, BLOCKED[name].format(**listeners) if "{" in BLOCKED[name] and name in (
        "tcp_to_host_listener", "unix_socket_path", "abstract_unix_socket") else BLOCKED[name])
    assert "ESCAPED" not in r.stdout
    assert r.stdout.strip().endswith("BLOCKED"), r


CONTAINED = {
    # (code, statuses accepted)
    "kill_parent_fork_server": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time; time.sleep(5)",
                                {"killed", "timeout"}),
    "kill_everything": ("import os, signal\nos.kill(-1, signal.SIGKILL)\nimport time; time.sleep(5)", {"killed", "timeout"}),
    "stop_parent": ("import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\nimport time; time.sleep(30)", {"timeout"}),
    "setsid_fork_escape": ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nprint('parent')", {"ok"}),
    "double_fork_daemon": ("import os, time\nif os.fork() == 0:\n    if os.fork() == 0:\n        os.setsid()\n"
                           "        time.sleep(60)\n    os._exit(0)\nprint('parent')", {"ok"}),
    "escaper_holds_stdout": ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nos._exit(0)", {"ok"}),
    "fork_bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", {"timeout", "killed"}),
    "thread_bomb": ("import threading, time\nn = 0\ntry:\n    while True:\n        threading.Thread(target=time.sleep, "
                    "args=(60,), daemon=True).start(); n += 1\nexcept RuntimeError: print('threads', n)\ntime.sleep(60)",
                    {"timeout"}),
    "memory_bomb": ("x = []\nwhile True:\n    x.append(bytearray(64 << 20))", {"memory"}),
    "memory_bomb_in_processes": ("import os\nfor _ in range(8):\n    if os.fork() == 0:\n        x = []\n"
                                 "        while True: x.append(bytearray(32 << 20))\nimport time; time.sleep(60)",
                                 {"timeout"}),
    "disk_fill_many_files": ("i = 0\ntry:\n    while True:\n        open('/tmp/f%d' % i, 'wb').write(b'x' * (4 << 20)); i += 1\n"
                             "except OSError as e: print('stopped', i, e.errno)", {"ok"}),
    "disk_fill_one_file": ("f = open('big', 'wb')\nwhile True: f.write(b'x' * (1 << 20))", {"error"}),
    "huge_stdout": ("import sys\nwhile True: sys.stdout.write('y' * 100000)", {"output_limit"}),
    "huge_stderr": ("import sys\nwhile True: sys.stderr.write('y' * 100000)", {"output_limit"}),
    "infinite_loop": ("while True: pass", {"timeout"}),
    "sleep_forever": ("import time\ntime.sleep(10**6)", {"timeout"}),
    "close_stdout_and_spin": ("import os\nos.close(1)\nos.close(2)\nwhile True: pass", {"timeout"}),
    "many_open_files": ("fs = []\ntry:\n    while True: fs.append(open('/dev/null'))\nexcept OSError: print('capped', len(fs))",
                        {"ok"}),
    "ctypes_libc_system": ("import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.system(b'cat /etc/shadow; id -u'))", {"ok"}),
    "ignore_signals_then_spin": ("import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGXCPU):\n"
                                 "    signal.signal(s, signal.SIG_IGN)\nwhile True: pass", {"timeout", "killed"}),
    "deep_recursion": ("import sys\nsys.setrecursionlimit(10**7)\ndef f(n): return f(n + 1)\nf(0)", {"killed", "error", "memory", "timeout"}),
}


@pytest.mark.parametrize("name", sorted(CONTAINED))
def test_contained(pool, canaries, dropped_privileges, name):
    code, statuses = CONTAINED[name]
    r = run_attack(pool, canaries, code)
    assert r.status in statuses, r
    assert "root:" not in r.stdout and "ESCAPED" not in r.stdout
    if name == "disk_fill_many_files":
        assert r.stdout.startswith("stopped") and int(r.stdout.split()[1]) < 20  # the 64 MiB /tmp is full
    if name == "ctypes_libc_system":
        assert r.stdout.split()[0] not in ("0", "")  # `id -u` inside is not root (and /etc/shadow is absent)
        assert "No such file" in r.stderr
