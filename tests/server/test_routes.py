"""Every route of the API, its answers and its error codes, through FastAPI's test client on a
store of the test's own and a scripted model."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from delegate.durable.journal import Journal
from delegate.durable.store import open_store
from delegate.server import create_app
from tests.server._serve import AUTH, TOKEN, Gates, runtime_with

GENERAL = {"workflow": "general", "objective": "Tell me about owls", "model": "scripted:owls"}


@pytest.fixture
def gates() -> Gates:
    return Gates()


@pytest.fixture
def store_url(tmp_path):
    return str(tmp_path / "runs.db")


def make_client(store_url, gates, *, max_runs=2, hold=False) -> TestClient:
    runtime = runtime_with(owls=gates.model(), held=gates.model(hold=True))
    app = create_app(store_url, token=TOKEN, max_runs=max_runs, recover=False,
                     runtime=runtime)
    return TestClient(app, base_url="http://127.0.0.1:8765", headers=AUTH)


@pytest.fixture
def client(store_url, gates):
    with make_client(store_url, gates) as c:
        yield c
    gates.open()


def wait(client, body=GENERAL, **kw):
    answer = client.post("/api/runs/wait", json=body, **kw)
    assert answer.status_code == 200, answer.text
    return answer.json()


def error_of(answer, status, code):
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]
    return answer.json()["error"]["message"]


def test_health_and_workflows(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["store"] == "sqlite"
    assert health["max_runs"] == 2 and health["active"] == 0 and health["queued"] == 0
    flows = {w["name"]: w for w in client.get("/api/workflows").json()["workflows"]}
    assert set(flows) == {"general", "blog", "report", "project", "recommend"}
    assert flows["recommend"]["input_schema"]["required"] == ["workflow", "query"]
    assert flows["blog"]["input_schema"]["required"] == ["workflow", "objective"]
    assert "max_concurrency" in flows["general"]["input_schema"]["properties"]["options"][
        "properties"]
    assert client.get("/api/openapi.json").json()["paths"]["/api/runs"]


def test_a_run_from_start_to_its_report(client):
    started = client.post("/api/runs", json=GENERAL)
    assert started.status_code == 202
    run_id = started.json()["run_id"]
    assert started.json()["url"] == f"/api/runs/{run_id}"
    done = wait(client, {**GENERAL, "objective": "Owls again"})
    assert done["status"] == "succeeded" and done["local"] is False
    assert done["tasks"]["total"] == 2 and done["tasks"]["succeeded"] == 2
    assert done["plan"]["version"] == 1 and len(done["plan"]["tasks"]) == 2
    assert set(done["outcomes"]) == {"t1", "t2"}
    assert done["tokens"]["prompt"] > 0 and done["wall_seconds"] > 0
    assert done["critical_path_seconds"] is not None
    events = client.get(f"/api/runs/{done['run_id']}/events").json()
    kinds = [e["kind"] for e in events["events"]]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert events["last_seq"] == events["events"][-1]["seq"]
    later = client.get(f"/api/runs/{done['run_id']}/events",
                       params={"after": events["events"][1]["seq"]}).json()["events"]
    assert later == events["events"][2:]
    page = client.get(f"/api/runs/{done['run_id']}/report")
    assert page.headers["content-type"].startswith("text/html")
    assert "Owls again" in page.text
    dump = client.get(f"/api/runs/{done['run_id']}/export").json()
    assert dump["run_id"] == done["run_id"] and dump["model_calls"]
    by_prefix = client.get(f"/api/runs/{done['run_id'][:8]}").json()
    assert by_prefix["run_id"] == done["run_id"]


def test_idempotency_key_gives_the_same_run_and_refuses_another_body(client):
    key = {"Idempotency-Key": "form-1"}
    first = client.post("/api/runs", json=GENERAL, headers=key)
    again = client.post("/api/runs", json=GENERAL, headers=key)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["run_id"] == first.json()["run_id"]
    other = client.post("/api/runs", json={**GENERAL, "objective": "Bats"}, headers=key)
    error_of(other, 409, "conflict")
    runs = client.get("/api/runs").json()["runs"]
    assert [r["run_id"] for r in runs].count(first.json()["run_id"]) == 1


@pytest.mark.parametrize(("body", "names"), [
    ({"workflow": "poetry", "objective": "x"}, "workflow"),
    ({"workflow": "general"}, "objective"),
    ({"workflow": "recommend", "objective": "a jacket"}, "query"),
    ({"workflow": "general", "objective": ""}, "objective"),
    ({**GENERAL, "options": {"max_concurrency": 0}}, "options.max_concurrency"),
    ({**GENERAL, "options": {"colour": "red"}}, "options.colour"),
    ({**GENERAL, "workflow": "project", "options": {"strategy": "dynamic"}}, "options.strategy"),
    ({**GENERAL, "model": "nowhere:model"}, "nowhere"),
    ({**GENERAL, "budget": {"tokens": -1}}, "budget.tokens"),
    ({**GENERAL, "surprise": 1}, "surprise"),
])
def test_a_bad_body_is_422_naming_the_field_and_starts_nothing(client, body, names):
    message = error_of(client.post("/api/runs", json=body), 422, "invalid_request")
    assert names in message
    assert client.get("/api/runs").json()["runs"] == []


def test_errors_are_json_with_stable_codes(client):
    error_of(client.get("/api/runs/0123456789abcdef"), 404, "not_found")
    error_of(client.get("/api/nothing-here"), 404, "not_found")
    error_of(client.delete("/api/runs"), 405, "method_not_allowed")
    error_of(client.get("/api/runs", params={"status": "sleeping"}), 422, "invalid_request")
    error_of(client.get("/api/runs", params={"cursor": "!!"}), 422, "invalid_request")
    error_of(client.get("/api/runs", params={"limit": 0}), 422, "invalid_request")
    bad = client.post("/api/runs", content=b"{not json", headers={
        "Content-Type": "application/json"})
    error_of(bad, 422, "invalid_request")


def test_list_pages_newest_first_and_filters_by_status(client):
    ids = [wait(client, {**GENERAL, "objective": f"Owl {n}"})["run_id"] for n in range(3)]
    first = client.get("/api/runs", params={"limit": 2}).json()
    assert [r["run_id"] for r in first["runs"]] == ids[:0:-1]
    second = client.get("/api/runs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [r["run_id"] for r in second["runs"]] == ids[:1]
    assert second["next_cursor"] is None
    assert {r["status"] for r in client.get("/api/runs", params={
        "status": "succeeded"}).json()["runs"]} == {"succeeded"}
    assert client.get("/api/runs", params={"status": "failed"}).json()["runs"] == []
    row = first["runs"][0]
    assert row["tasks"]["succeeded"] == 2 and row["tokens"]["completion"] > 0


def test_cancel_a_running_run_then_resume_it(store_url, gates):
    with make_client(store_url, gates) as client:
        run_id = client.post("/api/runs", json={**GENERAL, "model": "scripted:held"}).json()[
            "run_id"]
        assert gates.held.wait(30)
        assert client.get(f"/api/runs/{run_id}").json()["status"] == "running"
        error_of(client.post(f"/api/runs/{run_id}/resume"), 409, "run_active")
        answer = client.post(f"/api/runs/{run_id}/cancel")
        assert answer.status_code == 202 and answer.json()["status"] == "cancelling"
        run = _ended(client, run_id)
        assert run["status"] == "cancelled"
        error_of(client.post(f"/api/runs/{run_id}/cancel"), 409, "run_not_active")
        gates.open()
        assert client.post(f"/api/runs/{run_id}/resume").status_code == 202
        run = _ended(client, run_id)
        assert run["status"] == "succeeded"
        error_of(client.post(f"/api/runs/{run_id}/resume"), 409, "already_succeeded")


def test_runs_above_max_runs_wait_in_order_and_a_queued_one_can_be_cancelled(store_url, gates):
    with make_client(store_url, gates, max_runs=1) as client:
        held = client.post("/api/runs", json={**GENERAL, "model": "scripted:held"}).json()
        assert gates.held.wait(30)
        second = client.post("/api/runs", json={**GENERAL, "objective": "Second"}).json()
        third = client.post("/api/runs", json={**GENERAL, "objective": "Third"}).json()
        assert second["status"] == third["status"] == "queued"
        assert client.get("/api/health").json()["queued"] == 2
        assert client.get(f"/api/runs/{second['run_id']}").json()["status"] == "queued"
        assert client.get("/api/runs", params={"status": "queued"}).json()["runs"][0][
            "run_id"] == third["run_id"]
        # a filtered page is filled from further down the store, and pages on from its last run
        running = client.get("/api/runs", params={"status": "running", "limit": 1}).json()
        assert [r["run_id"] for r in running["runs"]] == [held["run_id"]]
        page = client.get("/api/runs", params={"status": "queued", "limit": 1}).json()
        assert [r["run_id"] for r in page["runs"]] == [third["run_id"]] and page["next_cursor"]
        page = client.get("/api/runs", params={"status": "queued", "limit": 1,
                                               "cursor": page["next_cursor"]}).json()
        assert [r["run_id"] for r in page["runs"]] == [second["run_id"]]
        assert client.post(f"/api/runs/{second['run_id']}/cancel").status_code == 202
        assert _ended(client, second["run_id"])["status"] == "cancelled"
        calls_before = len(gates.calls)
        gates.open()
        assert _ended(client, held["run_id"])["status"] == "succeeded"
        assert _ended(client, third["run_id"])["status"] == "succeeded"
        # the cancelled run made no call; the third ran after the first
        assert not any("Second" in c for c in gates.calls)
        assert len(gates.calls) > calls_before


def test_a_run_another_process_owns_is_not_cancelled_or_resumed_here(client, store_url):
    store = open_store(store_url)
    journal = Journal.start(store, kind="general",
                            request={"command": "run", "objective": "x", "workflow": "general"})
    other = threading.Thread(target=_hold, args=(journal,))
    other.start()
    other.join()
    try:
        error_of(client.post(f"/api/runs/{journal.run_id}/cancel"), 409, "owned_elsewhere")
        error_of(client.post(f"/api/runs/{journal.run_id}/resume"), 409, "owned_elsewhere")
        assert client.get(f"/api/runs/{journal.run_id}").json()["status"] == "running"
    finally:
        store.close()


def _hold(journal):
    """Store ``journal``'s run under a live owner (this process) from a loop of its own."""
    import asyncio

    async def create():
        journal.create("held elsewhere")
        await journal.lease.flush()
        journal.lease.stop_heartbeat()

    asyncio.run(create())


