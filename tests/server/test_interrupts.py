"""The interrupt routes: a run started with ``options.approve_plan`` ends ``waiting`` with its
plan to approve; ``GET /api/runs/{id}/interrupts`` lists the question, and an answer posted to
``/api/runs/{id}/interrupts/{iid}`` is checked, stored once and carries the run on here. Every
status: 200 (approve, edit, reject, another kind's answer), 404, 409 and 422, and two answers
at once (one wins)."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from delegate.durable.journal import Journal
from delegate.durable.store import open_store
from delegate.llm.scripted import ScriptedModel
from delegate.server import create_app
from tests.server._serve import AUTH, TOKEN, runtime_with

PLAN = {"tasks": [
    {"id": "t1", "worker": "researcher", "instruction": "Find what owls eat.", "depends_on": []},
    {"id": "t2", "worker": "researcher", "instruction": "Find when owls hunt.",
     "depends_on": []},
    {"id": "t3", "worker": "writer", "instruction": "Write the guide.",
     "depends_on": ["t1", "t2"]},
]}
ASKING = {"workflow": "general", "objective": "A guide to owls", "model": "scripted:owls",
          "options": {"approve_plan": True}}
QUESTION = {"type": "object", "required": ["text"], "additionalProperties": False,
            "properties": {"text": {"type": "string", "minLength": 1}}}


class Planner:
    """Plans :data:`PLAN`; keeps the prompt of each worker call."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def model(self) -> ScriptedModel:
        def answer(call: Any) -> Any:
            if isinstance(call.output, dict):
                return PLAN
            if "Your task:" in call.last_user:  # a worker's call, not the synthesis
                self.calls.append(call.last_user)
            return "Owls hunt at night."

        return ScriptedModel(function=answer)


@pytest.fixture
def store_url(tmp_path):
    return str(tmp_path / "runs.db")


@pytest.fixture
def planner() -> Planner:
    return Planner()


@pytest.fixture
def client(store_url, planner):
    app = create_app(store_url, token=TOKEN, recover=False,
                     runtime=runtime_with(owls=planner.model()))
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=AUTH) as c:
        yield c


def error_of(answer, status, code) -> str:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["message"] and "\n" not in error["message"]
    return error["message"]


def waiting(client) -> dict[str, Any]:
    done = client.post("/api/runs/wait", json=ASKING)
    assert done.status_code == 200, done.text
    run = done.json()
    assert run["status"] == "waiting", run
    return run


def ended(client, run_id) -> dict[str, Any]:
    """The run once it has ended (the stream's ``end`` says when)."""
    with client.stream("GET", f"/api/runs/{run_id}/stream") as stream:
        for line in stream.iter_lines():
            if line == "event: end":
                break
    return client.get(f"/api/runs/{run_id}").json()


def answer(client, run_id, body, iid="plan:1"):
    return client.post(f"/api/runs/{run_id}/interrupts/{iid}", json=body)


