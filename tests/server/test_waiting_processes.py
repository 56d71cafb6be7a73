"""A run waiting for a person, with real processes: ``delegate serve`` runs it until it
waits for its plan's approval and is killed with SIGKILL there; another process answers with
``delegate runs answer``, a third carries it on with ``delegate runs resume``. The model
server, outside every delegate process, logs each call: no model call is made twice, and the
plan the person approved is the plan that ran."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.cli.test_durable_cli import OBJECTIVE, ModelServer, delegate, env_for
from tests.server._serve import free_port
from tests.server.test_recovery import AUTH, Serve


@pytest.fixture
def model(tmp_path):
    server = ModelServer(tmp_path / "calls.jsonl")
    yield server
    server.close()


def test_killed_while_waiting_answered_elsewhere_resumed_with_no_call_made_twice(model,
                                                                                 tmp_path):
    env = env_for(model)
    store = tmp_path / "runs.db"
    serve = Serve(free_port(), store, env, tmp_path / "serve.log")
    serve.start()
    try:
        with httpx.Client(base_url=serve.url, headers=AUTH, timeout=60) as client:
            done = client.post("/api/runs/wait", json={
                "workflow": "general", "objective": OBJECTIVE, "model": "openai:test-model",
                "options": {"approve_plan": True}}).json()
            assert done["status"] == "waiting", done
            [asked] = client.get(f"/api/runs/{done['run_id']}/interrupts").json()["interrupts"]
        run_id = done["run_id"]
        assert asked["interrupt_id"] == "plan:1" and asked["status"] == "pending"
        shown = asked["payload"]["plan"]  # what the person is asked to approve
    finally:
        serve.kill()  # while the run waits
    before = model.entries()
    assert [e["event"] for e in before].count("received") == 1  # the plan, nothing else

    answer = delegate("runs", "answer", run_id, "--approve", "--by", "ana",
                      "--store", str(store), env=env)
    assert answer.returncode == 0, answer.stderr
    again = delegate("runs", "answer", run_id, "plan:1", "--approve", "--store", str(store),
                     env=env)
    assert again.returncode == 2 and "ana" in again.stderr and "Traceback" not in again.stderr

    resumed = delegate("runs", "resume", run_id, "--json", "--store", str(store), env=env)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout)
    assert final["run_id"] == run_id and final["status"] == "succeeded"
    assert [t["id"] for t in final["plan"]["tasks"]] == [t["id"] for t in shown["tasks"]]
    assert [t["instruction"] for t in final["plan"]["tasks"]] == \
        [t["instruction"] for t in shown["tasks"]]

    entries = model.entries()
    received = [e["key"] for e in entries if e["event"] == "received"]
    assert len(received) == len(set(received))  # no call was made twice: the plan replayed
    assert received[0] == before[0]["key"]
