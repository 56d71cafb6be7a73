"""``delegate runs list|show|cancel|follow --server URL`` against the real server under uvicorn
(see tests/test_client.py): the same output as from the store, a progress line per event,
the exit codes, and one line for every error."""

from __future__ import annotations

import json

import pytest

from delegate.cli.commands import main
from delegate.cli.remote import event_line
from tests.test_client import (
    TOKEN,
    Gate,
    held_run,
    live_server,
    refusing_port,
    scripted,
    start,
)


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_list_and_show_print_what_they_print_from_the_store(tmp_path, capsys):
    with live_server(tmp_path) as live, live.client() as client:
        first = start(client, "Write a note about owls")
        list(client.follow(first))
        second = start(client, "Write a note about cats")
        list(client.follow(second))
        server = ["--server", live.url, "--token", TOKEN]
        for argv in (["list"], ["list", "--json"], ["list", "--limit", "1"],
                     ["show", first], ["show", second, "--json"]):
            code, remote, err = _cli(capsys, "runs", *argv, *server)
            assert (code, err) == (0, "")
            code, local, _ = _cli(capsys, "runs", *argv, "--store", live.store)
            assert code == 0
            assert remote == local, argv
    shown = json.loads(local)
    assert shown["run_id"] == second and shown["status"] == "succeeded"
    assert [o["task_id"] for o in shown["outcomes"]] == ["t1", "t2"]


def test_list_through_the_server_is_newest_first_and_limited(tmp_path, capsys):
    with live_server(tmp_path) as live, live.client() as client:
        ids = [start(client, f"Write note {i}") for i in range(3)]
        for run_id in ids:
            list(client.follow(run_id))
        code, out, _ = _cli(capsys, "runs", "list", "--json", "--limit", "2",
                            "--server", live.url, "--token", TOKEN)
    assert code == 0
    assert [r["run_id"] for r in json.loads(out)["runs"]] == ids[::-1][:2]


def test_follow_prints_a_line_per_event_and_exits_0_when_the_run_succeeds(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.setenv("DELEGATE_TOKEN", TOKEN)  # the token's default
    with live_server(tmp_path) as live, live.client() as client:
        run_id = start(client)
        code, out, err = _cli(capsys, "runs", "follow", run_id, "--server", live.url)
        stored = client.events(run_id)["events"]
    assert code == 0
    lines = out.splitlines()
    assert lines == [event_line(e) for e in stored]
    assert [line.split()[1] for line in lines] == [e["kind"] for e in stored]
    assert any(line.split()[1:] == ["TaskFinished", "t1", "[researcher]", "succeeded"]
               for line in lines)
    assert err == f"delegate: run {run_id} ended: succeeded\n"


def test_follow_exits_1_when_the_run_fails_and_shows_the_errors(tmp_path, capsys):
    with live_server(tmp_path, scripted(fail=True)) as live, live.client() as client:
        run_id = start(client)
        code, out, err = _cli(capsys, "runs", "follow", run_id, "--server", live.url,
                              "--token", TOKEN)
    assert code == 1
    failed = [line for line in out.splitlines() if line.split()[1] == "TaskFailed"]
    assert len(failed) == 2
    assert all("failed: ModelRequestError: the scripted model refuses this task" in line
               for line in failed)
    assert err == f"delegate: run {run_id} ended: failed\n"


def test_cancel_stops_the_run_and_a_second_cancel_is_refused(tmp_path, capsys):
    gate = Gate()
    with live_server(tmp_path, scripted(hold=True, gate=gate), gate) as live, \
            live.client() as client:
        run_id = held_run(live, client)
        server = ["--server", live.url, "--token", TOKEN]
        code, out, err = _cli(capsys, "runs", "cancel", run_id, *server)
        assert (code, out, err) == (0, "", f"delegate: run {run_id} is cancelling\n")
        code, _, err = _cli(capsys, "runs", "follow", run_id, *server)
        assert (code, err.splitlines()[-1]) == (1, f"delegate: run {run_id} ended: cancelled")
        code, out, err = _cli(capsys, "runs", "cancel", run_id, "--json", *server)
    assert code == 2
    assert "is not running" in _one_line(err)
    assert json.loads(out)["error"] == err.removeprefix("delegate: error: ").strip()


@pytest.mark.parametrize(("argv", "message"), [
    (["runs", "cancel", "abc"], "delegate runs cancel needs --server URL"),
    (["runs", "follow", "abc"], "delegate runs follow needs --server URL"),
    (["runs", "list", "--server", "127.0.0.1:8765"], "not a server URL"),
    (["runs", "list", "--server", "http://127.0.0.1:8765", "--store", "x.db"],
     "--store and --server do not go together"),
])
def test_a_remote_command_without_what_it_needs_is_one_line_and_exit_2(capsys, argv, message):
    code, _, err = _cli(capsys, *argv)
    assert code == 2 and message in _one_line(err)


def test_a_wrong_token_or_an_unknown_run_is_one_line_and_exit_2(tmp_path, capsys):
    with live_server(tmp_path) as live:
        code, _, err = _cli(capsys, "runs", "list", "--server", live.url, "--token",
                            "wrong-token-0123456789")
        assert code == 2 and "token" in _one_line(err)
        code, _, err = _cli(capsys, "runs", "show", "f" * 32, "--server", live.url,
                            "--token", TOKEN)
        assert code == 2 and "no run" in _one_line(err)


def test_an_unreachable_server_is_one_line_and_exit_1(capsys):
    sock, port = refusing_port()
    with sock:
        code, _, err = _cli(capsys, "runs", "follow", "abc", "--server",
                            f"http://127.0.0.1:{port}", "--token", TOKEN)
    assert code == 1
    assert f"cannot reach the delegate server at http://127.0.0.1:{port}" in _one_line(err)


def test_an_event_line_has_the_time_kind_task_worker_status_and_error():
    at = 1_700_000_000.0
    line = event_line({"seq": 3, "kind": "TaskFailed", "data": {
        "at": at, "task_id": "t2",
        "outcome": {"task_id": "t2", "worker": "writer", "status": "failed",
                    "error": "ValueError:  bad\nthing"}}})
    clock, rest = line.split(" ", 1)
    assert len(clock) == 8 and clock.count(":") == 2
    assert rest.split() == ["TaskFailed", "t2", "[writer]", "failed:", "ValueError:", "bad",
                            "thing"]
    assert event_line({"kind": "RunFinished", "data": {"result": {"status": "partial"}}}) \
        .split() == ["--:--:--", "RunFinished", "partial"]