def test_a_waiting_run_lists_its_question_and_an_approval_carries_it_on(client, planner):
    run = waiting(client)
    assert planner.calls == []  # no worker started before the answer
    # its tasks have not ended: none is counted skipped while the plan waits
    assert run["tasks"]["total"] == 3 and run["tasks"]["skipped"] == 0
    listed = client.get(f"/api/runs/{run['run_id']}/interrupts").json()["interrupts"]
    (question,) = listed
    assert question["interrupt_id"] == "plan:1" and question["kind"] == "plan_approval"
    assert question["status"] == "pending" and question["answered_at"] is None
    assert [t["id"] for t in question["payload"]["plan"]["tasks"]] == ["t1", "t2", "t3"]
    assert datetime.fromisoformat(question["created_at"]).tzinfo is not None
    assert question["schema"]["required"] == ["action"]
    runs = {r["run_id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert runs[run["run_id"]]["status"] == "waiting"

    approved = answer(client, run["run_id"], {"action": "approve", "by": "ana"})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["resumed"] is True and body["status"] == "answered"
    assert body["answered_by"] == "ana" and body["answer"]["action"] == "approve"
    assert datetime.fromisoformat(body["answered_at"]).tzinfo is not None
    done = ended(client, run["run_id"])
    assert done["status"] == "succeeded" and done["tasks"]["succeeded"] == 3
    assert done["plan"]["version"] == 1
    assert len(planner.calls) == 3
    kinds = [e["kind"] for e in client.get(f"/api/runs/{run['run_id']}/events").json()["events"]]
    assert "InterruptRaised" in kinds and "InterruptAnswered" in kinds
    again = client.get(f"/api/runs/{run['run_id']}/interrupts").json()["interrupts"]
    assert [(q["interrupt_id"], q["status"]) for q in again] == [("plan:1", "answered")]


def test_an_edited_plan_runs_as_version_2_without_the_removed_task(client, planner):
    run = waiting(client)
    edited = {"tasks": [PLAN["tasks"][0], {**PLAN["tasks"][2], "depends_on": ["t1"]}]}
    posted = answer(client, run["run_id"], {"action": "edit", "plan": edited,
                                            "reason": "one finding is enough"})
    assert posted.status_code == 200, posted.text
    assert posted.json()["resumed"] is True and posted.json()["answered_by"] == "api"
    done = ended(client, run["run_id"])
    assert done["status"] == "succeeded"
    assert done["plan"]["version"] == 2
    assert [(t["id"], t["depends_on"]) for t in done["plan"]["tasks"]] == [
        ("t1", []), ("t3", ["t1"])]
    assert done["outcomes"]["t3"]["status"] == "succeeded"
    assert not any("Find when owls hunt." in c for c in planner.calls)
    # the removed task has no outcome left over from the wait, and the list agrees
    assert sorted(done["outcomes"]) == ["t1", "t3"]
    assert done["tasks"]["total"] == 2 and done["tasks"]["skipped"] == 0
    (listed,) = [r for r in client.get("/api/runs").json()["runs"]
                 if r["run_id"] == run["run_id"]]
    assert listed["tasks"] == done["tasks"]


def test_a_rejection_ends_the_run_cancelled_with_its_reason(client, planner):
    run = waiting(client)
    posted = answer(client, run["run_id"], {"action": "reject", "reason": "not owls today",
                                            "by": "bo"})
    assert posted.status_code == 200 and posted.json()["resumed"] is True
    done = ended(client, run["run_id"])
    assert done["status"] == "cancelled"
    assert "not owls today" in str(done["result"])
    assert planner.calls == []


@pytest.mark.parametrize(("body", "names"), [
    ({"action": "maybe"}, "action"),
    ({}, "action"),
    ({"action": "approve", "colour": "red"}, "colour"),
    ({"action": "edit"}, "plan"),
    ({"action": "edit", "plan": {"tasks": [
        {"id": "a", "worker": "researcher", "depends_on": ["b"]},
        {"id": "b", "worker": "researcher", "depends_on": ["a"]}]}}, "cycle"),
    ({"action": "edit", "plan": {"tasks": [
        {"id": "a", "worker": "researcher", "depends_on": ["zz"]}]}}, "zz"),
    ({"action": "edit", "plan": {"tasks": [  # the run's workers, known from the question
        {"id": "a", "worker": "nobody", "instruction": "x"}]}}, "unknown worker 'nobody'"),
    ({"action": "approve", "by": ""}, "by"),
    ({"action": "approve", "by": 7}, "by"),
    ([{"action": "approve"}], "JSON object"),
])
def test_a_malformed_answer_is_422_on_one_line_and_stores_nothing(client, body, names):
    run = waiting(client)
    message = error_of(answer(client, run["run_id"], body), 422, "invalid_request")
    assert names in message
    (question,) = client.get(f"/api/runs/{run['run_id']}/interrupts").json()["interrupts"]
    assert question["status"] == "pending"
    assert client.get(f"/api/runs/{run['run_id']}").json()["status"] == "waiting"


def test_unknown_runs_and_interrupts_are_404_and_a_second_answer_409(client):
    error_of(client.get("/api/runs/0123456789abcdef/interrupts"), 404, "not_found")
    error_of(answer(client, "0123456789abcdef", {"action": "approve"}), 404, "not_found")
    run = waiting(client)
    error_of(answer(client, run["run_id"], {"action": "approve"}, iid="plan:9"), 404,
             "not_found")
    bad = client.post(f"/api/runs/{run['run_id']}/interrupts/plan:1", content=b"{no",
                      headers={"Content-Type": "application/json"})
    error_of(bad, 422, "invalid_request")
    assert answer(client, run["run_id"], {"action": "approve", "by": "ana"}).status_code == 200
    message = error_of(answer(client, run["run_id"], {"action": "reject", "by": "bo"}), 409,
                       "already_answered")
    assert "ana" in message and "plan:1" in message
    assert ended(client, run["run_id"])["status"] == "succeeded"  # ana's answer counted


def stored_run(store_url: str, request: Any, *, status: str = "waiting") -> str:
    """A run of ``status`` put in the store directly, asking a question (not a plan)."""
    store = open_store(store_url)
    journal = Journal.start(store, kind="run", request=request)

    async def main() -> None:
        async with journal.running():
            journal.create("A question for a person")
            await journal.lease.flush()
            store.add_interrupt(journal.run_id, {
                "interrupt_id": "ask:t1:1", "kind": "question", "task_id": "t1",
                "payload": {"question": "Which owl?"}, "schema": QUESTION})
            await journal.close(status)

    asyncio.run(main())
    store.close()
    return journal.run_id


def test_another_kind_is_checked_against_its_schema_and_a_run_not_served_here_stays(
        store_url, planner):
    run_id = stored_run(store_url, {"argv": ["run", "A question"]})
    app = create_app(store_url, token=TOKEN, recover=False,
                     runtime=runtime_with(owls=planner.model()))
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=AUTH) as client:
        message = error_of(answer(client, run_id, {"text": 5}, iid="ask:t1:1"), 422,
                           "invalid_request")
        assert message.startswith("text:")
        error_of(answer(client, run_id, {"text": "Barn owl", "more": 1}, iid="ask:t1:1"), 422,
                 "invalid_request")
        posted = answer(client, run_id, {"text": "Barn owl", "by": "cy"}, iid="ask:t1:1")
        assert posted.status_code == 200, posted.text
        body = posted.json()
        assert body["answer"] == {"text": "Barn owl"} and body["answered_by"] == "cy"
        assert body["resumed"] is False  # a CLI run's request is not one the server runs
        assert client.get(f"/api/runs/{run_id}").json()["status"] == "waiting"


def test_two_answers_at_once_give_one_200_and_one_409(client):
    run = waiting(client)
    store = client.app.state.store
    real = store.answer_interrupt
    both = threading.Barrier(2, timeout=60)  # a guard against a hang, not a bound

    def answer_together(*args: Any, **kwargs: Any) -> Any:
        both.wait()  # both requests passed the pending check before either answers
        return real(*args, **kwargs)

    store.answer_interrupt = answer_together
    results: list[Any] = [None, None]

    def post(i: int, who: str) -> None:
        results[i] = answer(client, run["run_id"], {"action": "approve", "by": who})

    threads = [threading.Thread(target=post, args=(i, who)) for i, who in enumerate("ab")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.answer_interrupt = real
    assert sorted(r.status_code for r in results) == [200, 409]
    won = next(r for r in results if r.status_code == 200).json()
    lost = next(r for r in results if r.status_code == 409)
    assert won["resumed"] is True
    assert f"by {won['answered_by']}" in error_of(lost, 409, "already_answered")
    assert ended(client, run["run_id"])["status"] == "succeeded"


def test_an_answer_to_a_run_still_stopping_here_resumes_it_once_it_has_stopped(client, planner):
    from delegate.server.manager import LocalRun

    run = waiting(client)
    reached = threading.Event()

    class Ended(asyncio.Event):
        async def wait(self) -> bool:
            reached.set()  # the answer waits for the run to stop
            return await super().wait()

    stopping = LocalRun(run["run_id"], None, None, state="running", ended=Ended())
    manager = client.app.state.manager
    manager.runs[run["run_id"]] = stopping  # as a run of this server just after it asked
    result: list[Any] = []
    poster = threading.Thread(target=lambda: result.append(
        answer(client, run["run_id"], {"action": "approve"})))
    poster.start()
    assert reached.wait(60)
    assert planner.calls == []

    def stopped() -> None:
        stopping.state = "ended"
        stopping.ended.set()

    client.portal.call(stopped)
    poster.join()
    assert result[0].status_code == 200 and result[0].json()["resumed"] is True
    assert ended(client, run["run_id"])["status"] == "succeeded"
    assert len(planner.calls) == 3
