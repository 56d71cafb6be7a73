"""The interrupt contract every run store passes: a question put to a person is stored once,
answered once, and expired at its deadline with the answer its ``on_timeout`` implies.

Mixed into the store test classes beside :class:`~.contract.StoreContract` (it uses the same
``store``, ``store_url`` and ``another`` fixtures).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from delegate.errors import AlreadyAnswered, InterruptNotFound, RunNotFound, UsageError

from .contract import ALICE, TRICKY, run_record

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
SCHEMA = {"type": "object", "required": ["action"],
          "properties": {"action": {"enum": ["approve", "reject", "edit"]}}}


def plan_question(interrupt_id: str = "plan:1", **fields) -> dict:
    return {"interrupt_id": interrupt_id, "kind": "plan_approval",
            "payload": {"plan": {"tasks": [{"id": "a"}]}}, "schema": SCHEMA, **fields}


def ids(records: list[dict]) -> list[str]:
    return [record["interrupt_id"] for record in records]


class InterruptContract:
    """What every store promises about interrupts."""

    @pytest.fixture
    def run(self, store) -> str:
        store.create_run(run_record("run-hitl"), ALICE)
        return "run-hitl"

    def test_an_added_interrupt_is_pending_with_every_field(self, store, run):
        deadline = T0 + timedelta(hours=1)
        added = store.add_interrupt(run, {
            "interrupt_id": "ask:t3:1:2", "kind": "question", "task_id": "t3",
            "payload": TRICKY, "schema": {"type": "string"}, "deadline": deadline,
            "on_timeout": "fail"})
        assert added == {
            "run_id": run, "interrupt_id": "ask:t3:1:2", "kind": "question", "task_id": "t3",
            "payload": TRICKY, "schema": {"type": "string"}, "status": "pending",
            "answer": None, "answered_by": None, "created_at": added["created_at"],
            "answered_at": None, "deadline": deadline, "on_timeout": "fail"}
        assert added["created_at"].tzinfo is not None
        assert store.get_interrupt(run, "ask:t3:1:2") == added
        assert store.interrupts(run) == [added]

    def test_defaults_and_times_in_utc(self, store, run):
        added = store.add_interrupt(run, {
            "interrupt_id": "tool:1", "kind": "tool_approval",
            "deadline": datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "created_at": datetime(2030, 1, 1)})  # naive is UTC
        assert (added["task_id"], added["payload"], added["schema"], added["on_timeout"]) == (
            "", {}, {}, None)
        assert added["deadline"] == T0 and added["deadline"].utcoffset() == timedelta(0)
        assert added["created_at"] == datetime(2030, 1, 1, tzinfo=UTC)
        epoch = store.add_interrupt(run, plan_question("plan:2", deadline=T0.timestamp()))
        assert epoch["deadline"] == T0

    def test_adding_the_same_id_again_returns_the_stored_one(self, store, run):
        first = store.add_interrupt(run, plan_question(payload={"plan": "first"}))
        again = store.add_interrupt(run, plan_question(payload={"plan": "second"}))
        assert again == first and again["payload"] == {"plan": "first"}
        store.answer_interrupt(run, "plan:1", {"action": "approve"}, by="ann")
        resumed = store.add_interrupt(run, plan_question())  # a resumed run asks again
        assert resumed["status"] == "answered" and resumed["answer"] == {"action": "approve"}
        assert ids(store.interrupts(run)) == ["plan:1"]

    def test_listed_in_the_order_added_and_by_status(self, store, run):
        for interrupt_id in ("plan:1", "ask:b:1:1", "ask:a:1:1", "plan:2"):
            store.add_interrupt(run, plan_question(interrupt_id, created_at=T0))  # tied times
        store.answer_interrupt(run, "ask:b:1:1", {"action": "reject"}, by="bob")
        assert ids(store.interrupts(run)) == ["plan:1", "ask:b:1:1", "ask:a:1:1", "plan:2"]
        assert ids(store.interrupts(run, "pending")) == ["plan:1", "ask:a:1:1", "plan:2"]
        assert ids(store.interrupts(run, status="answered")) == ["ask:b:1:1"]
        assert store.interrupts(run, "expired") == []

    def test_runs_keep_their_interrupts_apart(self, store, run):
        store.create_run(run_record("run-other"), ALICE)
        store.add_interrupt(run, plan_question(payload={"run": 1}))
        store.add_interrupt("run-other", plan_question(payload={"run": 2}))
        store.answer_interrupt("run-other", "plan:1", {"action": "approve"}, by="ann")
        assert store.get_interrupt(run, "plan:1")["status"] == "pending"
        assert store.get_interrupt("run-other", "plan:1")["payload"] == {"run": 2}
        assert store.interrupts("no-such-run") == []

    def test_an_answer_is_stored_with_who_and_when(self, store, run):
        store.add_interrupt(run, plan_question())
        before = datetime.now(UTC)
        answered = store.answer_interrupt(run, "plan:1", {"action": "edit", "plan": TRICKY},
                                          by="ann")
        assert answered["status"] == "answered" and answered["answered_by"] == "ann"
        assert answered["answer"] == {"action": "edit", "plan": TRICKY}
        assert answered["answered_at"] >= before - timedelta(seconds=1)
        assert store.get_interrupt(run, "plan:1") == answered

    def test_a_second_answer_names_who_answered_first(self, store, run):
        store.add_interrupt(run, plan_question())
        store.answer_interrupt(run, "plan:1", {"action": "approve"}, by="ann")
        with pytest.raises(AlreadyAnswered, match="ann") as error:
            store.answer_interrupt(run, "plan:1", {"action": "reject"}, by="bob")
        assert (error.value.run_id, error.value.interrupt_id, error.value.status,
                error.value.answered_by) == (run, "plan:1", "answered", "ann")
        assert store.get_interrupt(run, "plan:1")["answer"] == {"action": "approve"}

    def test_a_caller_may_expire_an_interrupt_itself(self, store, run):
        store.add_interrupt(run, plan_question())
        expired = store.answer_interrupt(run, "plan:1", None, by="deadline", status="expired")
        assert (expired["status"], expired["answer"]) == ("expired", None)
        with pytest.raises(AlreadyAnswered, match="deadline"):
            store.answer_interrupt(run, "plan:1", {"action": "approve"}, by="ann")
        with pytest.raises(UsageError, match="answered or expired"):
            store.answer_interrupt(run, "plan:1", {}, by="ann", status="pending")

    def test_unknown_interrupts_and_runs(self, store, run):
        with pytest.raises(InterruptNotFound, match="plan:9"):
            store.get_interrupt(run, "plan:9")
        with pytest.raises(InterruptNotFound):
            store.answer_interrupt(run, "plan:9", {"action": "approve"}, by="ann")
        with pytest.raises(InterruptNotFound):
            store.get_interrupt("no-such-run", "plan:1")
        with pytest.raises(RunNotFound):
            store.add_interrupt("no-such-run", plan_question())

    @pytest.mark.parametrize(("record", "complaint"), [
        ({"kind": "question"}, "interrupt_id"),
        ({"interrupt_id": "", "kind": "question"}, "interrupt_id"),
        ({"interrupt_id": "x", "kind": "poll"}, "kind"),
        ({"interrupt_id": "x", "kind": "question", "on_timeout": "shrug"}, "on_timeout"),
        ({"interrupt_id": "x", "kind": "question", "status": "answered"}, "status"),
        ({"interrupt_id": "x", "kind": "question", "deadline": "tomorrow"}, "tomorrow"),
        ({"interrupt_id": "x", "kind": "question", "task_id": 3}, "task_id"),
    ])
    def test_a_malformed_record_is_a_usage_error(self, store, run, record, complaint):
        with pytest.raises(UsageError, match=complaint):
            store.add_interrupt(run, record)
        assert store.interrupts(run) == []

    def test_expiry_answers_by_the_on_timeout_rule(self, store, run):
        store.create_run(run_record("run-other"), ALICE)
        for interrupt_id, rule in [("plan:1", "reject"), ("tool:1", "approve"),
                                   ("ask:1", "fail"), ("ask:2", None)]:
            store.add_interrupt(run, plan_question(interrupt_id, deadline=T0, on_timeout=rule))
        store.add_interrupt("run-other", plan_question(deadline=T0 - timedelta(seconds=1),
                                                       on_timeout="approve"))
        store.add_interrupt(run, plan_question("later", deadline=T0 + timedelta(seconds=1)))
        store.add_interrupt(run, plan_question("never", on_timeout="reject"))
        store.add_interrupt(run, plan_question("answered", deadline=T0, on_timeout="reject"))
        store.answer_interrupt(run, "answered", {"action": "approve"}, by="ann")

        expired = store.expire_interrupts(T0)
        assert [(r["run_id"], r["interrupt_id"], r["answer"]) for r in expired] == [
            (run, "plan:1", {"action": "reject"}), (run, "tool:1", {"action": "approve"}),
            (run, "ask:1", None), (run, "ask:2", None),
            ("run-other", "plan:1", {"action": "approve"})]
        for record in expired:
            assert (record["status"], record["answered_by"], record["answered_at"]) == (
                "expired", "deadline", T0)
            assert store.get_interrupt(record["run_id"], record["interrupt_id"]) == record
        assert ids(store.interrupts(run, "pending")) == ["later", "never"]
        assert store.get_interrupt(run, "answered")["answered_by"] == "ann"
        assert store.expire_interrupts(T0) == []  # each expires once
        assert ids(store.expire_interrupts(T0 + timedelta(days=1))) == ["later"]

    def test_a_waiting_run_is_listed_by_its_status(self, store, run):
        store.create_run(run_record("run-busy"), ALICE)
        store.add_interrupt(run, plan_question())
        store.release(run, ALICE, status="waiting")
        assert [r.run_id for r in store.list_runs(status="waiting")] == [run]
        assert store.get_run(run).status == "waiting" and store.get_run(run).owner is None

    def test_a_second_instance_sees_the_answer(self, store, run, another):
        store.add_interrupt(run, plan_question())
        other = another()
        other.answer_interrupt(run, "plan:1", {"action": "approve"}, by="ann")
        assert store.add_interrupt(run, plan_question())["answered_by"] == "ann"


    def test_concurrent_answers_have_one_winner(self, store, store_url, request):
        """Two answers at once from two threads (on two instances of the store where it can
        be opened twice): exactly one wins, the other learns who did."""
        store.create_run(run_record("run-race"), ALICE)
        if store_url is None:  # one instance, shared by both threads
            stores = [store, store]
        else:
            another = request.getfixturevalue("another")
            stores = [another(), another()]
        for round_ in range(5):
            interrupt_id = f"plan:{round_}"
            store.add_interrupt("run-race", plan_question(interrupt_id))
            barrier = threading.Barrier(2)
            results: dict[str, object] = {}

            def answer(who: str, mine, interrupt_id=interrupt_id, barrier=barrier,
                       results=results) -> None:
                barrier.wait()
                try:
                    results[who] = mine.answer_interrupt(
                        "run-race", interrupt_id, {"action": who}, by=who)
                except Exception as error:  # the test inspects it
                    results[who] = error

            threads = [threading.Thread(target=answer, args=(who, mine))
                       for who, mine in zip(("approve", "reject"), stores, strict=True)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            won = [who for who, got in results.items() if isinstance(got, dict)]
            lost = [got for got in results.values() if isinstance(got, AlreadyAnswered)]
            assert len(won) == 1 and len(lost) == 1, results
            assert lost[0].answered_by == won[0]
            stored = store.get_interrupt("run-race", interrupt_id)
            assert stored["answered_by"] == won[0] and stored["answer"] == {"action": won[0]}
