"""`llmgym serve`: registered envs over HTTP for trainers on other machines (see docs/scale-out.md).

    llmgym serve --env math --env code                       # http://127.0.0.1:8000
    llmgym serve --env math --port 0                         # a free port, printed on the first line
    LLMGYM_SERVE_TOKEN=... llmgym serve --env math --host 0.0.0.0

The first line on stdout, once the server accepts requests, is `llmgym serve: listening on URL`.
SIGTERM stops accepting connections, finishes the requests in flight (up to --drain-seconds) and
exits 0.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import socket

from llmgym.errors import LLMGymError

TOKEN_ENV = "LLMGYM_SERVE_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", action="append", required=True, metavar="[NAME=]SPEC",
                        help="env to serve (repeatable): math, code, math:level=3, dataset:path=qa.jsonl; "
                             "NAME=SPEC serves it under another name (easy=math:level=1)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; any other needs a token, see --token-env)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--token-env", default=TOKEN_ENV, metavar="VAR",
                        help=f"environment variable holding the bearer token clients must send (default {TOKEN_ENV}); "
                             "unset means no token")
    parser.add_argument("--insecure-no-token", action="store_true",
                        help="allow binding a non-loopback address without a token (a private network only)")
    parser.add_argument("--max-body-bytes", type=int, default=8 << 20, help="largest request body (default 8 MiB)")
    parser.add_argument("--max-batch", type=int, default=1024,
                        help="most completions in one scoring request, and tasks in one draw (default 1024)")
    parser.add_argument("--max-sessions", type=int, default=256,
                        help="most live multi-turn sessions, HTTP and OpenEnv together (default 256)")
    parser.add_argument("--session-ttl", type=float, default=600.0,
                        help="seconds an idle session lives (default 600)")
    parser.add_argument("--drain-seconds", type=float, default=30.0,
                        help="on SIGTERM, how long requests in flight may take to finish (default 30)")
    parser.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"),
                        help="server log level; info also logs every request (default warning)")


def run(args: argparse.Namespace) -> int:
    for name in ("max_body_bytes", "max_batch", "max_sessions"):
        if getattr(args, name) < 1:
            raise LLMGymError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.session_ttl <= 0 or args.drain_seconds < 0:
        raise LLMGymError("--session-ttl must be > 0 and --drain-seconds >= 0")
    token = os.environ.get(args.token_env) or None
    if not _loopback(args.host) and token is None and not args.insecure_no_token:
        raise LLMGymError(f"--host {args.host} accepts connections from other machines: set a token in "
                          f"${args.token_env} (clients send 'Authorization: Bearer <token>'), or pass "
                          "--insecure-no-token on a private network")
    try:
        import uvicorn

        from .app import Settings, create_app
        from .catalog import Catalog
    except ImportError as exc:
        raise LLMGymError(f"llmgym serve needs FastAPI and uvicorn ({exc.name} is missing): "
                          "pip install 'llm-gym[serve]'") from None

    catalog = Catalog(args.env)
    settings = Settings(token=token, max_body_bytes=args.max_body_bytes, max_batch=args.max_batch,
                        max_sessions=args.max_sessions, session_ttl=args.session_ttl)
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    config = uvicorn.Config(create_app(catalog, settings), log_level=args.log_level,
                            access_log=args.log_level in ("debug", "info"),
                            timeout_graceful_shutdown=args.drain_seconds, ws_max_size=args.max_body_bytes,
                            lifespan="on")
    server = _announcing_server(config, url, list(catalog.envs))
    # uvicorn drains on SIGTERM and then re-raises it; with this handler in place that ends in exit 0.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    print("llmgym serve: stopped", flush=True)
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise LLMGymError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port "
                          "(0 picks a free one)") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _announcing_server(config, url: str, envs: list[str]):
    """uvicorn's server, printing its URL once it accepts requests (what scripts and tests wait for)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                print(f"llmgym serve: listening on {url} (envs: {', '.join(envs)})", flush=True)

    return Server(config)
