"""The request-body limit against a real uvicorn on 127.0.0.1, whatever the headers say: a
chunked body (no ``Content-Length``) past :data:`~delegate.server.auth.MAX_BODY` is refused
with 413 as soon as the limit is passed, the connection is closed and the server reads no more;
a chunked body within the limit is taken as any other; a refusal, or a route that does not read
a body, does not keep the server reading it after its answer."""

from __future__ import annotations

import json
import select
import socket

import pytest

pytest.importorskip("uvicorn")
import httpx

from delegate.server import create_app
from delegate.server.auth import MAX_BODY
from tests.server._serve import AUTH, TOKEN, Gates, free_port, runtime_with, uvicorn_server

BODY = {"workflow": "general", "objective": "Owls", "model": "scripted:owls"}
CHUNK = 64 * 1024
#: bytes an upload sends at most before it stops and ends its body
MOST = 32 * MAX_BODY


@pytest.fixture
def port(tmp_path):
    port = free_port()
    app = create_app(str(tmp_path / "runs.db"), token=TOKEN, port=port, recover=False,
                     runtime=runtime_with(owls=Gates().model()))
    with uvicorn_server(app, port):
        yield port


def upload(port: int, method: str, path: str, token: str = TOKEN,
           ) -> tuple[int, dict[str, str], bytes, int]:
    """Send ``path`` a chunked body of ``x`` that never ends on its own, until the server
    answers (or :data:`MOST` bytes, then end it); then read until the server closes the
    connection. Returns the answer's status, headers and body, and the body bytes sent before
    the answer came."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(60)  # a server that never answers fails the test instead of hanging it
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")
    sent = 0
    with sock:
        sock.sendall(head.encode())
        chunk = f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
        try:
            while sent < MOST and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk)
                sent += CHUNK
            if sent >= MOST:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection: its answer is there to read
        raw = b""
        try:
            while data := sock.recv(65536):  # to the end: the server closes the connection
                raw += data
        except ConnectionResetError:
            pass
    head_, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head_.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body, sent


def test_a_chunked_body_past_the_limit_is_413_at_once_and_the_server_reads_no_more(port):
    status, headers, body, sent = upload(port, "POST", "/api/runs")
    assert status == 413, body
    assert json.loads(body)["error"] == {"code": "too_large",
                                         "message": "a request body is at most 1024 KiB"}
    assert headers["connection"] == "close"
    assert sent < MOST  # the answer came while the body was still being sent
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=60) as client:
        assert client.get("/api/health").json()["status"] == "ok"
        assert client.get("/api/runs").json()["runs"] == []  # nothing was started


def test_a_route_that_reads_no_body_closes_the_connection_after_its_answer(port):
    status, headers, body, sent = upload(port, "GET", "/api/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert headers["connection"] == "close" and sent < MOST


def test_a_refused_request_closes_the_connection_and_reads_no_body(port):
    status, headers, body, sent = upload(port, "POST", "/api/runs", token="x" * 26)
    assert status == 401 and json.loads(body)["error"]["code"] == "unauthorized"
    assert headers["connection"] == "close" and sent < MOST


def test_a_chunked_body_within_the_limit_is_taken(port):
    def chunks(data: bytes):
        for i in range(0, len(data), CHUNK):
            yield data[i:i + CHUNK]

    exact = json.dumps(BODY).encode()
    exact += b" " * (MAX_BODY - len(exact))  # the limit itself, in whitespace
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=60) as client:
        started = client.post("/api/runs", content=chunks(exact),
                              headers={"Content-Type": "application/json"})
        assert "content-length" not in started.request.headers  # sent chunked
        assert started.status_code == 202, started.text
        assert started.headers.get("connection") != "close"  # the body was read to its end
        bad = client.post("/api/runs", content=chunks(b'{"workflow": "general"}'),
                          headers={"Content-Type": "application/json"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
        over = client.post("/api/runs", content=json.dumps(BODY).encode() + b" " * MAX_BODY,
                           headers={"Content-Type": "application/json"})
        assert over.status_code == 413  # with Content-Length: refused before it is read
        assert client.get("/api/health").json()["status"] == "ok"