def _ended(client, run_id):
    """The run once it has ended (the stream's ``end`` says when)."""
    with client.stream("GET", f"/api/runs/{run_id}/stream") as stream:
        for line in stream.iter_lines():
            if line == "event: end":
                break
    return client.get(f"/api/runs/{run_id}").json()


def test_a_model_that_fails_every_call_ends_the_run_failed_with_one_end(store_url):
    from delegate.errors import ModelRequestError
    from delegate.llm.scripted import ScriptedModel

    def refuse(call):
        return ModelRequestError("the provider refused the request", provider="scripted",
                                 model="broken")

    runtime = runtime_with(broken=ScriptedModel(function=refuse))
    app = create_app(store_url, token=TOKEN, recover=False, runtime=runtime)
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=AUTH) as client:
        run = wait(client, {**GENERAL, "model": "scripted:broken"})
        assert run["status"] == "failed"
        assert run["tasks"]["succeeded"] == 0
        with client.stream("GET", f"/api/runs/{run['run_id']}/stream") as stream:
            lines = list(stream.iter_lines())
        assert lines.count("event: end") == 1 and "event: RunFinished" in lines
        assert client.get("/api/health").json()["active"] == 0


def test_a_server_that_stops_cancels_its_runs_and_they_resume(store_url, gates):
    with make_client(store_url, gates) as client:
        run_id = client.post("/api/runs", json={**GENERAL, "model": "scripted:held"}).json()[
            "run_id"]
        assert gates.held.wait(30)
    assert open_store(store_url).get_run(run_id).status == "cancelled"  # nothing left running
    gates.open()
    with make_client(store_url, gates) as client:
        assert client.post(f"/api/runs/{run_id}/resume").status_code == 202
        assert _ended(client, run_id)["status"] == "succeeded"


