"""The export of a run carries its interrupts, JSON-ready, in the order they were asked."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from delegate.durable.export import export
from delegate.durable.store.memory import MemoryStore

from .store.contract import ALICE, run_record

DEADLINE = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_the_export_holds_the_interrupts_with_iso_times():
    store = MemoryStore()
    store.create_run(run_record("run-export"), ALICE)
    store.add_interrupt("run-export", {"interrupt_id": "plan:1", "kind": "plan_approval",
                                       "payload": {"plan": {}}, "deadline": DEADLINE,
                                       "on_timeout": "reject"})
    store.add_interrupt("run-export", {"interrupt_id": "ask:t1:1:1", "kind": "question",
                                       "task_id": "t1", "payload": {"question": "which?"}})
    answered = store.answer_interrupt("run-export", "plan:1", {"action": "approve"}, by="ann")

    exported = json.loads(json.dumps(export(store, "run-export")))  # no default=: JSON-ready
    first, second = exported["interrupts"]
    assert first == {**answered, "created_at": answered["created_at"].isoformat(),
                     "answered_at": answered["answered_at"].isoformat(),
                     "deadline": "2030-01-02T03:04:05+00:00"}
    assert (second["interrupt_id"], second["status"], second["answered_at"],
            second["deadline"]) == ("ask:t1:1:1", "pending", None, None)


def test_a_run_without_interrupts_exports_an_empty_list():
    store = MemoryStore()
    store.create_run(run_record("run-quiet"), ALICE)
    assert export(store, "run-quiet")["interrupts"] == []
