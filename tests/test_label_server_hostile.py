"""The label server under hostile requests: the real server on 127.0.0.1, raw HTTP over a socket.

Every refused request gets its status and a one-line `{"error"}`, the server answers the next
normal request, and the rankings file is exactly as before (nothing ranked, nothing undone). The
Host/Origin rule: `Host` must be `127.0.0.1:PORT` or `localhost:PORT`, and a POST must carry
`Origin: http://` one of those; anything else, a missing `Origin` included, is 403.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest

import llmgym
from llmgym.rlhf import rankings as rk
from llmgym.rlhf.label_server import MAX_BODY, LabelSession, build_queue, make_server

K = 4


def numbered_sampler(prompts, k, tasks):
    return [[f"sample {j} of {t.id[:6]}" for j in range(k)] for t in tasks]


class Server:
    """A label server with one item already ranked (so an undo would have something to delete)."""

    def __init__(self, tmp_path):
        self.out = tmp_path / "rankings.jsonl"
        self.items = build_queue(llmgym.make("rlhf"), numbered_sampler, 3, K)
        self.server = make_server(LabelSession(self.out, self.items, "human:t"), 0)
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        status, state = self.request("POST", "/api/rank", {"item": self.items[0]["item"], "ranking": [3, 2, 1, 0]})
        assert status == 200 and state["done"] == 1
        self.before = self.out.read_bytes()

    def raw(self, head: str, body: bytes = b"", *, end_body: bool = False) -> tuple[int, dict]:
        """Send `head` (request line and headers, CRLF-separated, no blank line) and `body` as given."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)
            if end_body:
                sock.shutdown(socket.SHUT_WR)
            # The timeout fails the test if the server waits for bytes it should not read.
            res = http.client.HTTPResponse(sock)
            res.begin()
            return res.status, json.loads(res.read())

    def request(self, method: str, path: str, body=None, *, host: str | None = "",
                origin: str | None = "") -> tuple[int, dict]:
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        lines = [f"{method} {path} HTTP/1.1"]
        host = f"127.0.0.1:{self.port}" if host == "" else host
        origin = self.origin if origin == "" else origin
        if host is not None:
            lines.append(f"Host: {host}")
        if origin is not None:
            lines.append(f"Origin: {origin}")
        if method == "POST":
            lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        return self.raw("\r\n".join(lines), data)

    def assert_unharmed(self) -> None:
        """The server still answers, and the rankings file is what it was before the refused request."""
        status, state = self.request("GET", "/api/state")
        assert status == 200 and state["done"] == 1 and state["item"]["item"] == self.items[1]["item"]
        assert self.out.read_bytes() == self.before

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("label"))
    yield s
    s.stop()


@pytest.fixture
def served(server):
    # The session reads its state from the file, so restoring the file restores the session.
    server.out.write_bytes(server.before)
    return server


def refused(answer: tuple[int, dict], status: int, words: str) -> None:
    code, body = answer
    assert code == status, body
    assert set(body) == {"error"} and "\n" not in body["error"] and words in body["error"], body


def post_head(s: Server, path: str, *extra: str) -> str:
    return "\r\n".join([f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{s.port}", f"Origin: {s.origin}",
                        "Content-Type: application/json", *extra])


# -- lengths and bodies ---------------------------------------------------------------------------
def test_a_negative_content_length_is_refused_without_reading_to_the_end(served):
    # Before, -1 meant "read until the client closes": the socket stays open here, so a server that
    # still did that would never answer.
    refused(served.raw(post_head(served, "/api/undo", "Content-Length: -1"), b"{}" + b" " * 65536),
            400, "Content-Length must be a number")
    served.assert_unharmed()


@pytest.mark.parametrize("length", ["200000000", str(MAX_BODY + 1), "99999999999999999999"])
def test_a_body_over_the_cap_is_413_and_the_excess_is_never_read(served, length):
    # Only 64 KiB of the announced body is ever sent: the answer must come from the header alone.
    answer = served.raw(post_head(served, "/api/undo", f"Content-Length: {length}"), b" " * 65536)
    refused(answer, 413 if len(length) <= 15 else 400, "over the limit" if len(length) <= 15 else "Content-Length")
    served.assert_unharmed()


@pytest.mark.parametrize("extra, words, status", [
    (["Content-Length: abc"], "Content-Length must be a number", 400),
    (["Content-Length: 2", "Content-Length: 3"], "different values", 400),
    (["Transfer-Encoding: chunked"], "Content-Length", 411),
])
def test_malformed_lengths_are_refused(served, extra, words, status):
    refused(served.raw(post_head(served, "/api/undo", *extra), b"2\r\n{}\r\n0\r\n\r\n"), status, words)
    served.assert_unharmed()