def _dead_owner():
    """An owner whose process has exited (this host, a pid that is gone)."""
    import socket
    import subprocess
    import sys

    from delegate.durable.store.base import Owner

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return Owner("dead-owner", socket.gethostname(), proc.pid)


def _stored_run(store_url, request, *, status=None):
    """A run in the store, owned by a process that died (or given up with ``status``)."""
    import uuid

    from delegate.durable.store.base import RunRecord

    store = open_store(store_url)
    owner = _dead_owner()
    run_id = uuid.uuid4().hex
    store.create_run(RunRecord(run_id=run_id, kind="general", objective="Owls",
                               request=request), owner)
    if status is not None:
        store.release(run_id, owner, status=status)
    store.close()
    return run_id


REQUEST = {"command": "run", "objective": "Owls", "workflow": "general",
           "model": "scripted:owls"}


@pytest.mark.parametrize("recover", [True, False])
def test_a_run_whose_owner_died_is_carried_on_at_start_unless_told_not_to(store_url, gates,
                                                                          recover):
    run_id = _stored_run(store_url, REQUEST)
    runtime = runtime_with(owls=gates.model())
    app = create_app(store_url, token=TOKEN, recover=recover, runtime=runtime)
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=AUTH) as client:
        if recover:
            assert _ended(client, run_id)["status"] == "succeeded"
        else:
            assert client.get(f"/api/runs/{run_id}").json()["status"] == "interrupted"
            assert client.get("/api/runs", params={"status": "interrupted"}).json()["runs"][0][
                "run_id"] == run_id
    assert bool(gates.calls) is recover


