"""Durable runs: the journal writes a run to a :class:`~delegate.durable.store.base.RunStore` as it
goes, and lets a run that died carry on without paying for anything twice.

A :class:`Journal` is handed to :func:`delegate.run` (or a workflow) with ``journal=``. It is
made of three parts, each in its own module, and plugs into the run at three points, so that
providers, workers and the scheduler stay unaware of storage:

- **events** (this module, the recorder): it subscribes to the run's events and stores each
  one, every plan version and the latest outcome of each task (outputs with their types, see
  :mod:`delegate.durable.codec`; what a call, an outcome and a run's end are stored as, see
  :mod:`delegate.durable.stored`);
- **model calls**: the top layer of the run's model stack
  (:class:`~delegate.durable.replay.ReplayModel`) answers a call from the store where it can
  (:mod:`delegate.durable.replay`: this run's own earlier calls when resuming, then the
  response cache) and commits each call's request and response (:meth:`Journal.record_call`)
  before the call returns to the worker, so a task never counts as done before the calls it
  used are stored. A call that was answered but whose answer failed validation is stored
  too, marked as failed;
- **tasks**: on resume, a task whose stored outcome succeeded, for the same task definition,
  is restored instead of run again (:meth:`Journal.restore`).

Lifecycle: :meth:`Journal.open` starts it (the run calls it before ``RunStarted``);
:meth:`Journal.close` flushes everything and gives the run up with its final status
(``succeeded``, ``partial``, ``failed``, ``cancelled``). The run calls both, on every path;
:meth:`Journal.running` (an async context manager) does the same around code that runs one.

I/O and ownership belong to the journal's :class:`~delegate.durable.lease.Lease` (one writer
thread per run, off the event loop, batches written only while this owner owns the run, a
heartbeat). Events are turned into their stored form on the loop (a snapshot) and queued; a
model call waits for the batch that holds its record. When a write or a heartbeat fails the
journal is *failed*: the next event raises :class:`~delegate.errors.StoreError` (which ends the
run: the engine cancels its running work, records it, and raises), every model call raises
it, and so does :meth:`Journal.close`, after trying to give the run up. Once the failure was
raised from an event, only events that start work raise again, so the run can record how it
ended.

Everything the journal writes passes through a :class:`~delegate.durable.redact.Redactor`
first: no secret of the environment, URL password or URL token reaches the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ..core.events import (
    Event,
    PlanCreated,
    RunFinished,
    RunStarted,
    TaskEnded,
    TaskQueued,
    TaskRetried,
    TaskRevised,
    TaskStarted,
)
from ..core.outcomes import TaskOutcome
from ..core.plan import Task
from ..errors import DelegateError, StoreError, UsageError, describe
from ..llm.base import ModelResponse, ModelSettings
from ..llm.keys import deterministic, request_key
from .codec import event_data
from .lease import HEARTBEAT_EVERY, Lease, effective_status
from .redact import Redactor, redact
from .replay import Hit, Replay
from .store.base import ModelCallRecord, Owner, RunRecord, RunStore
from .stored import call_response, outcome_data, run_summary

__all__ = ["Hit", "Journal", "effective_status", "redact", "request_key"]

#: Events that start work: they raise again while the journal is failed.
_STARTS = (RunStarted, PlanCreated, TaskQueued, TaskStarted, TaskRetried)


class Journal:
    """Writes one run to a store; use :meth:`start` or :meth:`resume` to make one.

    Attributes:
        store: where the run goes.
        run_id: the run's id; the run adopts it.
        lease: the hold on the run: owner, fenced writes, heartbeat, failure.
        replay: the answers the run can have from the store.
        summary: set by the caller to store a result other than the run's own (a
            workflow's summary) when the run is given up.
    """

    effective_status = staticmethod(effective_status)

    def __init__(self, store: RunStore, run_id: str, *, kind: str = "run",
                 request: Mapping[str, Any] | None = None, cache: bool = True,
                 heartbeat_every: float = HEARTBEAT_EVERY) -> None:
        self.store = store
        self.run_id = run_id
        self.kind = kind
        self.request = dict(request or {})
        self.lease = Lease(store, run_id, heartbeat_every=heartbeat_every)
        self.replay = Replay(store, self.lease, cache=cache)
        self.finished: RunFinished | None = None
        self.summary: Any = None
        self._redactor = Redactor()
        self._tasks: dict[str, Task] = {}
        self._event_seq = 0
        self._call_seq = 0
        self._reported = False  # the failure was raised from an event
        self._holds = 0  # running() blocks around the run: they give it up
        self._final: tuple[str, Any, str | None] | None = None

    # making one
    @classmethod
    def start(cls, store: RunStore, *, kind: str = "run",
              request: Mapping[str, Any] | None = None, cache: bool = True,
              run_id: str | None = None) -> Journal:
        """A journal for a new run; the run is stored when it starts."""
        return cls(store, run_id or uuid.uuid4().hex, kind=kind, request=request, cache=cache)

    @classmethod
    def resume(cls, store: RunStore, run_id: str, *, cache: bool = True) -> Journal:
        """Take over a stored run that did not finish, to carry it on.

        Raises:
            RunNotFound: no such run.
            RunLocked: another live process owns it (it is running, or being resumed).
            UsageError: the run already succeeded.
        """
        record = store.get_run(run_id)
        if record.status == "succeeded":
            raise UsageError(f"run {record.run_id} already succeeded; there is nothing to "
                             "resume")
        journal = cls(store, record.run_id, kind=record.kind, request=record.request,
                      cache=cache)
        journal.lease.claim(record)
        calls = store.model_calls(record.run_id)
        journal.replay.load(calls)
        journal._call_seq = max((c.seq for c in calls), default=-1) + 1
        last = store.last_event_seq(record.run_id)
        journal._event_seq = 0 if last is None else last + 1
        return journal

    def create(self, objective: str) -> None:
        """Store the run now, before it starts, under this journal's owner (a server stores
        a run it queues the moment it accepts it, so a crash cannot lose it). Needs a
        running event loop (the heartbeat starts). Idempotent."""
        if not self.lease.held:
            self.lease.create(RunRecord(run_id=self.run_id, kind=self.kind,
                                        objective=self._clean(objective),
                                        request=self._clean(self.request)))

    # what the parts know
    @property
    def owner(self) -> Owner:
        return self.lease.owner

    @property
    def created(self) -> bool:
        """Whether the run is in the store under this journal's owner."""
        return self.lease.held

    @property
    def error(self) -> StoreError | None:
        """Why the journal failed (a write or a heartbeat), or ``None``."""
        return self.lease.error

    @property
    def heartbeat_every(self) -> float:
        return self.lease.heartbeat_every

    @heartbeat_every.setter
    def heartbeat_every(self, seconds: float) -> None:
        self.lease.heartbeat_every = seconds

    @property
    def cache(self) -> bool:
        """Whether deterministic requests may be answered from the response cache."""
        return self.replay.cache

    @property
    def restored(self) -> list[str]:
        """Ids of the tasks restored from the store instead of run."""
        return self.replay.restored

    @property
    def replayed(self) -> int:
        """Model calls answered from the run's own earlier calls."""
        return self.replay.replayed

    # lifecycle
    async def open(self) -> None:
        """Start the journal's heartbeat (the writer thread starts with the first write).
        Idempotent; called by the run before it emits ``RunStarted``."""
        self.lease.start_heartbeat()

    async def close(self, status: str, result: Any = None, error: str | None = None) -> None:
        """Write everything queued, then give the run up with ``status`` (``succeeded``,
        ``partial``, ``failed``, ``cancelled``), ``result`` (JSON-ready, e.g.
        ``RunResult.to_dict()``; :attr:`summary` replaces it when set) and the one-line
        ``error``. Inside :meth:`running` the run is given up when that block ends instead.

        Idempotent: the first call's status counts. Waits at most
        :data:`~delegate.durable.lease.CLOSE_TIMEOUT` seconds for the store.

        Raises:
            StoreError: the journal failed, or the store failed now (after trying to give
                the run up).
        """
        if self._final is None:
            self._final = (status, result, error)
        if self._holds:
            await self.lease.flush()
        else:
            await self._release()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Journal]:
        """Hold the run while the block runs, then give it up with its final status: the
        status the run closed with; else the status of its ``RunFinished``; else ``failed``
        if the block raised, ``cancelled`` if it was cancelled or interrupted. A run that
        closed itself inside the block is given up here, with :attr:`summary` if set."""
        await self.open()
        self._holds += 1
        caught: BaseException | None = None
        try:
            yield self
        except BaseException as exc:
            caught = exc
            raise
        finally:
            self._holds -= 1
            if not self._holds:
                if self._final is None:
                    self._final = self._ending(caught)
                try:
                    await self._release()
                except StoreError:
                    if caught is None:
                        raise

    # the run's side
    def restore(self, task: Task) -> TaskOutcome | None:
        """The stored outcome of ``task`` if it succeeded for this very task definition."""
        return self.replay.restore(task)

    async def record_call(self, key: str, request: dict[str, Any], response: ModelResponse, *,
                          task_id: str, purpose: str, source: str,
                          settings: ModelSettings | None, cost: float | None = None,
                          error: DelegateError | None = None) -> None:
        """Commit one call, and return once it is in the store. An answer from the model
        goes to the response cache too, unless ``error`` says it failed validation (then it
        is stored as failed, for replay on resume, and never cached) or it is empty.

        Raises:
            StoreError: the journal failed, or this write did.
        """
        lease = self.lease
        lease.check()
        stored = self._clean(call_response(response, error))
        usage = response.usage
        lease.put("calls", ModelCallRecord(
            seq=self._call_seq, task_id=task_id, purpose=purpose,
            provider=request["provider"], model=request["model"], request_hash=key,
            request=self._clean(request), response=stored,
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            latency_seconds=usage.latency_seconds, cost=cost, source=source))
        self._call_seq += 1
        if (source == "model" and error is None and self.cache and deterministic(settings)
                and (response.text.strip() or response.data is not None)):
            lease.put("cache", {"key": key, "provider": request["provider"],
                                "model": request["model"], "response": stored})
        await lease.wait(lease.put("flush", None, wait=True))

    # the event subscriber
    def __call__(self, event: Event) -> None:
        lease = self.lease
        if lease.released:  # given up: nothing more is written
            return
        if lease.error is not None:
            if not self._reported or isinstance(event, _STARTS):
                self._reported = True
                raise StoreError(lease.error.message)
            return
        put = lease.put
        if isinstance(event, RunStarted) and not lease.held:
            lease.create(RunRecord(run_id=self.run_id, kind=self.kind,
                                   objective=self._clean(event.objective),
                                   request=self._clean(self.request)))
        if not lease.held:
            return
        known: dict[str, Any] = {}  # what is stored twice is built once
        if isinstance(event, PlanCreated):
            self._tasks.update((t.id, t) for t in event.plan.tasks)
            known["plan"] = self._clean(event.plan.model_dump(mode="json"))
            put("plans", {"version": event.plan.version, "plan": known["plan"],
                          "change": event.source, "reason": self._clean(event.reason)})
        elif isinstance(event, TaskEnded | TaskRevised):
            known["outcome"] = self._clean(event.outcome.to_dict())
            put("outcomes", (event.outcome.task_id, outcome_data(
                event.outcome, known["outcome"], self._tasks.get(event.outcome.task_id),
                self._clean)))
        elif isinstance(event, RunFinished):
            self.finished = event
            # kept whole in the run's row; the event says how it ended
            known["result"] = self._clean(run_summary(event.result))
        data = self._clean(event_data(event, known))  # the known parts are clean already
        put("events", {"seq": self._event_seq, "kind": event.kind, "data": {**data, **known}})
        self._event_seq += 1

    # helpers
    async def _release(self) -> None:
        if self.lease.released:
            return
        status, result, error = self._final or ("failed", None, "the run was not closed")
        if self.summary is not None:
            result = self.summary
        if error and isinstance(result, dict) and not result.get("error"):
            result = {**result, "error": error}
        elif error and result is None:
            result = {"status": status, "error": error}
        await self.lease.release(status, self._clean(result))

    def _ending(self, caught: BaseException | None) -> tuple[str, Any, str | None]:
        """The status, result and error a run that did not close itself ends with."""
        result = self.finished.result if self.finished is not None else None
        if result is not None:
            return result.status, result.to_dict(), getattr(result, "error", None)
        if caught is None:
            return "failed", None, "the run ended without finishing"
        if isinstance(caught, asyncio.CancelledError | KeyboardInterrupt):
            return "cancelled", None, "the run was cancelled"
        return "failed", None, describe(caught)

    def _clean(self, value: Any) -> Any:
        """``value`` with every secret, URL userinfo and URL token replaced (itself when
        there is nothing to replace)."""
        return self._redactor.clean(value)