def test_a_body_shorter_than_its_content_length_is_400(served):
    answer = served.raw(post_head(served, "/api/undo", "Content-Length: 100"), b"{}", end_body=True)
    refused(answer, 400, "ended after 2 of 100 bytes")
    served.assert_unharmed()


@pytest.mark.parametrize("path, body, words", [
    ("/api/undo", b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    ("/api/undo", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nests too deeply"),
    ("/api/undo", b"{not json", "not JSON"),
    ("/api/undo", b"\xff\xfe{}", "not JSON"),
    ("/api/undo", b"[]", "must be a JSON object"),
    ("/api/rank", {"item": "ITEM", "ranking": 5}, "ranking must be a list"),
    ("/api/rank", {"item": "ITEM", "ranking": True}, "ranking must be a list"),
    ("/api/rank", {"item": "ITEM", "ranking": "3210"}, "ranking must be a list"),
    ("/api/rank", {"item": "ITEM"}, "ranking must be a list"),
    ("/api/rank", {"item": "ITEM", "ranking": [7, 8, 9, 10]}, "ranking index 7 is not in 0..3"),
    ("/api/rank", {"item": "ITEM", "ranking": [{"i": 0}, 1, 2, 3]}, "is not in 0..3"),
    ("/api/rank", {"item": "ITEM", "ranking": [[], 0, 1, 2, 3]}, "empty tie group"),
    ("/api/rank", {"item": ["ITEM", "0123456789abcdef"], "ranking": [0, 1, 2, 3]}, "item must be the id string"),
    ("/api/rank", {"item": "0123456789abcdef", "ranking": [0, 1, 2, 3]}, "not the one waiting"),
    ("/api/skip", {"item": 5}, "item must be the id string"),
    ("/api/skip", {"item": True}, "item must be the id string"),
])
def test_bad_bodies_are_400_with_one_line_and_write_nothing(served, path, body, words):
    if isinstance(body, dict) and body.get("item") == "ITEM":
        body["item"] = served.items[1]["item"]  # the waiting item: only the ranking is wrong
    refused(served.request("POST", path, body), 400, words)
    served.assert_unharmed()


def test_an_unknown_path_is_404_before_its_body_is_read(served):
    refused(served.raw(post_head(served, "/api/drop", "Content-Length: 500000"), b"{"), 404, "not found")
    served.assert_unharmed()


# -- who is asking -----------------------------------------------------------------------------------
@pytest.mark.parametrize("host, origin, words", [
    ("", "http://evil.example", "Origin 'http://evil.example' is not this server's page"),
    ("", "null", "Origin 'null'"),  # a sandboxed frame or a file:// page
    ("", "https://127.0.0.1:{port}", "is not this server's page"),  # another scheme is another origin
    ("", "http://127.0.0.1:1", "is not this server's page"),  # another port is another origin
    ("", "http://127.0.0.1:{port}.evil.example", "is not this server's page"),
    ("", None, "a POST needs the header Origin"),  # an old browser's cross-site form looks like this
    ("evil.example:{port}", "http://evil.example:{port}", "Host 'evil.example:"),  # DNS rebinding
    ("evil.example:{port}", "", "Host 'evil.example:"),
    ("127.0.0.1:{port}.evil.example", "", "is not this server"),
    (None, "", "no Host header"),
])
@pytest.mark.parametrize("path", ["/api/undo", "/api/rank", "/api/skip"])
def test_foreign_host_or_origin_is_403_and_changes_nothing(served, path, host, origin, words):
    fill = {"port": served.port}
    body = {"item": served.items[1]["item"], "ranking": [0, 1, 2, 3]} if path != "/api/undo" else {}
    answer = served.request("POST", path, body, host=host if not host else host.format(**fill),
                            origin=origin if not origin else origin.format(**fill))
    refused(answer, 403, words)
    served.assert_unharmed()


@pytest.mark.parametrize("host", ["evil.example:{port}", "evil.example", None])
def test_a_page_read_under_a_foreign_host_is_403(served, host):
    # A rebinding page could otherwise read the prompts and samples from its own origin.
    for path in ("/", "/api/state"):
        code, body = served.request("GET", path, host=host and host.format(port=served.port), origin=None)
        assert code == 403 and "Host" in body["error"]
    served.assert_unharmed()


def test_same_origin_posts_from_localhost_and_127_0_0_1_pass(served):
    local = f"localhost:{served.port}"
    status, state = served.request("POST", "/api/undo", {}, host=local, origin=f"http://{local}")
    assert status == 200 and state["done"] == 0 and not served.out.read_text().strip()
    status, state = served.request("POST", "/api/skip", {"item": served.items[0]["item"]},
                                   host=f"LOCALHOST:{served.port}", origin=served.origin)
    assert status == 200 and state["skipped"] == 1
    status, state = served.request("POST", "/api/undo")  # an empty body means {}
    assert status == 200 and state["done"] == 0
    assert rk.read(served.out, strict=True) == []
