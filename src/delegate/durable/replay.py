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
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from ..core.outcomes import TaskOutcome
from ..core.plan import Task
from ..errors import OutputValidationError
from ..llm.base import ModelResponse, ModelSettings, OutputType, Usage
from ..llm.keys import deterministic
from .codec import NotStorable, decode
from .lease import Lease
from .store.base import ModelCallRecord, RunStore

__all__ = ["Hit", "Replay", "fingerprint"]


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
