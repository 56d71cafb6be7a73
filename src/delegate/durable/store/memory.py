"""A run store in memory: for tests, and for a process that wants the response cache and
the journal without a database. Nothing survives the process. Passes the same contract
suite as the SQL store."""

from __future__ import annotations

import copy
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ...errors import RunLocked, RunNotFound
from ._interrupts import (
    already_answered,
    check_answer_status,
    new_interrupt,
    not_found,
    timeout_answer,
    utc,
)
from .base import (
    JSON,
    Batch,
    ModelCallRecord,
    Owner,
    RunRecord,
    RunStore,
    check_limit,
    check_owner,
)

__all__ = ["MemoryStore"]


class MemoryStore(RunStore):
    """Every run in dictionaries, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._runs: dict[str, RunRecord] = {}
        self._plans: dict[str, dict[int, dict[str, Any]]] = {}
        self._outcomes: dict[str, dict[str, JSON]] = {}
        self._calls: dict[str, list[ModelCallRecord]] = {}
        self._events: dict[str, dict[int, dict[str, Any]]] = {}
        self._cache: dict[str, dict[str, Any]] = {}
        #: by (run_id, interrupt_id), in the order they were added
        self._interrupts: dict[tuple[str, str], dict[str, Any]] = {}

    def create_run(self, run: RunRecord, owner: Owner) -> None:
        now = datetime.now(UTC)
        created = run.created_at or now  # as the SQL store: a given time is kept
        with self._lock:
            self._runs[run.run_id] = replace(
                run, request=copy.deepcopy(run.request), status="running", created_at=created,
                updated_at=run.updated_at or created, owner=owner, heartbeat_at=now)

    def get_run(self, run_id: str) -> RunRecord:
        with self._lock:
            return self._find(run_id)

    def list_runs(self, limit: int = 20, *, status: str | None = None,
                  before: tuple[datetime, str] | None = None) -> list[RunRecord]:
        check_limit(limit)
        with self._lock:
            runs = [run for run in self._runs.values()
                    if (status is None or run.status == status)
                    and (before is None or (run.created_at, run.run_id) < before)]
        runs.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
        return runs[:limit]

    def claim(self, run_id: str, owner: Owner, *, stale_after: float,
              dead: Owner | None = None) -> RunRecord:
        now = datetime.now(UTC)
        with self._lock:
            run = self._find(run_id)
            held = run.owner
            stale = run.heartbeat_at is None or run.heartbeat_at < now - timedelta(
                seconds=stale_after)
            if (held is not None and held.token != owner.token
                    and not (dead is not None and dead.token == held.token) and not stale):
                raise RunLocked(f"run {run.run_id} is owned by process {held.pid} on "
                                f"{held.host}; wait for it to finish, or stop that process "
                                "first")
            self._runs[run.run_id] = replace(run, owner=owner, heartbeat_at=now,
                                             updated_at=now, status="running")
            return run

    def heartbeat(self, run_id: str, owner: Owner) -> None:
        with self._lock:
            run = self._find(run_id)
            if run.owner is not None and run.owner.token == owner.token:
                self._runs[run.run_id] = replace(run, heartbeat_at=datetime.now(UTC))

    def release(self, run_id: str, owner: Owner, *, status: str, result: JSON = None) -> None:
        with self._lock:
            run = self._find(run_id)
            if run.owner is None or run.owner.token != owner.token:
                return
            self._runs[run.run_id] = replace(
                run, status=status, owner=None, updated_at=datetime.now(UTC),
                result=copy.deepcopy(result) if result is not None else run.result)

    def add_plan_version(self, run_id: str, version: int, plan: JSON, change: str,
                         reason: str) -> None:
        with self._lock:
            self._plans.setdefault(run_id, {})[version] = {
                "version": version, "plan": copy.deepcopy(plan), "change": change,
                "reason": reason}

    def plan_versions(self, run_id: str) -> list[dict[str, Any]]:
        with self._lock:
            versions = self._plans.get(run_id, {})
            return [copy.deepcopy(versions[v]) for v in sorted(versions)]

    def save_outcome(self, run_id: str, task_id: str, outcome: JSON) -> None:
        with self._lock:
            self._outcomes.setdefault(run_id, {})[task_id] = copy.deepcopy(outcome)
            self._touch(run_id)

    def outcomes(self, run_id: str) -> dict[str, JSON]:
        with self._lock:
            return copy.deepcopy(self._outcomes.get(run_id, {}))

    def add_model_call(self, run_id: str, call: ModelCallRecord) -> None:
        with self._lock:
            self._calls.setdefault(run_id, []).append(copy.deepcopy(call))

    def model_calls(self, run_id: str) -> list[ModelCallRecord]:
        with self._lock:
            return sorted(copy.deepcopy(self._calls.get(run_id, [])), key=lambda c: c.seq)

    def add_event(self, run_id: str, seq: int, kind: str, data: JSON) -> None:
        with self._lock:
            self._events.setdefault(run_id, {})[seq] = {
                "seq": seq, "kind": kind, "data": copy.deepcopy(data)}

    def events(self, run_id: str, after: int | None = None,
               limit: int | None = None) -> list[dict[str, Any]]:
        check_limit(limit)
        with self._lock:
            events = self._events.get(run_id, {})
            seqs = sorted(s for s in events if after is None or s > after)[:limit]
            return [copy.deepcopy(events[s]) for s in seqs]

    def last_event_seq(self, run_id: str) -> int | None:
        with self._lock:
            return max(self._events.get(run_id, {}), default=None)

    def cache_get(self, key: str, *, count: bool = True) -> JSON | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            entry["hits"] += count
            return copy.deepcopy(entry["response"])

    def cache_put(self, key: str, provider: str, model: str, response: JSON) -> None:
        with self._lock:
            self._cache.setdefault(key, {"provider": provider, "model": model,
                                         "response": copy.deepcopy(response), "hits": 0})

    def add_interrupt(self, run_id: str, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if run_id not in self._runs:
                raise RunNotFound(f"no run has id {run_id!r}")
            new = new_interrupt(run_id, record, datetime.now(UTC))
            stored = self._interrupts.setdefault((run_id, new["interrupt_id"]), new)
            return copy.deepcopy(stored)

    def interrupts(self, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(record) for record in self._interrupts.values()
                    if record["run_id"] == run_id
                    and (status is None or record["status"] == status)]

    def get_interrupt(self, run_id: str, interrupt_id: str) -> dict[str, Any]:
        with self._lock:
            record = self._interrupts.get((run_id, interrupt_id))
            if record is None:
                raise not_found(run_id, interrupt_id)
            return copy.deepcopy(record)

    def answer_interrupt(self, run_id: str, interrupt_id: str, answer: Any, *, by: str,
                         status: str = "answered") -> dict[str, Any]:
        check_answer_status(status)
        with self._lock:
            record = self._interrupts.get((run_id, interrupt_id))
            if record is None:
                raise not_found(run_id, interrupt_id)
            if record["status"] != "pending":
                raise already_answered(record)
            record.update(status=status, answer=copy.deepcopy(answer), answered_by=by,
                          answered_at=datetime.now(UTC))
            return copy.deepcopy(record)

    def expire_interrupts(self, now: datetime) -> list[dict[str, Any]]:
        now = utc(now)
        expired = []
        with self._lock:
            for record in self._interrupts.values():
                if (record["status"] == "pending" and record["deadline"] is not None
                        and record["deadline"] <= now):
                    record.update(status="expired", answered_by="deadline", answered_at=now,
                                  answer=timeout_answer(record["on_timeout"]))
                    expired.append(copy.deepcopy(record))
        return expired

    def write(self, run_id: str, owner: Owner, batch: Batch) -> None:
        with self._lock:  # one lock: the check and the writes are one step
            if batch.create is not None:
                self.create_run(batch.create, owner)
            check_owner(self._find(run_id), owner)
            run_id = self._find(run_id).run_id
            super().write(run_id, owner, replace(batch, create=None))

    def schema_version(self) -> str:
        return "memory"

    def _find(self, run_id: str) -> RunRecord:
        if run_id in self._runs:
            return self._runs[run_id]
        matches = [r for r in self._runs if len(run_id) >= 4 and r.startswith(run_id)]
        if len(matches) == 1:
            return self._runs[matches[0]]
        if matches:
            raise RunNotFound(f"{len(matches)} runs start with {run_id!r}; give more of the id")
        raise RunNotFound(f"no run has an id starting with {run_id!r}")

    def _touch(self, run_id: str) -> None:
        run = self._runs.get(run_id)
        if run is not None:
            self._runs[run_id] = replace(run, updated_at=datetime.now(UTC))
