"""Answers from the store: what a durable run does not pay for twice.

:class:`Replay` answers three kinds of question from a run's store:

- **replay**: on resume, the n-th identical request of the run is served the n-th response
  stored for it, whatever the temperature: the run is continuing, not starting again. A stored
  call whose answer failed validation is replayed as the same failure (the planner's repair
  loop then asks what it asked before, and gets the stored answers);
- **the response cache**: a deterministic request (temperature 0, or a seed) that some run
  answered before is served that answer, when the journal's ``cache`` is on. The read runs on
  the run's writer thread; a miss writes nothing, a hit is counted with the run's next batch;
- **restore**: on resume, a task whose stored outcome succeeded, for the same task
  definition, is given that outcome instead of being run again.

:class:`ReplayModel` is the top layer of a durable run's model stack: it asks :class:`Replay`
before a call goes further (so an answer from the store costs no budget and no rate-limit
room, and counts as a cache hit), and commits every call, answered here or below, to the
journal before the caller sees it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..core.outcomes import TaskOutcome
from ..core.plan import Task
from ..errors import OutputValidationError
from ..llm.base import (
    Message,
    Model,
    ModelResponse,
    ModelSettings,
    OutputType,
    Usage,
    WrapperModel,
)
from ..llm.keys import deterministic, request_key
from .codec import NotStorable, decode
from .lease import Lease
from .store.base import ModelCallRecord, RunStore

if TYPE_CHECKING:
    from ..core.meter import Meter
    from .journal import Journal

__all__ = ["Hit", "Replay", "ReplayModel", "fingerprint"]


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


def fingerprint(task: Task) -> str:
    """A task definition's identity: a stored outcome restores only the very same task."""
    return hashlib.sha256(task.model_dump_json().encode()).hexdigest()


class Replay:
    """The answers run ``lease.run_id`` can have from the store (see the module docstring).

    Attributes:
        cache: whether deterministic requests may be answered from the response cache.
        replayed: model calls answered from the run's own earlier calls.
        restored: ids of the tasks restored instead of run.
    """

    def __init__(self, store: RunStore, lease: Lease, *, cache: bool = True) -> None:
        self.store = store
        self.lease = lease
        self.cache = cache
        self.replayed = 0
        self.restored: list[str] = []
        self._calls: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._outcomes: dict[str, Any] = {}

    def load(self, calls: Sequence[ModelCallRecord]) -> None:
        """Take in the run's stored calls and outcomes (on resume)."""
        self._outcomes = self.store.outcomes(self.lease.run_id)
        for call in calls:
            if call.source != "journal":  # a replayed call is the same call again
                self._calls[call.request_hash].append(call.response)

    async def lookup(self, key: str, output: OutputType,
                     settings: ModelSettings | None) -> Hit | None:
        """An answer from the run's earlier calls or from the response cache, or ``None``.
        A miss writes nothing.

        Raises:
            StoreError: the lease failed, or the cache could not be read.
        """
        self.lease.check()
        stored = self._calls.get(key)
        if stored:
            self.replayed += 1
            return _hit(stored.popleft(), output, "journal")
        if self.cache and deterministic(settings):
            lease = self.lease
            hit = await lease.wait(lease.put("read", lambda: self.store.cache_get(
                key, count=False), wait=True))
            if hit is not None:
                lease.put("cache_hits", key)  # counted with the run's next batch
                return _hit(hit, output, "cache")
        return None

    def restore(self, task: Task) -> TaskOutcome | None:
        """The stored outcome of ``task`` if it succeeded for this very task definition."""
        stored = self._outcomes.get(task.id)
        if (stored is None or stored.get("status") != "succeeded"
                or not stored.get("restorable") or stored.get("task") != fingerprint(task)):
            return None
        try:
            output = decode(stored["output"])
        except NotStorable:
            return None
        del self._outcomes[task.id]  # restored once; a rewrite later in the run is new work
        self.restored.append(task.id)
        return TaskOutcome(task.id, stored["worker"], "succeeded", stored.get("attempts", 1),
                           stored.get("started"), stored.get("finished"), output=output)


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


class ReplayModel(WrapperModel):
    """The replay and cache layer of a durable run's model stack (see the module docstring).

    A call answered from the store is committed with its source (``journal`` or ``cache``)
    and counted on ``meter`` as a cache hit; one the store had as answered-but-invalid raises
    that failure again. Any other call goes on down the stack, and its answer (or its invalid
    answer, with what it cost) is committed before it is returned (or raised).
    """

    def __init__(self, wrapped: Model, journal: Journal, meter: Meter, task_id: str = "",
                 purpose: str = "task") -> None:
        super().__init__(wrapped)
        self.journal = journal
        self.meter = meter
        self.task_id = task_id
        self.purpose = purpose

    async def request(
        self,
        messages: Sequence[Message],
        *,
        output: OutputType = None,
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        journal = self.journal
        key, request = request_key(self.wrapped, messages, output, settings)
        hit = await journal.replay.lookup(key, output, settings)
        if hit is not None:  # costs nothing, so no budget and no rate limit apply
            await self._commit(key, request, hit.response, hit.source, settings, hit.error)
            self.meter.record(self.task_id, self.purpose, self.name, hit.response, hit.source,
                              messages, settings)
            if hit.error is not None:  # answered before, invalid: the same failure
                raise hit.error
            return hit.response
        try:
            response = await self.wrapped.request(messages, output=output, settings=settings)
        except OutputValidationError as exc:  # answered: replayed as this failure on resume
            if exc.usage is not None:
                failed = ModelResponse(text=exc.output, usage=exc.usage,
                                       notes=(f"invalid output: {exc.message}",))
                await self._commit(key, request, failed, "model", settings, exc)
            raise
        await self._commit(key, request, response, "model", settings)  # before it is seen
        return response

    async def _commit(self, key: str, request: dict[str, Any], response: ModelResponse,
                      source: str, settings: ModelSettings | None,
                      error: OutputValidationError | None = None) -> None:
        usage = response.usage  # priced by the metering layer below; nothing for a hit
        cost = None if usage.unpriced_calls else usage.cost_usd
        await self.journal.record_call(key, request, response, task_id=self.task_id,
                                       purpose=self.purpose, source=source, settings=settings,
                                       cost=cost, error=error)
