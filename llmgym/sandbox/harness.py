"""Unit-test harness for "write this function" tasks; its source runs as the program in a sandbox.

Why two processes: model-written code that shares a process with its tests can read them (`gc`,
frames), rewrite them (monkeypatching `print`, `sys.stdout`, builtins), return objects whose
`__eq__` is always true, or exit early with status 0. So the harness forks a *solution process*
before it has read the tests or the nonce; that process loads the solution and answers calls over a
pipe with plain data only (exact built-in types, re-encoded, never pickled); its stdout is
redirected to stderr, so it cannot write the harness's output. The harness alone reads the tests and
the nonce, runs each test unit with `candidate` bound to a proxy that forwards calls, and prints one
JSON line holding the nonce and the outcome of every test after the last one ran. Both processes are
non-dumpable (inherited from the fork server), so neither can ptrace or read the other.

stdin: 16 ASCII digits giving the length of part 1, part 1 = JSON {"code", "entry_point"},
then part 2 = JSON {"setup": [sources], "units": [sources], "nonce"}.
stdout: `{"nonce", "passed": [bool per unit], "failure"}` or `{"nonce", "error": kind, "detail"}`.

The message helpers (`read_exact`, `send_message`, `recv_message`) come from `wire.py`, whose
source the host puts in front of this one: this program cannot import llmgym.
"""

import builtins
import json
import os
import signal
import sys

MAX_MESSAGE = 16 << 20
MAX_DEPTH = 64
PLAIN = (type(None), bool, int, float, str)


def encode(x, depth=0):
    """Plain data to tagged JSON; anything but exact built-in types is refused."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    t = type(x)
    if t in PLAIN:
        return x
    if t is list:
        return {"l": [encode(v, depth + 1) for v in x]}
    if t is tuple:
        return {"t": [encode(v, depth + 1) for v in x]}
    if t is dict:
        return {"d": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in x.items()]}
    if t is set or t is frozenset:
        return {"s" if t is set else "f": [encode(v, depth + 1) for v in x]}
    if t is bytes:
        return {"b": x.decode("latin-1")}
    if t is complex:
        return {"c": [x.real, x.imag]}
    raise TypeError("unsupported value of type %s" % t.__name__)


def decode(x, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if type(x) in PLAIN:
        return x
    if type(x) is not dict or len(x) != 1:
        raise ValueError("malformed value")
    (tag, v), = x.items()
    if tag == "b":
        return v.encode("latin-1")
    if tag == "c":
        return complex(v[0], v[1])
    items = [decode(i, depth + 1) for i in v] if tag != "d" else None
    if tag == "l":
        return items
    if tag == "t":
        return tuple(items)
    if tag == "s":
        return set(items)
    if tag == "f":
        return frozenset(items)
    if tag == "d":
        return {decode(k, depth + 1): decode(val, depth + 1) for k, val in v}
    raise ValueError("malformed value")


def serve(code, entry_point, calls_fd, results_fd):
    """The solution process: load the solution, then answer calls until the harness hangs up."""
    try:
        compiled = compile(code, "<solution>", "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        send_message(results_fd, {"syntax_error": "%s: %s" % (type(exc).__name__, exc)})
        return
    send_message(results_fd, {"compiled": True})
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(compiled, namespace)
    except BaseException as exc:
        send_message(results_fd, {"module_error": "%s: %s" % (type(exc).__name__, str(exc)[:300])})
        return
    fn = namespace.get(entry_point)
    send_message(results_fd, {"loaded": callable(fn)})
    while True:
        try:
            request = recv_message(calls_fd, MAX_MESSAGE)
        except EOFError:
            return
        try:
            result = fn(*decode(request["a"]), **decode(request["k"]))
            reply = {"r": encode(result)}
        except BaseException as exc:
            reply = {"e": [type(exc).__name__, str(exc)[:300]]}
        send_message(results_fd, reply)


class SolutionGone(BaseException):
    """The solution process exited or broke the protocol: the run scores 0."""


class Candidate:
    """Stands in for the solution's function inside the tests; forwards each call."""

    def __init__(self, calls_fd, results_fd, name):
        self.calls_fd, self.results_fd, self.__name__ = calls_fd, results_fd, name

    def __call__(self, *args, **kwargs):
        try:
            send_message(self.calls_fd, {"a": encode(list(args)), "k": encode(dict(kwargs))})
            reply = recv_message(self.results_fd, MAX_MESSAGE)
        except (EOFError, OSError, ValueError) as exc:
            raise SolutionGone("the solution process exited or broke the protocol (%s)" % type(exc).__name__)
        if "e" in reply:
            name, message = reply["e"]
            cls = getattr(builtins, name, None)
            if not (isinstance(cls, type) and issubclass(cls, Exception)):
                cls = RuntimeError
            raise cls(message)
        return decode(reply["r"])


def main():
    sys.set_int_max_str_digits(0)
    head = json.loads(read_exact(0, int(read_exact(0, 16))))
    calls_r, calls_w = os.pipe()
    results_r, results_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(calls_w)
        os.close(results_r)
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)  # the tests and the nonce follow on stdin: out of the solution's reach
        os.dup2(2, 1)
        os.close(devnull)
        serve(head["code"], head["entry_point"], calls_r, results_w)
        sys.stdout.flush()
        os._exit(0)
    os.close(calls_r)
    os.close(results_w)
    entry_point = head["entry_point"]
    del head
    rest = b""
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        rest += chunk
    tests = json.loads(rest)
    nonce = tests["nonce"]

    def gone(while_doing):
        """Why the solution process is gone: out of CPU time (a timeout) or it exited (a crash)."""
        try:
            _, status = os.waitpid(pid, 0)
        except OSError:
            status = 0
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
            finish(error="timeout", detail="the solution ran out of CPU time " + while_doing)
        finish(error="crash", detail="the solution process exited " + while_doing)

    def finish(**outcome):
        # Stop the solution process first, so that the run leaves nothing behind.
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except OSError:
            pass
        sys.stdout.write(json.dumps(dict(outcome, nonce=nonce)) + "\n")
        sys.stdout.flush()
        os._exit(0)

    try:
        first = recv_message(results_r, MAX_MESSAGE)
        if "syntax_error" in first:
            finish(error="syntax_error", detail=first["syntax_error"])
        loaded = recv_message(results_r, MAX_MESSAGE)
    except (EOFError, OSError, ValueError):
        gone("while loading")
    if "module_error" in loaded:
        finish(error="crash", detail=loaded["module_error"])
    if not loaded.get("loaded"):
        finish(error="no_function", detail="the solution defines no function %r" % entry_point)
    namespace = {"__name__": "__tests__"}
    for source in tests["setup"]:
        exec(compile(source, "<setup>", "exec"), namespace)
    # HumanEval checks sometimes call the function by its own name, not only as `candidate`.
    namespace["candidate"] = namespace[entry_point] = Candidate(calls_w, results_r, entry_point)
    passed = []
    failure = None
    for source in tests["units"]:
        try:
            exec(compile(source, "<test>", "exec"), namespace)
            passed.append(True)
        except SolutionGone:
            gone("during the tests")
        except Exception as exc:
            passed.append(False)
            if failure is None:
                failure = "%s: %s | %s" % (type(exc).__name__, str(exc)[:200], source[:200])
    finish(passed=passed, failure=failure)


if __name__ == "__main__":
    main()
