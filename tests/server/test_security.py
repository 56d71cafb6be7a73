"""The gate in front of every route: the token (header or cookie), the Host allow-list, the
Origin check, no CORS, and the refusals of an unsafe start."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from delegate.errors import UsageError
from delegate.server import create_app
from tests.server._serve import AUTH, TOKEN, Gates, runtime_with

BODY = {"workflow": "general", "objective": "Owls", "model": "scripted:owls"}


@pytest.fixture
def client(tmp_path):
    app = create_app(str(tmp_path / "runs.db"), token=TOKEN, recover=False,
                     runtime=runtime_with(owls=Gates().model()))
    with TestClient(app, base_url="http://127.0.0.1:8765", follow_redirects=False) as c:
        yield c


def code(answer) -> str:
    return answer.json()["error"]["code"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/health"), ("GET", "/api/runs"), ("GET", "/api/workflows"),
    ("POST", "/api/runs"), ("GET", "/api/runs/abcd/stream"), ("GET", "/api/runs/abcd/events"),
    ("GET", "/api/openapi.json"), ("POST", "/api/runs/abcd/cancel"),
])
def test_no_token_is_401_everywhere(client, method, path):
    answer = client.request(method, path, json=BODY if method == "POST" else None)
    assert answer.status_code == 401 and code(answer) == "unauthorized"
    wrong = client.request(method, path, headers={"Authorization": "Bearer " + "x" * 26})
    assert wrong.status_code == 401


def test_the_dashboard_and_its_files_need_the_token_too(client):
    for path in ("/", "/static/app.js", "/static/app.css"):
        answer = client.get(path)
        assert answer.status_code == 401, path
        assert TOKEN not in answer.text
    assert client.get("/", headers=AUTH).status_code == 200


def test_the_token_url_becomes_an_httponly_strict_cookie(client):
    bad = client.get("/", params={"token": "not-the-token-at-all"})
    assert bad.status_code == 401 and "set-cookie" not in bad.headers
    answer = client.get("/", params={"token": TOKEN})
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert client.get("/api/health").status_code == 200  # the cookie now authenticates
    page = client.get("/")
    assert page.status_code == 200 and TOKEN not in page.text


def test_a_foreign_host_is_421_even_with_the_token(client):
    for host in ("evil.example:8765", "127.0.0.1:9999", "localhost.evil.example:8765"):
        answer = client.get("/api/health", headers={**AUTH, "Host": host})
        assert answer.status_code == 421 and code(answer) == "misdirected_host"
    assert client.get("/api/health", headers={**AUTH, "Host": "localhost:8765"}).status_code \
        == 200


def test_a_cross_origin_post_is_403_and_a_same_origin_one_passes(client):
    evil = client.post("/api/runs", json=BODY, headers={**AUTH,
                                                         "Origin": "http://evil.example"})
    assert evil.status_code == 403 and code(evil) == "forbidden_origin"
    assert client.get("/api/runs", headers=AUTH).json()["runs"] == []  # nothing started
    ours = client.post("/api/runs", json=BODY,
                       headers={**AUTH, "Origin": "http://127.0.0.1:8765"})
    assert ours.status_code == 202
    # a GET from elsewhere carries no side effect; it still needs the token
    assert client.get("/api/health", headers={"Origin": "http://evil.example"}).status_code \
        == 401


def test_no_cors_headers_are_sent(client):
    answer = client.options("/api/runs", headers={
        **AUTH, "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert not any(h.lower().startswith("access-control-") for h in answer.headers)
    answer = client.get("/api/health", headers={**AUTH, "Origin": "http://evil.example"})
    assert not any(h.lower().startswith("access-control-") for h in answer.headers)


def test_an_unsafe_start_is_refused():
    with pytest.raises(UsageError, match="explicit token"):
        create_app(":memory:", host="0.0.0.0")
    with pytest.raises(UsageError, match="token must be"):
        create_app(":memory:", token="short")
    with pytest.raises(UsageError, match="token must be"):
        create_app(":memory:", token="x" * 20 + ";path=/")
    with pytest.raises(UsageError, match="port"):
        create_app(":memory:", port=70000)


def test_a_model_that_names_a_file_on_the_server_is_refused(client):
    for spec in ("local:/etc/passwd", "local:../../etc/shadow", "LOCAL:/x.gguf"):
        answer = client.post("/api/runs", json={**BODY, "model": spec}, headers=AUTH)
        assert answer.status_code == 422, spec
        assert "does not load model files" in answer.json()["error"]["message"]
    assert client.get("/api/runs", headers=AUTH).json()["runs"] == []


def test_a_wrong_token_is_told_apart_from_a_missing_one(client):
    wrong = client.get("/api/health", headers={"Authorization": "Bearer " + "x" * 26})
    assert wrong.json()["error"]["message"].startswith("the token is wrong")
    missing = client.get("/api/health")
    assert missing.json()["error"]["message"].startswith("a token is needed")


def test_a_huge_body_is_refused_before_it_is_read_and_junk_is_invalid(client):
    big = client.post("/api/runs", content=b"x" * (1024 * 1024 + 1),
                      headers={**AUTH, "Content-Type": "application/json"})
    assert big.status_code == 413 and code(big) == "too_large"
    junk = client.post("/api/runs", content=b"\xff\xfe\x00garbage",
                       headers={**AUTH, "Content-Type": "application/json"})
    assert junk.status_code in (400, 422) and code(junk) == "invalid_request"
    blank = client.post("/api/runs", json={**BODY, "objective": "   "}, headers=AUTH)
    assert blank.status_code == 422 and "empty" in blank.json()["error"]["message"]


def test_sequence_numbers_out_of_range_are_422_not_500(client):
    client.post("/api/runs/wait", json=BODY, headers=AUTH)
    run_id = client.get("/api/runs", headers=AUTH).json()["runs"][0]["run_id"]
    huge = "99999999999999999999999"
    answer = client.get(f"/api/runs/{run_id}/events", params={"after": huge}, headers=AUTH)
    assert answer.status_code == 422 and code(answer) == "invalid_request"
    for value in (huge, "-7", "banana"):
        answer = client.get(f"/api/runs/{run_id}/stream",
                            headers={**AUTH, "Last-Event-ID": value})
        assert answer.status_code == 422 and code(answer) == "invalid_request", value
