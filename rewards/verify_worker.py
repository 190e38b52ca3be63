"""The symbolic path of the verifier: math-verify in a worker process with a hard deadline.

math-verify bounds its own work with ``signal.alarm``, which raises ValueError outside the main
thread and cannot interrupt a C-level operation (a big-integer power holds the interpreter).
So the client here sends each comparison to a long-lived child process over a pipe:

* inside the child, math-verify runs with its signals off and a soft deadline of our own: a CPU-time
  timer (``setitimer(ITIMER_PROF)``, half a second by default, checked between bytecodes) that
  ends most slow cases, and does not fire early just because the machine is busy;
* the client waits at most ``HARD_FACTOR * timeout + HARD_MARGIN`` seconds of wall time; a child
  that has not answered by then (stuck in C, or stopped) is killed and a fresh one is started at
  once, so the next call finds it warming up;
* the child's address space is capped, so a runaway expression fails with MemoryError instead
  of taking the machine down.

Works from any thread (calls are serialised per process by a lock) and in forked children of a
process pool (each process starts its own worker; the pid is checked on every call).
Run as a script (``python -P verify_worker.py``) it *is* the child.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time

DEFAULT_TIMEOUT = 0.5    # CPU seconds of symbolic work allowed per comparison (soft, inside the child)
# Wall-clock wait before the child is killed: generous, because on a loaded machine a comparison
# that needs 0.3 CPU seconds can take several times that in wall time, and a kill costs a restart.
HARD_FACTOR = 4.0
HARD_MARGIN = 0.5
STARTUP_TIMEOUT = 60.0   # importing sympy and math-verify on a busy machine
STARTUP_RETRY = 30.0     # seconds before starting again a worker that failed to start
MEMORY_LIMIT = 3 << 30   # bytes of address space for the child

log = logging.getLogger(__name__)


class _Worker:
    """One child process and the buffered read side of its pipe."""

    def __init__(self) -> None:
        # one thread is all sympy needs; BLAS thread pools would only eat the capped address space
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   MKL_NUM_THREADS="1")
        # This file run as a script, not `-m llmgym.rewards.verify_worker`: the child then imports only
        # math-verify, not the llmgym package (gymnasium, numpy, pluggy: 32 of its 90 MiB). `-P` keeps
        # this folder off sys.path, where code.py would shadow the standard library's `code`.
        self.proc = subprocess.Popen(
            [sys.executable, "-P", os.path.abspath(__file__)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )
        self.buffer = b""
        self.ready = False

    def readline(self, deadline: float) -> bytes | None:
        """One line from the child, or None at the deadline; EOFError when the child died."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError("verifier worker exited")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def wait_ready(self) -> bool:
        if not self.ready:
            line = self.readline(time.monotonic() + STARTUP_TIMEOUT)
            self.ready = line == b"ready"
        return self.ready

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:  # already gone
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except Exception:
                pass


class SymbolicVerifier:
    """Client of one worker process per OS process. Use the module-level `symbolic_match`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self._pid = os.getpid()
        self.restarts = 0
        self._broken_until = 0.0  # after a failed start-up, fail fast for a while instead of waiting again

    def _current(self) -> _Worker:
        if self._pid != os.getpid():  # a forked child must not talk to its parent's worker
            self._worker, self._pid = None, os.getpid()
        if self._worker is None or self._worker.proc.poll() is not None:
            self._worker = _Worker()
        return self._worker

    def warm(self) -> bool:
        """Start the worker and wait until it has imported sympy; True when it is ready."""
        with self._lock:
            try:
                return self._current().wait_ready()
            except (EOFError, OSError):
                self._start_failed()
                return False

    def _start_failed(self) -> None:
        log.warning("the answer verifier's sympy worker did not start; symbolic answers score 0 "
                    "(reason verifier_error) for the next %.0f s", STARTUP_RETRY)
        self._broken_until = time.monotonic() + STARTUP_RETRY
        if self._worker is not None:
            self._worker.kill()
        self._worker = None

    def _replace(self) -> None:
        if self._worker is not None:
            self._worker.kill()
        self.restarts += 1
        self._worker = _Worker()  # start warming now, not when the next caller needs it

    def match(self, pred: str, gold: str, kind: str, timeout: float | None = None) -> tuple[bool, str | None]:
        soft = DEFAULT_TIMEOUT if timeout is None else max(0.01, float(timeout))
        request = json.dumps({"pred": pred, "gold": gold, "kind": kind, "timeout": soft}).encode() + b"\n"
        with self._lock:
            if time.monotonic() < self._broken_until:
                return False, "verifier_error"
            worker = self._current()
            try:
                if not worker.wait_ready():
                    self._start_failed()
                    return False, "verifier_error"
                assert worker.proc.stdin is not None
                worker.proc.stdin.write(request)
                worker.proc.stdin.flush()
                line = worker.readline(time.monotonic() + HARD_FACTOR * soft + HARD_MARGIN)
            except (EOFError, OSError, ValueError):
                if worker.ready:
                    self._replace()
                else:
                    self._start_failed()
                return False, "verifier_error"
            if line is None:
                self._replace()
                return False, "timeout"
        try:
            reply = json.loads(line)
            return bool(reply["match"]), reply.get("reason")
        except (ValueError, KeyError, TypeError):
            return False, "verifier_error"

    def close(self) -> None:
        """Stop this process's worker (it would also exit on its own when our end of the pipe closes)."""
        worker, self._worker = self._worker, None
        if worker is not None and self._pid == os.getpid():
            worker.kill()

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._worker, self._pid = None, os.getpid()


