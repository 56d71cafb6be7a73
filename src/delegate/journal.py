"""Durable runs: the journal writes a run to a :class:`~delegate.store.base.RunStore` as it
goes, and lets a run that died carry on without paying for anything twice.

A :class:`Journal` is handed to :func:`delegate.run` (or a workflow) with ``journal=``. It
plugs into the run at three points, all through the run's :class:`~delegate.metering.Meter`
and event bus, so that providers, workers and the scheduler stay unaware of storage:

- **events**: it subscribes to the run's events and stores each one, every plan version and
  the latest outcome of each task (outputs with their types, see :mod:`delegate.codec`);
- **model calls**: each call's request and response are committed before the call returns
  to the worker, so a task never counts as done before the calls it used are stored. Before
  a call goes out, the journal answers it from the run's own earlier calls when resuming
  (``journal``), then from the response cache (``cache``);
- **tasks**: on resume, a task whose stored outcome succeeded, for the same task definition,
  is restored instead of run again.

The request key of a call is the sha256 of its canonical JSON: provider, model, messages,
output schema and sampling settings. The response cache serves only deterministic requests
(temperature 0, or a seed), and only when the journal's ``cache`` is on. Replay on resume
serves the n-th identical request of the run with the n-th stored response, whatever the
temperature: the run is continuing, not starting again.

Secrets: the values of environment variables whose names look like credentials (``*_KEY``,
``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``) are replaced by ``[redacted]`` in everything the
journal writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import socket
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from .codec import NotStorable, decode, encode
from .errors import UsageError
from .events import (
    Event,
    PlanCreated,
    RunFinished,
    RunStarted,
    TaskEnded,
    TaskRevised,
)
from .llm.base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage
from .outcomes import TaskOutcome
from .plan import Task
from .store.base import ModelCallRecord, Owner, RunRecord, RunStore

__all__ = ["Journal", "request_key"]

#: A run whose owner has not said it is alive for this long may be taken over.
STALE_AFTER = 120.0
HEARTBEAT_EVERY = 15.0
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.I)


def request_key(model: Model, messages: Sequence[Message], output: OutputType,
                settings: ModelSettings | None) -> tuple[str, dict[str, Any]]:
    """The cache and replay key of a request, and the request as JSON."""
    if isinstance(output, type) and issubclass(output, BaseModel):
        schema: Any = output.model_json_schema()
    else:
        schema = output
    request = {
        "provider": model.provider, "model": model.model_name,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "output": schema,
        "settings": dataclasses.asdict(ModelSettings().merged(settings)),
    }
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest(), request


def _deterministic(settings: ModelSettings | None) -> bool:
    merged = ModelSettings().merged(settings)
    return merged.temperature == 0 or merged.seed is not None


class Journal:
    """Writes one run to a store; use :meth:`start` or :meth:`resume` to make one.

    Attributes:
        store: where the run goes.
        run_id: the run's id; the run adopts it.
        cache: whether deterministic requests may be answered from the response cache.
        restored: ids of the tasks restored from the store instead of run.
        replayed: model calls answered from the run's own earlier calls.
    """

    def __init__(self, store: RunStore, run_id: str, *, kind: str = "run",
                 request: Mapping[str, Any] | None = None, cache: bool = True,
                 resuming: bool = False) -> None:
        self.store = store
        self.run_id = run_id
        self.kind = kind
        self.request = dict(request or {})
        self.cache = cache
        self.owner = Owner(uuid.uuid4().hex, socket.gethostname(), os.getpid())
        self.restored: list[str] = []
        self.replayed = 0
        self.created = resuming
        self.finished: RunFinished | None = None
        self.summary: Any = None
        self._secrets = sorted({v for k, v in os.environ.items()
                                if _SECRET_NAME.search(k) and len(v) >= 8}, key=len,
                               reverse=True)
        self._tasks: dict[str, Task] = {}
        self._stored: dict[str, Any] = {}
        self._replay: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._event_seq = 0
        self._call_seq = 0

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
        journal._call_seq = len(calls)
        journal._event_seq = len(store.events(record.run_id))
        return journal

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

    def lookup(self, key: str, output: OutputType,
               settings: ModelSettings | None) -> tuple[ModelResponse, str] | None:
        """An answer from the run's earlier calls or from the cache, and which of the two."""
        queue = self._replay.get(key)
        if queue:
            self.replayed += 1
            return _response(queue.popleft(), output), "journal"
        if self.cache and _deterministic(settings):
            hit = self.store.cache_get(key)
            if hit is not None:
                return _response(hit, output), "cache"
        return None

    def record_call(self, key: str, request: dict[str, Any], response: ModelResponse, *,
                    task_id: str, purpose: str, source: str,
                    settings: ModelSettings | None, cost: float | None = None) -> None:
        """Commit one answered call (and cache it, when it came from the model)."""
        stored = self._clean({
            "text": response.text, "data": _jsonable(response.data), "model": response.model,
            "notes": list(response.notes),
            "usage": {"prompt_tokens": response.usage.prompt_tokens,
                      "completion_tokens": response.usage.completion_tokens,
                      "latency_seconds": response.usage.latency_seconds},
        })
        usage = response.usage
        self.store.add_model_call(self.run_id, ModelCallRecord(
            seq=self._call_seq, task_id=task_id, purpose=purpose,
            provider=request["provider"], model=request["model"], request_hash=key,
            request=self._clean(request), response=stored,
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            latency_seconds=usage.latency_seconds,
            cost=cost, source=source))
        self._call_seq += 1
        if source == "model" and self.cache and _deterministic(settings):
            self.store.cache_put(key, request["provider"], request["model"], stored)

    # the event subscriber
    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted) and not self.created:
            self.store.create_run(RunRecord(
                run_id=self.run_id, kind=self.kind, objective=self._clean(event.objective),
                request=self._clean(self.request)), self.owner)
            self.created = True
        if not self.created:
            return
        if isinstance(event, PlanCreated):
            self._tasks.update((t.id, t) for t in event.plan.tasks)
            self.store.add_plan_version(self.run_id, event.plan.version,
                                        self._clean(event.plan.model_dump(mode="json")),
                                        event.source, self._clean(event.reason))
        elif isinstance(event, TaskEnded | TaskRevised):
            self._save(event.outcome)
        elif isinstance(event, RunFinished):
            self.finished = event
        self.store.add_event(self.run_id, self._event_seq, event.kind,
                             self._clean(_event_data(event)))
        self._event_seq += 1

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Journal]:
        """Hold the run while it runs: heartbeats, then release it with its final status
        (``cancelled`` if it was cancelled or failed part way, so it can be resumed)."""
        beat = asyncio.create_task(self._heartbeats())
        status = "cancelled"
        try:
            yield self
            if self.finished is not None and self.finished.result is not None:
                status = self.finished.result.status
        finally:
            beat.cancel()
            if self.created:
                result = self.summary
                if result is None and self.finished is not None and self.finished.result:
                    result = self.finished.result.to_dict()
                self.store.release(self.run_id, self.owner, status=status,
                                   result=self._clean(result))

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            if self.created:
                self.store.heartbeat(self.run_id, self.owner)

    # helpers
    def _save(self, outcome: TaskOutcome) -> None:
        task = self._tasks.get(outcome.task_id)
        data = {**outcome.to_dict(), "error_type": outcome.error_type,
                "started": outcome.started_at, "finished": outcome.finished_at,
                "task": _fingerprint(task) if task else None, "output": None,
                "restorable": False}
        if outcome.ok:
            try:
                data["output"], data["restorable"] = encode(outcome.output), True
            except NotStorable as exc:
                data["output"], data["why_not_restorable"] = repr(outcome.output)[:2000], str(exc)
        self.store.save_outcome(self.run_id, outcome.task_id, self._clean(data))

    def _clean(self, value: Any) -> Any:
        """``value`` with every secret replaced."""
        if not self._secrets:
            return value
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, "[redacted]")
            return value
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        if isinstance(value, dict):
            return {self._clean(k): self._clean(v) for k, v in value.items()}
        return value


def _fingerprint(task: Task) -> str:
    return hashlib.sha256(task.model_dump_json().encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def _response(stored: dict[str, Any], output: OutputType) -> ModelResponse:
    data = stored.get("data")
    if data is not None and isinstance(output, type) and issubclass(output, BaseModel):
        data = output.model_validate(data)
    return ModelResponse(text=stored.get("text", ""), data=data, usage=Usage(cache_hits=1),
                         model=stored.get("model", ""), notes=tuple(stored.get("notes", ())))


def _event_data(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        if f.name == "run_id" or not f.repr:  # content is stored with the model calls
            continue
        value = getattr(event, f.name)
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        elif hasattr(value, "to_dict"):
            value = value.to_dict()
        elif isinstance(value, tuple):
            value = list(value)
        elif not (value is None or isinstance(value, bool | int | float | str | list | dict)):
            value = repr(value)
        data[f.name] = value
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
