"""Durable runs: the journal writes a run to a :class:`~delegate.durable.store.base.RunStore` as it
goes, and lets a run that died carry on without paying for anything twice.

A :class:`Journal` is handed to :func:`delegate.run` (or a workflow) with ``journal=``. It
plugs into the run at three points, all through the run's :class:`~delegate.limits.metering.Meter`
and event bus, so that providers, workers and the scheduler stay unaware of storage:

- **events**: it subscribes to the run's events and stores each one, every plan version and
  the latest outcome of each task (outputs with their types, see :mod:`delegate.durable.codec`);
- **model calls**: each call's request and response are committed before the call returns
  to the worker, so a task never counts as done before the calls it used are stored. A call
  that was answered but whose answer failed validation is stored too, marked as failed.
  Before a call goes out, the journal answers it from the run's own earlier calls when
  resuming (``journal``), then from the response cache (``cache``);
- **tasks**: on resume, a task whose stored outcome succeeded, for the same task definition,
  is restored instead of run again.

Lifecycle: :meth:`Journal.open` starts it (the run calls it before ``RunStarted``);
:meth:`Journal.close` flushes everything and gives the run up with its final status
(``succeeded``, ``partial``, ``failed``, ``cancelled``). The run calls both, on every path;
:meth:`Journal.running` (an async context manager) does the same around code that runs one.
A run whose owner died without giving it up (``kill -9``) still says ``running`` in the
store: :func:`effective_status` reads it as ``interrupted``.

I/O: the store is written by one thread per journal, off the event loop
(:mod:`delegate.durable.store._writer`). Events are turned into their stored form on the loop (a
snapshot), queued, and written in batches, one transaction per batch (:meth:`RunStore.write`);
a model call waits for the batch that holds its record. Reads for a call (the response cache)
run on the same thread; a cache miss writes nothing.

Ownership: every batch is written only while this journal's owner still owns the run (the
check is in the batch's transaction), and a heartbeat says the owner is alive every
:data:`HEARTBEAT_EVERY` seconds. When a write or a heartbeat fails (the store failed, or the
run was taken over by another process) the journal is *failed*: the next event raises
:class:`~delegate.errors.StoreError` (which ends the run: the engine cancels its running work,
records it, and raises), every model call raises it, and so does :meth:`Journal.close`, after
trying to give the run up. Once the failure was raised from an event, only events that start
work raise again, so the run can record how it ended.

The request key of a call is the sha256 of its canonical JSON: provider, model, messages,
output schema and sampling settings. The response cache serves only deterministic requests
(temperature 0, or a seed) that produced an answer, and only when the journal's ``cache`` is
on. Replay on resume serves the n-th identical request of the run with the n-th stored
response, whatever the temperature: the run is continuing, not starting again. A stored
failed call is replayed as the same failure (the planner's repair loop then asks what it
asked before, and gets the stored answers).

Secrets: everything the journal writes has the values of environment variables whose names
look like credentials (``*_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``), the userinfo of
every URL (``scheme://user:password@``) and token-like URL query values (``?token=``,
``api_key=``, ``sig=``, ``password=`` ...) replaced by ``[redacted]`` (see :func:`redact`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import operator
import os
import re
import socket
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

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
from ..errors import DelegateError, OutputValidationError, StoreError, UsageError, describe
from ..llm.base import ModelResponse, ModelSettings, OutputType, Usage
from ..llm.keys import deterministic, request_key
from .codec import NotStorable, decode, encode
from .store._writer import BatchWriter, store_error
from .store.base import ModelCallRecord, Owner, RunRecord, RunStore

__all__ = ["Hit", "Journal", "effective_status", "redact", "request_key"]

#: A run whose owner has not said it is alive for this long may be taken over.
STALE_AFTER = 120.0
HEARTBEAT_EVERY = 15.0
#: Longest wait, in seconds, for the store to take a run's last writes when it is closed.
CLOSE_TIMEOUT = 60.0
REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.I)
_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#@'\"<>]+@")
_QUERY_SECRET = re.compile(
    r"([?&;](?:[A-Za-z0-9]+[_.-])*(?:token|key|apikey|secret|sig|signature|password|passwd"
    r"|pwd|auth|authorization|credentials?|session|code)=)[^&#;\s'\"<>]+", re.I)
#: Events that start work: they raise again while the journal is failed.
_STARTS = (RunStarted, PlanCreated, TaskQueued, TaskStarted, TaskRetried)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``secrets``, every URL's userinfo and every token-like URL
    query value replaced by ``[redacted]``."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    if "@" in text:
        text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(rf"\1{REDACTED}", text)
    return text


def effective_status(record: RunRecord, *, stale_after: float = STALE_AFTER) -> str:
    """The status to show for a stored run: its stored status, except that a run still
    marked ``running`` whose owner is gone (a process of this host that no longer exists, no
    owner at all, or no heartbeat for ``stale_after`` seconds) is ``interrupted``: it died
    without giving the run up, and ``Journal.resume`` may take it over."""
    if record.status != "running":
        return record.status
    owner, beat = record.owner, record.heartbeat_at
    if owner is None or _is_dead(owner):
        return "interrupted"
    if beat is None or beat < datetime.now(UTC) - timedelta(seconds=stale_after):
        return "interrupted"
    return "running"


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    """A call answered from the store.

    Attributes:
        response: the stored answer (usage: one cache hit, no tokens).
        source: ``journal`` (this run's own earlier call, on resume) or ``cache``.
        error: set when the stored call was answered but its answer failed validation: the
            caller records the hit, then raises this (the same failure as the first time).
    """

    response: ModelResponse
    source: str
    error: OutputValidationError | None = None


class Journal:
    """Writes one run to a store; use :meth:`start` or :meth:`resume` to make one.

    Attributes:
        store: where the run goes.
        run_id: the run's id; the run adopts it.
        cache: whether deterministic requests may be answered from the response cache.
        restored: ids of the tasks restored from the store instead of run.
        replayed: model calls answered from the run's own earlier calls.
        summary: set by the caller to store a result other than the run's own (a
            workflow's summary) when the run is given up.
        heartbeat_every: seconds between heartbeats.
    """

    effective_status = staticmethod(effective_status)

    def __init__(self, store: RunStore, run_id: str, *, kind: str = "run",
                 request: Mapping[str, Any] | None = None, cache: bool = True,
                 resuming: bool = False, heartbeat_every: float = HEARTBEAT_EVERY) -> None:
        self.store = store
        self.run_id = run_id
        self.kind = kind
        self.request = dict(request or {})
        self.cache = cache
        self.heartbeat_every = heartbeat_every
        self.owner = Owner(uuid.uuid4().hex, socket.gethostname(), os.getpid())
        self.restored: list[str] = []
        self.replayed = 0
        self.created = resuming
        self.finished: RunFinished | None = None
        self.summary: Any = None
        self._secrets = sorted({v for k, v in os.environ.items()
                                if _SECRET_NAME.search(k) and len(v) >= 8}, key=len,
                               reverse=True)
        self._needle = re.compile("|".join(["@", "=", *map(re.escape, self._secrets)])).search
        # a secret JSON writes as itself can be looked for in a value's JSON text in one
        # search (fast, in C); one JSON escapes is looked for value by value instead
        self._json_safe = all(json.dumps(v, ensure_ascii=False)[1:-1] == v
                              for v in self._secrets)
        self._tasks: dict[str, Task] = {}
        self._stored: dict[str, Any] = {}
        self._replay: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._event_seq = 0
        self._call_seq = 0
        self._writer = BatchWriter(store, run_id, self.owner, self._fail,
                                   name=f"delegate-journal-{run_id[:8]}")
        self._failure: StoreError | None = None
        self._reported = False  # the failure was raised from an event
        self._beat: asyncio.Task[None] | None = None
        self._holds = 0  # running() blocks around the run: they give it up
        self._final: tuple[str, Any, str | None] | None = None
        self._released = False

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
                      cache=cache, resuming=True)
        owner = record.owner
        dead = owner if owner is not None and _is_dead(owner) else None
        store.claim(record.run_id, journal.owner, stale_after=STALE_AFTER, dead=dead)
        journal._stored = store.outcomes(record.run_id)
        calls = store.model_calls(record.run_id)
        for call in calls:
            if call.source != "journal":  # a replayed call is the same call again
                journal._replay[call.request_hash].append(call.response)
        journal._call_seq = max((c.seq for c in calls), default=-1) + 1
        journal._event_seq = max((e["seq"] for e in store.events(record.run_id)),
                                 default=-1) + 1
        return journal

    @property
    def error(self) -> StoreError | None:
        """Why the journal failed (a write or a heartbeat), or ``None``."""
        return self._failure

    # lifecycle
    async def open(self) -> None:
        """Start the journal's heartbeat (the writer thread starts with the first write).
        Idempotent; called by the run before it emits ``RunStarted``."""
        self._start_heartbeat()

    async def close(self, status: str, result: Any = None, error: str | None = None) -> None:
        """Write everything queued, then give the run up with ``status`` (``succeeded``,
        ``partial``, ``failed``, ``cancelled``), ``result`` (JSON-ready, e.g.
        ``RunResult.to_dict()``; :attr:`summary` replaces it when set) and the one-line
        ``error``. Inside :meth:`running` the run is given up when that block ends instead.

        Idempotent: the first call's status counts. Waits at most :data:`CLOSE_TIMEOUT`
        seconds for the store.

        Raises:
            StoreError: the journal failed, or the store failed now (after trying to give
                the run up).
        """
        if self._final is None:
            self._final = (status, result, error)
        if self._holds:
            await self._flush()
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
        stored = self._stored.get(task.id)
        if (stored is None or stored.get("status") != "succeeded"
                or not stored.get("restorable") or stored.get("task") != _fingerprint(task)):
            return None
        try:
            output = decode(stored["output"])
        except NotStorable:
            return None
        del self._stored[task.id]  # restored once; a rewrite later in the run is new work
        self.restored.append(task.id)
        return TaskOutcome(task.id, stored["worker"], "succeeded", stored.get("attempts", 1),
                           stored.get("started"), stored.get("finished"), output=output)

    async def lookup(self, key: str, output: OutputType,
                     settings: ModelSettings | None) -> Hit | None:
        """An answer from the run's earlier calls or from the response cache, or ``None``.
        A miss writes nothing.

        Raises:
            StoreError: the journal failed, or the cache could not be read.
        """
        self._check()
        stored = self._replay.get(key)
        if stored:
            self.replayed += 1
            return _hit(stored.popleft(), output, "journal")
        if self.cache and deterministic(settings):
            hit = await self._wait(self._writer.put("read", lambda: self.store.cache_get(
                key, count=False), wait=True))
            if hit is not None:
                self._writer.put("cache_hits", key)  # counted with the run's next batch
                return _hit(hit, output, "cache")
        return None

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
        self._check()
        stored: dict[str, Any] = {
            "text": response.text, "data": _jsonable(response.data), "model": response.model,
            "notes": list(response.notes),
            "usage": {"prompt_tokens": response.usage.prompt_tokens,
                      "completion_tokens": response.usage.completion_tokens,
                      "latency_seconds": response.usage.latency_seconds},
        }
        if error is not None:
            stored["error"] = {"type": type(error).__name__, "message": error.message,
                               "provider": getattr(error, "provider", ""),
                               "model": getattr(error, "model", "")}
        stored = self._clean(stored)
        usage = response.usage
        self._writer.put("calls", ModelCallRecord(
            seq=self._call_seq, task_id=task_id, purpose=purpose,
            provider=request["provider"], model=request["model"], request_hash=key,
            request=self._clean(request), response=stored,
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            latency_seconds=usage.latency_seconds, cost=cost, source=source))
        self._call_seq += 1
        if (source == "model" and error is None and self.cache and deterministic(settings)
                and (response.text.strip() or response.data is not None)):
            self._writer.put("cache", {"key": key, "provider": request["provider"],
                                       "model": request["model"], "response": stored})
        await self._wait(self._writer.put("flush", None, wait=True))

    # the event subscriber
    def __call__(self, event: Event) -> None:
        if self._released:  # given up: nothing more is written
            return
        if self._failure is not None:
            if not self._reported or isinstance(event, _STARTS):
                self._reported = True
                raise StoreError(self._failure.message)
            return
        put = self._writer.put
        if isinstance(event, RunStarted) and not self.created:
            self._start_heartbeat()
            put("create", RunRecord(run_id=self.run_id, kind=self.kind,
                                    objective=self._clean(event.objective),
                                    request=self._clean(self.request)))
            self.created = True
        if not self.created:
            return
        known: dict[str, Any] = {}  # what is stored twice is built once
        if isinstance(event, PlanCreated):
            self._tasks.update((t.id, t) for t in event.plan.tasks)
            known["plan"] = self._clean(event.plan.model_dump(mode="json"))
            put("plans", {"version": event.plan.version, "plan": known["plan"],
                          "change": event.source, "reason": self._clean(event.reason)})
        elif isinstance(event, TaskEnded | TaskRevised):
            known["outcome"] = self._clean(event.outcome.to_dict())
            put("outcomes", (event.outcome.task_id, self._outcome(event.outcome,
                                                                  known["outcome"])))
        elif isinstance(event, RunFinished):
            self.finished = event
            result = event.result  # kept whole in the run's row; the event says how it ended
            known["result"] = self._clean({
                "status": result.status, "error": result.error,
                "budget_reached": result.budget_reached, "usage": result.usage.as_dict(),
                "wall_seconds": round(result.wall_seconds, 3)})
        data = self._clean(_event_data(event, known))  # the known parts are clean already
        put("events", {"seq": self._event_seq, "kind": event.kind, "data": {**data, **known}})
        self._event_seq += 1

    # helpers
    def _check(self) -> None:
        if self._failure is not None:
            raise StoreError(self._failure.message)

    def _fail(self, error: StoreError) -> None:
        """Enter the failed state (the first failure is the one reported)."""
        if self._failure is None:
            self._failure = error

    async def _wait(self, future: concurrent.futures.Future | None,
                    timeout: float | None = None) -> Any:
        assert future is not None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            raise StoreError(f"the run store did not take the writes of run {self.run_id} "
                             f"within {timeout:g} s") from None

    async def _flush(self) -> None:
        """Wait until everything queued is written; raise if the journal failed."""
        if self.created:
            try:
                await self._wait(self._writer.put("flush", None, wait=True), CLOSE_TIMEOUT)
            except StoreError as exc:  # a write failed, or the store did not answer in time
                self._fail(exc)
        self._check()

    async def _release(self) -> None:
        if self._released:
            return
        self._released = True
        self._stop_heartbeat()
        if not self.created:
            return
        status, result, error = self._final or ("failed", None, "the run was not closed")
        if self.summary is not None:
            result = self.summary
        if error and isinstance(result, dict) and not result.get("error"):
            result = {**result, "error": error}
        elif error and result is None:
            result = {"status": status, "error": error}
        try:
            await self._wait(self._writer.put(
                "release", {"status": status, "result": self._clean(result)}, wait=True),
                CLOSE_TIMEOUT)
        except StoreError as exc:
            self._fail(exc)
        self._check()

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

    def _start_heartbeat(self) -> None:
        if self._beat is not None or self._released:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._beat = loop.create_task(self._heartbeats(), name=f"journal {self.run_id[:8]}")

    def _stop_heartbeat(self) -> None:
        beat, self._beat = self._beat, None
        if beat is not None and not beat.done():
            with contextlib.suppress(RuntimeError):  # its loop is already closed
                beat.cancel()

    async def _heartbeats(self) -> None:
        """Say the owner is alive, checking it still owns the run; a failure fails the
        journal instead of ending the heartbeat silently."""
        try:
            while self._failure is None:
                await asyncio.sleep(self.heartbeat_every)
                if self.created:
                    await self._wait(self._writer.put("touch", None, wait=True))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(store_error(exc, self.run_id))

    def _outcome(self, outcome: TaskOutcome, public: dict[str, Any]) -> dict[str, Any]:
        """The stored outcome: ``public`` (``outcome.to_dict()``, cleaned) and what resume
        needs to restore the task."""
        task = self._tasks.get(outcome.task_id)
        data = {**public, "error_type": outcome.error_type, "started": outcome.started_at,
                "finished": outcome.finished_at,
                "task": _fingerprint(task) if task else None, "output": None,
                "restorable": False}
        if outcome.ok:
            try:
                data["output"], data["restorable"] = self._clean(encode(outcome.output)), True
            except NotStorable as exc:
                data["output"] = self._clean(repr(outcome.output)[:2000])
                data["why_not_restorable"] = str(exc)
        return data

    def _clean(self, value: Any) -> Any:
        """``value`` with every secret, URL userinfo and URL token replaced; ``value``
        itself (no copy) when there is nothing to replace, as is the rule."""
        return self._scrub(value) if self._dirty(value) else value

    def _dirty(self, value: Any) -> bool:
        """Whether ``value`` holds a string :func:`redact` may change (no copy made)."""
        kind = type(value)
        if kind is str:
            return self._needle(value) is not None
        if self._json_safe and (kind is dict or kind is list):
            try:  # every string of the value, keys included, appears as itself in its JSON
                text = json.dumps(value, ensure_ascii=False, default=str,
                                  check_circular=False)
            except (TypeError, ValueError, RecursionError):
                pass
            else:
                return self._needle(text) is not None
        if kind is dict or isinstance(value, dict):
            for key, item in value.items():
                if type(item) not in _SCALARS and self._dirty(item):
                    return True
                if type(key) is str and self._needle(key) is not None:
                    return True
            return False
        if kind is list or kind is tuple or isinstance(value, list | tuple):
            return any(self._dirty(item) for item in value if type(item) not in _SCALARS)
        return isinstance(value, str) and self._needle(value) is not None

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, self._secrets) if value else value
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        if isinstance(value, dict):
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        return value


def _fingerprint(task: Task) -> str:
    return hashlib.sha256(task.model_dump_json().encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def _hit(stored: dict[str, Any], output: OutputType, source: str) -> Hit:
    text, usage = stored.get("text", ""), Usage(cache_hits=1)
    notes = tuple(stored.get("notes", ()))
    failed = stored.get("error")
    if failed:  # answered, but invalid: the same failure again
        error = OutputValidationError(
            str(failed.get("message") or "invalid output"), output=text, usage=usage,
            provider=str(failed.get("provider") or ""), model=str(failed.get("model") or ""))
        return Hit(ModelResponse(text=text, usage=usage, model=stored.get("model", ""),
                                 notes=notes), source, error)
    data = stored.get("data")
    if data is not None and isinstance(output, type) and issubclass(output, BaseModel):
        data = output.model_validate(data)
    return Hit(ModelResponse(text=text, data=data, usage=usage,
                             model=stored.get("model", ""), notes=notes), source)


_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], Any]]] = {}
_PLAIN = (str, int, float, bool, type(None), list, dict)
_SCALARS = frozenset({int, float, bool, type(None)})


def _event_data(event: Event, known: Mapping[str, Any]) -> dict[str, Any]:
    """The event's fields as JSON-ready data, but those in ``known``."""
    fields = _FIELDS.get(type(event))
    if fields is None:  # content is stored with the model calls
        names = tuple(f.name for f in dataclasses.fields(event)
                      if f.name != "run_id" and f.repr)
        fields = _FIELDS[type(event)] = (names, operator.attrgetter(*names))
    names, values = fields
    got = values(event)
    data = dict(zip(names, got if len(names) > 1 else (got,), strict=True))
    for name in known:
        del data[name]
    for name, value in data.items():
        if type(value) in _PLAIN:
            continue
        if isinstance(value, BaseModel):
            data[name] = value.model_dump(mode="json")
        elif hasattr(value, "to_dict"):
            data[name] = value.to_dict()
        elif isinstance(value, tuple):
            data[name] = list(value)
        elif not isinstance(value, _PLAIN):
            data[name] = repr(value)
    return data


def _is_dead(owner: Owner) -> bool:
    """Whether ``owner`` is a process of this host that no longer exists. (A pid taken by a
    new process looks alive; the heartbeat going stale frees the run then.)"""
    if owner.host != socket.gethostname():
        return False
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