_VERIFIER = SymbolicVerifier()
atexit.register(_VERIFIER.close)
if hasattr(os, "register_at_fork"):
    # A lock held by another thread at fork time would stay held forever in the child.
    os.register_at_fork(after_in_child=_VERIFIER.reset_after_fork)


def symbolic_match(pred: str, gold: str, kind: str, *, timeout: float | None = None) -> tuple[bool, str | None]:
    """math-verify equivalence of two pre-filtered answers, bounded by `timeout` (+ a margin)."""
    return _VERIFIER.match(pred, gold, kind, timeout)


def prestart() -> None:
    """Start the worker in the background without waiting: an env that will need sympy calls this
    when it is built, so the worker's imports overlap with everything else that happens first."""
    with _VERIFIER._lock:
        if time.monotonic() >= _VERIFIER._broken_until:
            try:
                _VERIFIER._current()
            except OSError:
                pass


def warm() -> bool:
    """Start the worker process ahead of the first symbolic comparison (it imports sympy)."""
    return _VERIFIER.warm()


# -- the child ------------------------------------------------------------------------------------
class _SoftTimeout(BaseException):
    """Raised by our timer inside sympy; BaseException so math-verify's `except Exception` lets it out."""


def _child_main() -> None:  # pragma: no cover - runs in the worker process
    import resource
    import signal

    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ValueError, OSError):
        pass
    logging.disable(logging.CRITICAL)  # math-verify logs whole inputs on failure
    import math_verify.grader as grader
    import math_verify.parser as parser
    from math_verify import parse, verify

    grader.TIMEOUT_WARNING_SHOWN = parser.TIMEOUT_WARNING_SHOWN = True

    def on_alarm(signum, frame):
        raise _SoftTimeout()

    # CPU time, not wall time: a busy machine must not turn a correct answer into a timeout
    signal.signal(signal.SIGPROF, on_alarm)
    # sympy imports and caches a lot on first use (simplify, sets, relations): pay that at start-up,
    # not inside the first comparison's deadline.
    for gold, pred in (("x^{2} - x - 6", "(x+2)(x-3)"), ("\\{1, 2\\}", "\\{2, 1\\}"),
                       ("(1, 2]", "1 < x \\le 2"), ("2\\sqrt{2}", "\\sqrt{8}"), ("3", "x = 3"),
                       ("\\frac{1}{2}", "0.5"), ("3\\cos(x)", "3 \\cos x"), ("x^{2}", "x^{3}"),
                       ("\\{3 - \\sqrt{15}, 3 + \\sqrt{15}\\}", "1 \\pm \\sqrt{2}"),
                       ("\\{1 - \\sqrt{2}, 1 + \\sqrt{2}\\}", "\\{1, 2\\}"), ("(1, 2]", "[1, 2]"),
                       ("\\frac{2 (x + 6)}{(x + 5)(x + 7)}", "\\frac{2}{x + 5}"),
                       ("x \\cos(x) + \\sin(x)", "x \\sin(x) + e^{x} + \\log(x)"),
                       ("x^{3} e^{x} + 3 x^{2} e^{x}", "3x^2 e^x + x^3 e^x"),
                       ("2 x \\ln{\\left(x \\right)} + x", "2x \\ln x + x"),
                       ("- x^{2} \\sin{\\left(x \\right)} + 2 x \\cos{\\left(x \\right)}", "2x\\cos x - x^2 \\sin x"),
                       ("y = 1 + 2x", "y = 2x + 1"), ("y = 1 + 2x", "2x + 1")):
        try:
            verify(parse("\\boxed{" + gold + "}", parsing_timeout=None),
                   parse("\\boxed{" + pred + "}", parsing_timeout=None), timeout_seconds=None)
        except Exception:
            pass
    out = sys.stdout.buffer
    out.write(b"ready\n")
    out.flush()
    for raw in sys.stdin.buffer:
        try:
            req = json.loads(raw)
        except ValueError:
            out.write(b'{"match": false, "reason": "verifier_error"}\n')
            out.flush()
            continue
        match, reason = False, "wrong"
        try:
            try:
                signal.setitimer(signal.ITIMER_PROF, float(req.get("timeout", DEFAULT_TIMEOUT)))
                gold = parse("\\boxed{" + req["gold"] + "}", parsing_timeout=None)
                pred = parse("\\boxed{" + req["pred"] + "}", parsing_timeout=None)
                if all(isinstance(p, str) for p in pred):
                    reason = "unparsable"
                else:
                    match = verify(gold, pred, timeout_seconds=None,
                                   allow_set_relation_comp=req.get("kind") == "interval")
                    reason = None if match else "wrong"
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
        except _SoftTimeout:  # also when the timer fires inside the `finally` above
            match, reason = False, "timeout"
        except MemoryError:
            match, reason = False, "too_complex"
        except Exception:
            match, reason = False, "unparsable"
        out.write(json.dumps({"match": bool(match), "reason": reason}).encode() + b"\n")
        out.flush()


if __name__ == "__main__":  # pragma: no cover
    _child_main()