def test_a_run_that_read_files_is_not_resumed_by_the_server(client, store_url):
    with_inputs = {**REQUEST, "inputs": [{"path": "/data/sales.csv", "sha256": "0" * 64}]}
    run_id = _stored_run(store_url, with_inputs, status="failed")
    message = error_of(client.post(f"/api/runs/{run_id}/resume"), 409, "not_resumable")
    assert "delegate runs resume" in message
    broken = _stored_run(store_url, {"argv": ["run", "x"]}, status="failed")
    error_of(client.post(f"/api/runs/{broken}/resume"), 409, "not_resumable")


def test_a_failing_route_is_500_and_a_failing_store_is_503(store_url, gates, monkeypatch):
    from delegate.errors import StoreError
    from delegate.server import routes

    def broken(name):
        raise RuntimeError("a bug")

    monkeypatch.setattr(routes, "input_schema", broken)
    app = create_app(store_url, token=TOKEN, recover=False, runtime=runtime_with())
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=AUTH,
                    raise_server_exceptions=False) as client:
        message = error_of(client.get("/api/workflows"), 500, "internal")
        assert "a bug" not in message
        store = app.state.store

        def down(*args, **kwargs):
            raise StoreError("run store sqlite:///x failed: disk I/O error")

        monkeypatch.setattr(store, "list_runs", down)
        error_of(client.get("/api/runs"), 503, "store_unavailable")


def test_a_quiet_stream_sends_keep_alive_comments(store_url, gates, monkeypatch):
    from delegate.server import routes

    monkeypatch.setattr(routes, "KEEP_ALIVE", 0.05)
    with make_client(store_url, gates) as client:
        run_id = client.post("/api/runs", json={**GENERAL, "model": "scripted:held"}).json()[
            "run_id"]
        assert gates.held.wait(30)
        comments = []
        bound = threading.Timer(30, gates.open)  # without keep-alives the run ends, unseen
        bound.start()
        with client.stream("GET", f"/api/runs/{run_id}/stream") as stream:
            for line in stream.iter_lines():
                if line.startswith(":"):
                    comments.append(line)
                    break
        bound.cancel()
        assert comments == [": keep-alive"]
        gates.open()
        assert _ended(client, run_id)["status"] == "succeeded"


def test_a_waiting_run_answered_while_no_server_ran_it_is_carried_on_at_start(store_url, gates):
    """Answered with ``delegate runs answer`` (here: the store) while the server was down."""
    import asyncio

    from delegate import RunConfig
    from delegate.apps.workflows import run_workflow

    store = open_store(store_url)
    journal = Journal.start(store, kind="general", request={
        "command": "run", "objective": "Owls", "workflow": "general", "model": "scripted:owls",
        "approve_plan": True})
    waiting = asyncio.run(run_workflow("general", "Owls", model=gates.model(),
                                       config=RunConfig(approve_plan=True), journal=journal))
    assert waiting.run.status == "waiting"
    unanswered = _stored_run(store_url, {**REQUEST, "approve_plan": True}, status="waiting")
    store.add_interrupt(unanswered, {"interrupt_id": "plan:1", "kind": "plan_approval"})
    store.answer_interrupt(journal.run_id, "plan:1", {"action": "approve"}, by="ana")
    store.close()
    runtime = runtime_with(owls=gates.model())
    app = create_app(store_url, token=TOKEN, runtime=runtime)
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=AUTH) as client:
        assert _ended(client, journal.run_id)["status"] == "succeeded"
        assert client.get(f"/api/runs/{unanswered}").json()["status"] == "waiting"
