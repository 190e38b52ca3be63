"""`openai`: a model served behind any OpenAI-compatible HTTP API (vLLM, llama.cpp's server,
llama-cpp-python, LM Studio, hosted APIs), through `/v1/chat/completions` or `/v1/completions`.

    llmgym bench --env math --policy openai:base_url=http://127.0.0.1:8000/v1,model=NAME

Requests go out from a thread pool (`concurrency` at a time), one request per completion: many
servers ignore or refuse `n > 1`. A failed request is retried with exponential backoff (and the
server's `Retry-After`) on connection errors, timeouts, 408, 409, 425, 429 and 5xx; after
`max_retries` retries the policy raises `LLMGymError` naming the endpoint and the last error, so a
bench stops with one clear line and keeps what it finished. Other HTTP errors (a bad key, an
unknown model) are not retried. The API key comes from the environment variable `api_key_env`
(default `OPENAI_API_KEY`) and is never stored in results.

Stdlib only (urllib): nothing to install for the policy itself.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPException
from typing import Any, Mapping, Sequence
from urllib.parse import urlparse

from llmgym.errors import LLMGymError
from llmgym.types import Completion, SamplingParams

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
APIS = ("chat", "completions")
PROMPT_FORMATS = ("chatml", "plain")


class _Retryable(Exception):
    """A failure worth another try (the message says what happened)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def normalize_base_url(url: str) -> str:
    """`http://host:8000` and `http://host:8000/v1/` both become `http://host:8000/v1`.

    >>> normalize_base_url("http://127.0.0.1:8000/")
    'http://127.0.0.1:8000/v1'
    >>> normalize_base_url("https://api.example.com/openai/v1")
    'https://api.example.com/openai/v1'
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise LLMGymError(f"openai policy: base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {url!r}")
    url = url.rstrip("/")
    return url if parsed.path.strip("/") else url + "/v1"


def render_prompt(messages: Sequence[Mapping[str, str]], fmt: str) -> str:
    """Chat messages as one text prompt for `/v1/completions`.

    >>> render_prompt([{"role": "user", "content": "hi"}], "chatml")
    '<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\n'
    >>> render_prompt([{"role": "system", "content": "a"}, {"role": "user", "content": "b"}], "plain")
    'a\\n\\nb'
    """
    if fmt == "chatml":
        body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return body + "<|im_start|>assistant\n"
    return "\n\n".join(m["content"] for m in messages)


class OpenAIPolicy:
    """Completions from an OpenAI-compatible server.

    `base_url` is the API root (`.../v1`); `model` defaults to the first one `/v1/models` lists.
    `api` is `chat` (messages, the server applies its chat template) or `completions` (a text
    prompt rendered with `prompt_format`: `chatml` or `plain`). `timeout` bounds each request in
    seconds; `max_retries` and `backoff` (seconds, doubled per retry up to `max_backoff`) set the
    retry budget.
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000/v1", model: str | None = None, *,
                 api: str = "chat", api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8,
                 timeout: float = 120.0, max_retries: int = 4, backoff: float = 0.5, max_backoff: float = 30.0,
                 prompt_format: str = "chatml", name: str = "openai", batch_size: int | None = None):
        if api not in APIS:
            raise LLMGymError(f"openai policy: api must be one of {', '.join(APIS)}, got {api!r}")
        if prompt_format not in PROMPT_FORMATS:
            raise LLMGymError(f"openai policy: prompt_format must be one of {', '.join(PROMPT_FORMATS)}, got {prompt_format!r}")
        if int(concurrency) < 1 or int(max_retries) < 0 or float(timeout) <= 0 or float(backoff) < 0:
            raise LLMGymError("openai policy: need concurrency >= 1, max_retries >= 0, timeout > 0, backoff >= 0")
        self.base_url = normalize_base_url(str(base_url))
        self.api = api
        self.api_key_env = api_key_env
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.prompt_format = prompt_format
        self.name = name
        # Episodes per generate call that `llmgym bench` sends: a few rounds of the pool, so a
        # server that dies mid-bench costs at most this many unfinished episodes.
        self.batch_size = int(batch_size) if batch_size else 4 * self.concurrency
        if api_key_env != "OPENAI_API_KEY" and not os.environ.get(api_key_env):
            raise LLMGymError(f"openai policy: the environment variable {api_key_env} (api_key_env) is not set")
        self._model = model
        self._seeds = itertools.count()
        self._lock = threading.Lock()

    # -- HTTP ----------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _once(self, path: str, payload: Mapping[str, Any] | None) -> Any:
        url = f"{self.base_url}/{path}"
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(url, data=data, headers=self._headers(), method="GET" if data is None else "POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            if exc.code in RETRY_STATUS:
                raise _Retryable(f"HTTP {exc.code}{detail}", _retry_after(exc)) from None
            hint = f" (is {self.api_key_env} set?)" if exc.code in (401, 403) else ""
            raise LLMGymError(f"openai policy: {url} answered HTTP {exc.code}{detail}{hint}") from None
        except urllib.error.URLError as exc:
            raise _Retryable(str(exc.reason)) from None
        except (TimeoutError, socket.timeout) as exc:
            raise _Retryable(f"no answer within {self.timeout:g} s ({exc})") from None
        except (ConnectionError, HTTPException, OSError) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise _Retryable(f"the answer is not JSON: {body[:120]!r}") from None

    def request(self, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        """POST `payload` (GET when None) to `base_url/path`, retrying transient failures."""
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                return self._once(path, payload)
            except _Retryable as exc:
                last = str(exc)
                if attempt == self.max_retries:
                    break
                delay = min(self.max_backoff, self.backoff * 2 ** attempt) * random.uniform(0.5, 1.0)
                if exc.retry_after is not None:
                    delay = min(self.max_backoff, max(delay, exc.retry_after))
                time.sleep(delay)  # backoff between retries, not synchronisation
        raise LLMGymError(f"openai policy: {self.base_url}/{path} failed after {self.max_retries + 1} attempt(s): "
                          f"{last}; is the server running?")

    @property
    def model(self) -> str:
        """The model name sent with each request (asked from `/v1/models` when not given)."""
        with self._lock:
            if self._model is None:
                listing = self.request("models")
                try:
                    self._model = str(listing["data"][0]["id"])
                except (KeyError, IndexError, TypeError):
                    raise LLMGymError(f"openai policy: {self.base_url}/models lists no model; pass model=NAME") from None
            return self._model

    # -- sampling ------------------------------------------------------------------------------
    def _payload(self, messages: Sequence[Mapping[str, str]], params: SamplingParams, seed: int | None) -> dict:
        payload: dict[str, Any] = {"model": self.model, "max_tokens": params.max_tokens,
                                   "temperature": params.temperature, "top_p": params.top_p}
        stop = list(params.stop)
        if self.api == "chat":
            payload["messages"] = [{"role": m["role"], "content": m["content"]} for m in messages]
        else:
            payload["prompt"] = render_prompt(messages, self.prompt_format)
            if self.prompt_format == "chatml":
                stop.insert(0, "<|im_end|>")  # first: the API keeps only four stop strings
        if stop:
            payload["stop"] = stop[:4]  # the OpenAI API takes at most four
        if seed is not None:
            payload["seed"] = seed
        return payload

    def _complete(self, payload: Mapping[str, Any]) -> Completion:
        path = "chat/completions" if self.api == "chat" else "completions"
        answer = self.request(path, payload)
        try:
            choice = answer["choices"][0]
            text = choice["message"].get("content") if self.api == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError, AttributeError):
            raise LLMGymError(f"openai policy: {self.base_url}/{path} gave no completion: {str(answer)[:200]}") from None
        usage = answer.get("usage") or {}
        return Completion(text=text or "", prompt_tokens=int(usage.get("prompt_tokens") or 0),
                          completion_tokens=int(usage.get("completion_tokens") or 0),
                          finish_reason=choice.get("finish_reason"))

    def generate(self, prompts: Sequence[Sequence[Mapping[str, str]]], n: int = 1,
                 params: SamplingParams | None = None) -> list[list[Completion]]:
        """`n` completions per chat prompt, requested concurrently; each completion's `seconds` is
        its share of the call's wall time, so tokens/s is the server's throughput as the bench saw it."""
        params = params or SamplingParams()
        _ = self.model  # resolve once, before the pool starts
        jobs = []
        for i, messages in enumerate(prompts):
            for _j in range(n):
                # Each request gets its own seed: a fixed seed on every request would make the k
                # samples of a task identical on servers that honour it.
                seed = None if params.seed is None else params.seed + next(self._seeds)
                jobs.append((i, self._payload(messages, params, seed)))
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(jobs)))) as pool:
            futures = [pool.submit(self._complete, payload) for _, payload in jobs]
            try:
                done = [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        share = (time.perf_counter() - started) / max(1, len(jobs))
        out: list[list[Completion]] = [[] for _ in prompts]
        for (i, _), c in zip(jobs, done):
            out[i].append(Completion(c.text, c.prompt_tokens, c.completion_tokens, share, c.finish_reason))
        return out


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
        message = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else body.get("error")
        message = message or body.get("detail") or body.get("message")
    except (ValueError, AttributeError, OSError):
        message = None
    return f": {str(message)[:200]}" if message else f" {exc.reason}" if exc.reason else ""


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
