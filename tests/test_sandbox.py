"""The sandbox API: privilege drop first, then statuses, limits, batches, recycling, clean-up.

The first test proves that code runs as an unprivileged uid without capabilities; the attack suite
(test_sandbox_attacks.py) relies on that and never runs a bomb unless it holds.
"""

from __future__ import annotations

import os
import signal

import pytest

from llmgym.errors import LLMGymError
from llmgym.sandbox import Limits, Program, SandboxPool, pool as pool_module

FAST = Limits(wall_seconds=3, cpu_seconds=2)


def sandbox_pids(uid: int = pool_module.SANDBOX_UID) -> list[int]:
    """Host pids owned by the sandbox uid."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    out.append(int(entry))
            except FileNotFoundError:
                pass
    return out


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(workers=2) as p:
        yield p


def test_code_runs_unprivileged_without_capabilities(pool):
    code = ("import os\nst = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)\n"
            "print(os.getuid(), os.geteuid(), st['CapEff'].strip(), st['CapBnd'].strip(), st['NoNewPrivs'].strip())")
    r = pool.run(code, limits=FAST)
    uid, euid, cap_eff, cap_bnd, nnp = r.stdout.split()
    assert r.status == "ok"
    assert uid != "0" and euid != "0"
    assert int(cap_eff, 16) == 0 and int(cap_bnd, 16) == 0 and nnp == "1"


def test_host_side_of_the_sandbox_is_not_root(pool):
    pool.run("pass", limits=FAST)
    workers = list(pool.idle)
    assert workers
    for w in workers:
        assert os.stat(f"/proc/{w.proc.pid}").st_uid != 0


def test_ok_run_returns_stdout_stdin_and_exit_code(pool):
    r = pool.run("import sys\ndata = sys.stdin.read()\nprint(data[::-1])\nprint('warn', file=sys.stderr)",
                 stdin="abc", limits=FAST)
    assert (r.status, r.exit_code, r.stdout, r.stderr) == ("ok", 0, "cba\n", "warn\n")
    assert r.duration > 0


@pytest.mark.parametrize("code,status,exit_code", [
    ("raise ValueError('boom')", "error", 1),
    ("import sys; sys.exit(3)", "error", 3),
    ("import os; os._exit(0)", "ok", 0),
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "killed", -11),
    ("x = bytearray(2 << 30)", "memory", 1),
])
def test_statuses(pool, code, status, exit_code):
    r = pool.run(code, limits=FAST)
    assert (r.status, r.exit_code) == (status, exit_code)


def test_syntax_error_is_an_error_with_the_message(pool):
    r = pool.run("def f(:\n  pass", limits=FAST)
    assert r.status == "error" and "SyntaxError" in r.stderr


def test_cpu_limit_is_a_timeout(pool):
    r = pool.run("while True: pass", limits=Limits(wall_seconds=5, cpu_seconds=1))
    assert r.status == "timeout"


def test_wall_deadline_covers_sleeping(pool):
    r = pool.run("import time; time.sleep(60)", limits=Limits(wall_seconds=1, cpu_seconds=1))
    assert r.status == "timeout" and r.duration < 10


def test_output_is_capped(pool):
    r = pool.run("import sys\nwhile True: sys.stdout.write('x' * 65536)",
                 limits=Limits(wall_seconds=5, cpu_seconds=4, output_bytes=100_000))
    assert r.status == "output_limit" and len(r.stdout) == 100_000


def test_batch_keeps_order(pool):
    programs = [Program(f"print({i} * {i})", limits=FAST) for i in range(20)]
    results = pool.run_batch(programs)
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(20)]


def test_a_run_that_leaves_a_process_behind_recycles_the_sandbox(pool):
    before = pool.recycled
    r = pool.run("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nprint('parent')", limits=FAST)
    assert r.stdout == "parent\n"
    assert pool.recycled == before + 1
    assert pool.run("print('next')", limits=FAST).stdout == "next\n"


def test_files_do_not_survive_between_runs(pool):
    pool.run("open('/tmp/state', 'w').write('x')", limits=FAST)
    r = pool.run("import os; print(os.path.exists('/tmp/state'))", limits=FAST)
    assert r.stdout == "False\n"


def test_each_run_starts_with_fresh_stdio_and_default_signals(pool):
    # The fork server builds the children's text stdio once and resets the signals it ignores:
    # a run must not see what an earlier run read or left unflushed, nor inherit an ignored signal.
    program = ("import signal, sys\n"
               "print(sys.stdin.read(2), sys.stdin.seekable(), sys.stdout.seekable(), end=' ')\n"
               "print(sorted(s.name for s in signal.Signals if signal.getsignal(s) == signal.SIG_IGN))\n"
               "sys.stdout.write('unflushed')\n")
    results = pool.run_batch([Program(program, stdin="abcdef", limits=FAST)] * 2 * pool.size)
    # SIGXFSZ is ignored by every Python at start-up (an oversized write raises instead of killing).
    assert {r.stdout for r in results} == {"ab True False ['SIGXFSZ']\nunflushed"}, results[0]


def test_signals_ignored_where_the_pool_was_started_are_not_passed_on():
    # `nohup` ignores SIGHUP; a background job of a non-interactive shell (`cmd &` in a CI script)
    # starts with SIGINT and SIGQUIT ignored. The fork server inherits that; its children must not.
    program = "import signal\nprint(sorted(s.name for s in signal.Signals if signal.getsignal(s) == signal.SIG_IGN))"
    saved = {s: signal.getsignal(s) for s in (signal.SIGQUIT, signal.SIGHUP, signal.SIGTTOU)}
    try:
        for s in saved:
            signal.signal(s, signal.SIG_IGN)
        with SandboxPool(workers=1) as p:
            result = p.run(program, limits=FAST)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert result.stdout == "['SIGXFSZ']\n", result


def test_closing_the_pool_leaves_no_sandbox_process():
    with SandboxPool(workers=2) as p:
        p.run_batch([Program("print(1)", limits=FAST)] * 4)
        pids = [w.proc.pid for w in p.idle]
        assert pids
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_limits_are_validated():
    with pytest.raises(LLMGymError):
        Limits(output_bytes=2 << 20)
    with pytest.raises(LLMGymError):
        Limits(processes=100_000)


def test_missing_bubblewrap_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(pool_module.shutil, "which", lambda name: None)
    monkeypatch.delenv(pool_module.UNSAFE_ENV, raising=False)
    with pytest.raises(LLMGymError) as err:
        SandboxPool(workers=1)
    assert "apt-get install -y bubblewrap" in str(err.value) and "\n" not in str(err.value)


def test_a_sandbox_that_reports_root_is_refused(monkeypatch):
    worker = object.__new__(pool_module.Worker)
    worker.kill = lambda: None
    with pytest.raises(LLMGymError, match="did not drop privileges"):
        worker._verify_privileges({"uid": 0, "euid": 0, "caps": {"CapEff": "0", "CapPrm": "0", "CapBnd": "0"}})
    with pytest.raises(LLMGymError, match="did not drop privileges"):
        worker._verify_privileges({"uid": 1000, "euid": 1000,
                                   "caps": {"CapEff": "1ff", "CapPrm": "0", "CapBnd": "0"}})


def test_unsandboxed_running_needs_the_loud_opt_in(monkeypatch, caplog):
    monkeypatch.delenv(pool_module.UNSAFE_ENV, raising=False)
    assert SandboxPool(workers=1).unsafe is False
    monkeypatch.setenv(pool_module.UNSAFE_ENV, "1")
    with caplog.at_level("WARNING"), SandboxPool(workers=1) as p:
        assert p.unsafe
        # Harmless code only: nothing contains it here.
        assert p.run("print(2 + 2)", limits=FAST).stdout == "4\n"
    assert "WITHOUT A SANDBOX" in caplog.text


def test_unicode_round_trips_through_stdin_and_stdout(pool):
    r = pool.run("print(input()[::-1], '\\u221a2 \\U0001f600')", stdin="数学 ok", limits=FAST)
    assert r.status == "ok" and r.stdout == "ko 学数 √2 😀\n"


def test_each_sandbox_gets_its_own_memory_and_pids_cgroup_where_cgroups_are_writable(pool):
    if os.geteuid() != 0 or not os.path.exists("/sys/fs/cgroup/memory/cgroup.procs"):
        pytest.skip("cgroup v1 backstop needs root and /sys/fs/cgroup/memory (rlimits still apply)")
    pool.run("pass", limits=FAST)
    worker = pool.idle[0]
    assert {p.parent.parent.name for p in worker.cgroup.dirs} == {"memory", "pids"}
    for path in worker.cgroup.dirs:
        assert str(worker.proc.pid) in (path / "cgroup.procs").read_text().split()


def test_unusable_bubblewrap_is_one_clear_line_with_its_error(monkeypatch):
    monkeypatch.delenv(pool_module.UNSAFE_ENV, raising=False)
    fake = ["/bin/sh", "-c", "echo 'bwrap: No permissions to create new namespace' >&2; exit 1"]
    monkeypatch.setattr(pool_module, "bwrap_argv", lambda python: fake)
    with SandboxPool(workers=1) as p, pytest.raises(LLMGymError) as err:
        p.run("pass", limits=FAST)
    message = str(err.value)
    assert "unusable" in message and "No permissions" in message and "apt-get install -y bubblewrap" in message
    assert "\n" not in message
