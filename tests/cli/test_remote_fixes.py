"""``delegate runs ... --server URL`` when things go wrong: a server that goes away while a run
is followed (one line when the stream is lost, one when the server is back, a give-up after
:data:`~delegate.cli.remote.PATIENCE` seconds without one), a run that stops to wait for an
answer (exit 3 and where to answer), and a URL, run id or page that cannot be the API's (one
line, no bare ``Not Found``).

The server that goes away is an ``httpx.MockTransport`` and the clock a fake one, so nothing
waits; the rest runs against the real server (see tests/test_client.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import delegate.client
from delegate.cli.commands import main
from delegate.client import Client
from tests.test_client import TOKEN, live_server, refusing_port

URL = "http://127.0.0.1:8765"


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _through(monkeypatch, transport: Any) -> None:
    """Make the CLI's clients send through ``transport``."""

    class Mocked(Client):
        def __init__(self, url: str, token: str | None = None, **kw: Any) -> None:
            super().__init__(url, token, transport=transport, **kw)

    monkeypatch.setattr(delegate.client, "Client", Mocked)


# what cannot be the API's
@pytest.mark.parametrize(("argv", "message"), [
    (["list", "--server", "http://127.0.0.1:{port}/api"],
     "--server takes the server's address, like http://127.0.0.1:8765, not a page of it: "
     "'http://127.0.0.1:{port}/api'"),
    (["show", "", "--server", "http://127.0.0.1:{port}/"], "a run id is needed, not ''"),
    (["show", "../../etc", "--server", "http://127.0.0.1:{port}"],
     "not a run id: '../../etc'"),
    (["follow", "..", "--server", "http://127.0.0.1:{port}"], "not a run id: '..'"),
])
def test_a_server_url_with_a_path_or_a_run_id_that_cannot_be_one_is_refused_here(
        capsys, argv, message):
    sock, port = refusing_port()  # a request would be "cannot reach", exit 1
    with sock:
        code, _, err = _cli(capsys, "runs", *[a.format(port=port) for a in argv],
                            "--token", TOKEN)
    assert (code, err) == (2, f"delegate: error: {message.format(port=port)}\n")


def test_a_page_the_server_does_not_have_is_not_a_bare_not_found(tmp_path, capsys,
                                                                monkeypatch):
    with live_server(tmp_path) as live, Client(live.url + "/elsewhere", TOKEN) as client, \
            pytest.raises(delegate.client.ServerError) as info:
        client.health()  # the library takes a path prefix (a proxy's); this server has none
    assert (info.value.code, info.value.status, str(info.value)) == (
        "not_found", 404, f"the server at {live.url}/elsewhere has no such page (is it a "
        "delegate server?)")
    _through(monkeypatch, httpx.MockTransport(
        lambda request: httpx.Response(404, html="<h1>Not Found</h1>")))
    code, _, err = _cli(capsys, "runs", "show", "abcd", "--server", URL, "--token", TOKEN)
    assert (code, err) == (2, f"delegate: error: the server at {URL} has no such page (is it "
                              "a delegate server?)\n")
