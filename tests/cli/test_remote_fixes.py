"""``delegate runs ... --server URL`` when things go wrong: a server that goes away while a run
is followed (one line when the stream is lost, one when the server is back, a give-up after
:data:`~delegate.cli.remote.PATIENCE` seconds without one), a run that stops to wait for an
answer (exit 3 and where to answer), and a URL, run id or page that cannot be the API's (one
line, no bare ``Not Found``).

The server that goes away is an ``httpx.MockTransport`` and the clock a fake one, so nothing
waits; the rest runs against the real server (see tests/test_client.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import delegate.client
from delegate.cli.commands import main
from delegate.cli.remote import PATIENCE, event_line
from delegate.client import Client
from tests.test_client import TOKEN, live_server, refusing_port

URL = "http://127.0.0.1:8765"


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class Clock:
    """Stands for the client's ``time``: ``sleep`` moves ``now`` on at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def _event(seq: int, kind: str = "TaskStarted") -> bytes:
    return f"id: {seq}\nevent: {kind}\ndata: {json.dumps({'task_id': f't{seq}'})}\n\n".encode()


class _Broken(httpx.SyncByteStream):
    """``body``, then a read error: the server died mid-stream."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        yield self.body
        raise httpx.ReadError("the connection was reset")


def _server(streams: list[Callable[[], httpx.Response]]) -> tuple[list[str | None], Any]:
    """A transport answering the i-th stream request with ``streams[i]()`` (refusing the
    connection past the list) and what each asked for (its ``Last-Event-ID``)."""
    asked: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers.get("last-event-id"))
        if len(asked) > len(streams):
            raise httpx.ConnectError("[Errno 111] Connection refused")
        return streams[len(asked) - 1]()

    return asked, httpx.MockTransport(handler)


def _sse(body: bytes, *, broken: bool = False) -> Callable[[], httpx.Response]:
    headers = {"content-type": "text/event-stream"}
    if broken:
        return lambda: httpx.Response(200, headers=headers, stream=_Broken(body))
    return lambda: httpx.Response(200, headers=headers, content=body)


def _refused() -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused")


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(delegate.client, "time", fake)
    return fake


def _through(monkeypatch, transport: Any) -> None:
    """Make the CLI's clients send through ``transport``."""

    class Mocked(Client):
        def __init__(self, url: str, token: str | None = None, **kw: Any) -> None:
            super().__init__(url, token, transport=transport, **kw)

    monkeypatch.setattr(delegate.client, "Client", Mocked)


# a server that goes away
def test_follow_says_when_the_server_goes_away_and_when_it_is_back(monkeypatch, capsys,
                                                                   clock):
    asked, transport = _server([
        _sse(_event(0) + _event(1), broken=True), _refused, _refused,
        _sse(_event(0) + _event(1) + _event(2) + b'event: end\ndata: {"status": '
             b'"succeeded"}\n\n')])
    _through(monkeypatch, transport)
    code, out, err = _cli(capsys, "runs", "follow", "abcd", "--server", URL, "--token", TOKEN)
    assert code == 0
    assert asked == [None, "1", "1", "1"]
    assert [line.split()[2] for line in out.splitlines()] == ["t0", "t1", "t2"]  # no twice
    assert err.splitlines() == [
        "delegate: the server went away; reconnecting (Ctrl-C to stop)",
        "delegate: the server is back; following run abcd again",
        "delegate: run abcd ended: succeeded"]


def test_follow_gives_up_after_its_patience_without_a_server(monkeypatch, capsys, clock):
    asked, transport = _server([_sse(_event(0), broken=True)])
    _through(monkeypatch, transport)
    code, out, err = _cli(capsys, "runs", "follow", "abcd", "--server", URL, "--token", TOKEN)
    assert code == 1
    assert [line.split()[1] for line in out.splitlines()] == ["TaskStarted"]
    lost, gave_up = err.splitlines()
    assert lost == "delegate: the server went away; reconnecting (Ctrl-C to stop)"
    assert gave_up == (
        f"delegate: error: no delegate server answered at {URL} for {PATIENCE:.0f} s while "
        "following run abcd; last: [Errno 111] Connection refused; when the server is back: "
        f"delegate runs follow abcd --server {URL}")
    assert clock.now == PATIENCE  # not the two and a half minutes of the library's default
    assert 5 < len(asked) < 15


def test_the_library_keeps_its_long_patience_and_tells_of_a_loss_once(clock):
    asked, transport = _server([_sse(_event(0), broken=True)])
    told: list[str] = []
    with Client(URL, TOKEN, transport=transport) as client, \
            pytest.raises(delegate.client.ServerError) as info:
        for _ in client.follow("abcd", on_lost=told.append, on_back=lambda: told.append("")):
            pass
    assert info.value.code == "connection_lost"
    assert "lost 41 times in a row" in str(info.value)
    assert told == ["the connection was reset"]  # once, however many tries followed
    assert len(asked) == 41 and clock.now > 120  # the first stream and 40 tries


# a run that waits for an answer
def test_follow_of_a_run_waiting_for_an_answer_exits_3_and_says_where_to_answer(tmp_path,
                                                                               capsys):
    with live_server(tmp_path) as live, live.client() as client:
        run_id = client.start("general", "Write a note about owls", model="scripted:demo",
                              options={"approve_plan": True})["run_id"]
        server = ["--server", live.url, "--token", TOKEN]
        code, out, err = _cli(capsys, "runs", "follow", run_id, *server)
        assert code == 3
        assert err.count("\n") == 1 and "Traceback" not in err
        assert err == (
            f"delegate: run {run_id} is waiting for an answer to plan:1 (plan approval); "
            f"answer on the dashboard, {live.url}/#/runs/{run_id}, or with POST {live.url}"
            f"/api/runs/{run_id}/interrupts/plan:1 with {{\"action\": \"approve\"}} (or "
            "\"reject\" and a \"reason\"); the server carries the run on once it is answered "
            f"(follow it: delegate runs follow {run_id} --server {live.url})\n")
        assert "InterruptRaised" in [line.split()[1] for line in out.splitlines()]
        assert client.answer(run_id, "plan:1", {"action": "approve"})["resumed"] is True
        code, _, err = _cli(capsys, "runs", "follow", run_id, *server)
        stored = client.events(run_id)["events"]
    assert (code, err) == (0, f"delegate: run {run_id} ended: succeeded\n")
    assert event_line(stored[-1]).split()[1] == "RunFinished"


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
