"""`llmgym serve` as the tests run it: a real subprocess on 127.0.0.1 and a free port, ready when it
prints its URL. Shared by the serve and adapter tests."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading

TOKEN = "serve-test-token"


class ServeProcess:
    """`python -m llmgym.cli serve ARGS --port 0`; `url` once it listens; `kill`/`terminate` by PID."""

    def __init__(self, *args: str, token: str | None = TOKEN, ready_timeout: float = 120):
        env = {k: v for k, v in os.environ.items() if k != "LLMGYM_SERVE_TOKEN"}
        if token:
            env["LLMGYM_SERVE_TOKEN"] = token
        self.token = token
        self.proc = subprocess.Popen([sys.executable, "-m", "llmgym.cli", "serve", *args, "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     start_new_session=True)
        self.log: list[str] = []
        self._lines: queue.Queue = queue.Queue()
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        while True:
            try:
                line = self._lines.get(timeout=ready_timeout)
            except queue.Empty:
                self.kill()
                raise RuntimeError("llmgym serve did not start:\n" + "".join(self.log[-30:])) from None
            if line is None:
                raise RuntimeError("llmgym serve exited:\n" + "".join(self.log[-30:]))
            if line.startswith("llmgym serve: listening on "):
                self.url = line.split()[4]
                break

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.log.append(line)
            self._lines.put(line)
        self._lines.put(None)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._drainer.join(timeout=30)  # the pipe's end is read: close it
        if not self._drainer.is_alive():
            self.proc.stdout.close()
