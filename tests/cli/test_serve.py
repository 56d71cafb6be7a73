"""``delegate serve``: every check before anything listens, the token, the address printed
once, and what uvicorn is handed (uvicorn.run is replaced: nothing listens here, and the
check that the address is free is replaced too but in the test of that check)."""

import socket
import sys

import pytest

from delegate.cli import serve
from delegate.cli.commands import main
from delegate.cli.serve import is_loopback

CHECK_FREE = serve.check_free


@pytest.fixture
def served(monkeypatch):
    """The calls ``delegate serve`` makes to ``uvicorn.run``, instead of serving."""
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setattr(serve, "check_free", lambda host, port: None)
    monkeypatch.delenv("DELEGATE_TOKEN", raising=False)
    return calls


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(("argv", "message"), [
    (["--port", "0"], "--port must be between 1 and 65535, not 0"),
    (["--port", "65536"], "--port must be between 1 and 65535, not 65536"),
    (["--port", "-80"], "--port must be between 1 and 65535"),
    (["--max-runs", "0"], "--max-runs must be at least 1, not 0"),
    (["--token", " "], "--token must not be empty"),
    (["--host", "0.0.0.0"], "--host 0.0.0.0 is reachable from other machines: give a token"),
    (["--host", "192.168.1.20"], "--host 192.168.1.20 is reachable from other machines"),
    (["--host", "example.org"], "--host example.org is reachable from other machines"),
])
def test_a_bad_command_line_is_one_line_and_exit_2_before_anything_listens(
        served, capsys, argv, message):
    assert main(["serve", *argv]) == 2
    assert message in _one_line(capsys.readouterr().err)
    assert served == []


def test_a_missing_server_extra_names_the_pip_command(served, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sse_starlette", None)  # import fails as if absent
    assert main(["serve"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "sse_starlette missing" in err and "pip install 'delegate[server]'" in err
    assert served == []


def test_serve_prints_its_address_once_and_runs_the_app_under_uvicorn(served, capsys):
    assert main(["serve", "--port", "9123", "--max-runs", "3", "--no-recover"]) == 0
    err = capsys.readouterr().err
    assert err.count("serving on") == 1
    line = _one_line(err).strip()
    assert line.startswith("delegate: serving on http://127.0.0.1:9123/?token=")
    token = line.rsplit("=", 1)[1]
    assert len(token) >= 32  # secrets.token_urlsafe(24)
    [(app, kw)] = served
    assert kw == {"host": "127.0.0.1", "port": 9123, "log_level": "warning"}
    assert app.state.token == token


def test_each_start_gets_a_new_token_unless_one_is_given(served, capsys, monkeypatch):
    for _ in range(2):
        assert main(["serve"]) == 0
    tokens = [app.state.token for app, _ in served]
    assert tokens[0] != tokens[1]
    assert main(["serve", "--token", "chosen-token-0123456789"]) == 0
    monkeypatch.setenv("DELEGATE_TOKEN", "env-token-0123456789abc")
    assert main(["serve"]) == 0
    assert main(["serve", "--token", "flag-wins-0123456789abc"]) == 0
    assert [app.state.token for app, _ in served[2:]] == [
        "chosen-token-0123456789", "env-token-0123456789abc", "flag-wins-0123456789abc"]
    assert capsys.readouterr().err.count("?token=env-token-0123456789abc") == 1


def test_a_chosen_token_lets_the_server_listen_beyond_loopback(served, capsys, monkeypatch):
    assert main(["serve", "--host", "0.0.0.0", "--token", "chosen-token-0123456789"]) == 0
    monkeypatch.setenv("DELEGATE_TOKEN", "env-token-0123456789abc")
    assert main(["serve", "--host", "0.0.0.0"]) == 0
    assert [kw["host"] for _, kw in served] == ["0.0.0.0", "0.0.0.0"]
    assert "serving on http://0.0.0.0:8765/?token=chosen-token-0123456789" in (
        capsys.readouterr().err)


def test_an_ipv6_loopback_address_is_written_in_brackets(served, capsys):
    assert main(["serve", "--host", "::1", "--port", "8800"]) == 0
    assert "serving on http://[::1]:8800/?token=" in capsys.readouterr().err
    assert served[0][1]["host"] == "::1"


def test_an_address_taken_by_another_server_is_one_line_before_anything_is_printed(
        served, capsys, monkeypatch):
    monkeypatch.setattr(serve, "check_free", CHECK_FREE)  # the real check, this once
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"cannot listen on 127.0.0.1:{port}: " in err and "serving on" not in err
    assert served == []


def test_a_token_the_server_refuses_is_one_line_before_anything_listens(served, capsys):
    assert main(["serve", "--token", "short"]) == 2
    _one_line(capsys.readouterr().err)
    assert served == []


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True), ("LOCALHOST", True),
    ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False), ("10.0.0.1", False),
    ("my-laptop", False),
])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("store", ["DIR", "junk://foo", "NOTDB"])
def test_a_store_that_cannot_be_opened_is_one_line_before_any_address(served, capsys, tmp_path,
                                                                     store):
    (tmp_path / "notdb.db").write_bytes(b"this is not a database at all" * 100)
    store = {"DIR": str(tmp_path), "NOTDB": str(tmp_path / "notdb.db")}.get(store, store)
    assert main(["serve", "--store", store]) in (1, 2)
    err = _one_line(capsys.readouterr().err)
    assert "serving on" not in err and "store" in err
    assert served == []
