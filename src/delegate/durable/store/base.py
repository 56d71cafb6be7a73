"""The run store interface: what a durable run writes, and what resume and history read.

A :class:`RunStore` keeps, per run: the run itself (what was asked, its status, its final
summary and which process owns it), every plan version, one outcome per task (the latest),
every model call, every event, and every interrupt (a question put to a person, with its
answer: :mod:`~delegate.durable.store._interrupts`). Across runs it keeps the response cache.
Everything it takes and returns is plain JSON-ready data (``dict``, ``list``, ``str``,
numbers, ``None``) or a UTC ``datetime``, so implementations need no knowledge of delegate's
classes, and the core none of theirs.

Reads for a server: :meth:`RunStore.events` pages a run's events by ``seq``,
:meth:`RunStore.list_runs` pages the runs newest first with a cursor (:func:`encode_cursor`,
:func:`decode_cursor`), and :meth:`RunStore.run_stats` sums the tasks and usage of many runs
at once.

Implementations live beside this module (:mod:`delegate.durable.store.sql` over SQLAlchemy, for
SQLite and PostgreSQL); every one passes the shared contract suite in
``tests/durable/store/contract.py``.

Ownership: a run in progress is owned by one process (an :class:`Owner`). :meth:`claim`
takes a run over atomically and refuses (:class:`~delegate.errors.RunLocked`) while another
owner holds it, unless that owner is known dead or its heartbeat is older than
``stale_after`` seconds. The journal (:mod:`delegate.durable.journal`) decides who is dead.

Fencing: while a run is in progress its owner writes through :meth:`RunStore.write`, which
applies a :class:`Batch` in one transaction and only while that owner still owns the run, so
a process whose run was taken over (its heartbeat went stale, a resume claimed it) cannot
write into it any more: its next write raises :class:`~delegate.errors.StoreError` and
writes nothing.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...errors import StoreError
from ._interrupts import InterruptStore
from ._reads import check_limit, decode_cursor, encode_cursor, run_stats_of

__all__ = ["Batch", "ModelCallRecord", "Owner", "RunRecord", "RunStore", "check_limit",
           "check_owner", "decode_cursor", "encode_cursor", "run_stats_of"]

JSON = Any  # JSON-ready data


@dataclass(frozen=True, slots=True)
class Owner:
    """The process that owns a run: ``token`` is unique per process and claim."""

    token: str
    host: str
    pid: int


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run as stored.

    Attributes:
        run_id: the run's id (hex).
        kind: what ran, e.g. ``"run"``, ``"recommend"``, ``"blog"``.
        objective: the request, as the user gave it.
        request: everything needed to start the run again (command, workflow, options,
            model spec), JSON-ready.
        status: ``running`` while owned and unfinished; ``waiting`` when it stopped for a
            person's answer (an interrupt); then the run's status (``succeeded``,
            ``partial``, ``failed``, ``cancelled``). Free text: the store checks none.
        created_at, updated_at: UTC times.
        result: the final summary (``RunResult.to_dict()`` and the like) once finished.
        owner: the process that holds the run, or ``None``.
        heartbeat_at: when the owner last said it is alive.
    """

    run_id: str
    kind: str
    objective: str
    request: JSON = field(default_factory=dict)
    status: str = "running"
    created_at: datetime | None = None
    updated_at: datetime | None = None
    result: JSON = None
    owner: Owner | None = None
    heartbeat_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ModelCallRecord:
    """One model call of a run.

    Attributes:
        seq: order of the call within the run, from 0 (assigned by the caller).
        task_id: the task it served, or ``""`` for planning, review or synthesis.
        purpose: ``plan``, ``task``, ``review`` or ``synthesis``.
        provider, model: who answered.
        request_hash: sha256 hex of the canonical request (see
            :func:`delegate.llm.keys.request_key`).
        request: the request (messages, output schema, settings), JSON-ready.
        response: the response (text, data, usage, notes), JSON-ready.
        prompt_tokens, completion_tokens, latency_seconds: as measured.
        cost: in US dollars, ``None`` when the price is unknown.
        source: ``model`` (a real call), ``cache`` (from the response cache) or
            ``journal`` (replayed on resume).
    """

    seq: int
    task_id: str
    purpose: str
    provider: str
    model: str
    request_hash: str
    request: JSON
    response: JSON
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_seconds: float = 0.0
    cost: float | None = None
    source: str = "model"


@dataclass(slots=True)
class Batch:
    """Writes to one run that :meth:`RunStore.write` applies as one transaction.

    They are applied in this order: ``create``, ``plans``, ``outcomes`` (a later outcome of a
    task replaces an earlier one), ``calls``, ``events``, ``cache`` (an existing entry is
    kept), ``cache_hits``, ``release``. An empty batch writes nothing but the heartbeat.

    Attributes:
        create: a new run, owned by the writer (as :meth:`RunStore.create_run`).
        plans: ``{"version", "plan", "change", "reason"}`` per plan version.
        outcomes: ``(task_id, outcome)`` pairs.
        calls: model calls.
        events: ``{"seq", "kind", "data"}`` per event.
        cache: ``{"key", "provider", "model", "response"}`` per response cache entry.
        cache_hits: keys of response cache entries that answered a call (hits counted).
        release: ``{"status", "result"}``: give the run up last (as :meth:`RunStore.release`).
    """

    create: RunRecord | None = None
    plans: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[tuple[str, JSON]] = field(default_factory=list)
    calls: list[ModelCallRecord] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    cache: list[dict[str, Any]] = field(default_factory=list)
    cache_hits: list[str] = field(default_factory=list)
    release: dict[str, Any] | None = None

    def __bool__(self) -> bool:
        return bool(self.create or self.plans or self.outcomes or self.calls or self.events
                    or self.cache or self.cache_hits or self.release)


class RunStore(InterruptStore):
    """Where durable runs live. Every method commits before it returns.

    Raises:
        RunNotFound: a run id (or prefix) that matches no run, or several.
        RunLocked: :meth:`claim` while another live owner holds the run.
        InterruptNotFound, AlreadyAnswered: see :class:`InterruptStore`.
        StoreError: the store failed (cannot be reached, schema newer than this version).
    """

    # runs
    @abc.abstractmethod
    def create_run(self, run: RunRecord, owner: Owner) -> None:
        """Add a new run, owned by ``owner``, status ``running``."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """The run whose id is ``run_id`` or, failing that, starts with it (4+ characters)."""

    @abc.abstractmethod
    def list_runs(self, limit: int = 20, *, status: str | None = None,
                  before: tuple[datetime, str] | None = None) -> list[RunRecord]:
        """At most ``limit`` runs, newest first (by ``created_at``, ties by ``run_id``, both
        descending).

        Args:
            limit: how many runs at most (0 or more).
            status: only runs whose *stored* status is this (a run stored as ``running``
                whose owner died is still ``running`` here; the caller decides whether it
                is interrupted).
            before: ``(created_at, run_id)`` of a run, from :func:`decode_cursor`: only the
                runs after it in this order (the next page).

        Raises:
            UsageError: a negative ``limit``.
        """

    @abc.abstractmethod
    def claim(self, run_id: str, owner: Owner, *, stale_after: float,
              dead: Owner | None = None) -> RunRecord:
        """Make ``owner`` the owner of the run, atomically, set its status back to
        ``running``, and return the run as it was before (its previous owner and status).

        Succeeds when the run has no owner, when ``owner`` already owns it, when its owner is
        ``dead`` (the caller checked that process is gone), or when the owner's heartbeat is
        older than ``stale_after`` seconds. Otherwise raises ``RunLocked``.
        """

    @abc.abstractmethod
    def heartbeat(self, run_id: str, owner: Owner) -> None:
        """Say ``owner`` is alive; does nothing if it no longer owns the run."""

    @abc.abstractmethod
    def release(self, run_id: str, owner: Owner, *, status: str, result: JSON = None) -> None:
        """Give the run up: set its status (and result, if given) and clear its owner, if
        ``owner`` still owns it."""

    # what a run is made of
    @abc.abstractmethod
    def add_plan_version(self, run_id: str, version: int, plan: JSON, change: str,
                         reason: str) -> None:
        """Record a plan version; recording the same version again replaces it."""

    @abc.abstractmethod
    def plan_versions(self, run_id: str) -> list[dict[str, Any]]:
        """``{"version", "plan", "change", "reason"}`` per version, oldest first."""

    @abc.abstractmethod
    def save_outcome(self, run_id: str, task_id: str, outcome: JSON) -> None:
        """Record a task's outcome; a later one for the same task replaces it."""

    @abc.abstractmethod
    def outcomes(self, run_id: str) -> dict[str, JSON]:
        """The latest outcome of each task, by task id."""

    @abc.abstractmethod
    def add_model_call(self, run_id: str, call: ModelCallRecord) -> None:
        """Record one model call."""

    @abc.abstractmethod
    def model_calls(self, run_id: str) -> list[ModelCallRecord]:
        """The run's model calls in ``seq`` order."""

    @abc.abstractmethod
    def add_event(self, run_id: str, seq: int, kind: str, data: JSON) -> None:
        """Record one event; ``seq`` orders the run's events (unique per run)."""

    @abc.abstractmethod
    def events(self, run_id: str, after: int | None = None,
               limit: int | None = None) -> list[dict[str, Any]]:
        """``{"seq", "kind", "data"}`` per event with ``seq`` greater than ``after`` (every
        event when ``None``), in ``seq`` order, at most ``limit`` of them (no limit when
        ``None``). A run without events, or an unknown run id, has none.

        Raises:
            UsageError: a negative ``limit``.
        """

    def last_event_seq(self, run_id: str) -> int | None:
        """The highest event ``seq`` of the run, or ``None`` when it has no events (or is
        unknown). This default reads every event; stores override it with one query."""
        stored = self.events(run_id)
        return stored[-1]["seq"] if stored else None

    def run_stats(self, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """What each run is made of, for listing many runs without reading them whole:
        ``{run_id: {"tasks": {status: n}, "prompt_tokens", "completion_tokens", "cost",
        "model_calls"}}`` with an entry for every id given (exact ids; an unknown one has
        zeros).

        ``tasks`` counts the stored outcomes by their ``status`` (an outcome without a
        string status is not counted). Usage sums the run's real model calls only (source
        ``model``; answers from the journal or the cache cost nothing); ``cost`` is ``None``
        when one of them has no known price, as a run's own usage says it.

        This default reads each run's outcomes and calls; the SQL store overrides it with
        grouped queries.
        """
        return {run_id: run_stats_of(self.outcomes(run_id).values(), self.model_calls(run_id))
                for run_id in dict.fromkeys(run_ids)}

    # across runs
    @abc.abstractmethod
    def cache_get(self, key: str, *, count: bool = True) -> JSON | None:
        """The cached response for ``key``, or ``None``; a hit is counted when ``count``.
        A miss only reads (no write, no write lock)."""

    @abc.abstractmethod
    def cache_put(self, key: str, provider: str, model: str, response: JSON) -> None:
        """Cache ``response`` under ``key``; an existing entry is kept."""

    @abc.abstractmethod
    def schema_version(self) -> str:
        """The migration the store's schema is at."""

    # the owner's writes
    def write(self, run_id: str, owner: Owner, batch: Batch) -> None:
        """Apply ``batch`` to the run as one transaction, only while ``owner`` owns it, and
        refresh the owner's heartbeat (an empty batch is a heartbeat that checks ownership).

        With ``batch.create`` the run is created first, owned by ``owner``.

        This default applies the parts one by one after checking the owner, which is neither
        atomic nor fenced against a concurrent claim; stores override it with one transaction
        that checks the owner in it (the SQL and memory stores do).

        Raises:
            RunNotFound: no run has the id ``run_id``.
            StoreError: ``owner`` does not own the run (taken over, or released): nothing
                was written.
        """
        if batch.create is not None:
            self.create_run(batch.create, owner)
        check_owner(self.get_run(run_id), owner)
        self.heartbeat(run_id, owner)
        for plan in batch.plans:
            self.add_plan_version(run_id, plan["version"], plan["plan"], plan["change"],
                                  plan["reason"])
        for task_id, outcome in batch.outcomes:
            self.save_outcome(run_id, task_id, outcome)
        for call in batch.calls:
            self.add_model_call(run_id, call)
        for event in batch.events:
            self.add_event(run_id, event["seq"], event["kind"], event["data"])
        for entry in batch.cache:
            self.cache_put(entry["key"], entry["provider"], entry["model"], entry["response"])
        for key in batch.cache_hits:
            self.cache_get(key)
        if batch.release is not None:
            self.release(run_id, owner, status=batch.release["status"],
                         result=batch.release.get("result"))

    def close(self) -> None:
        """Release connections."""


def check_owner(run: RunRecord, owner: Owner) -> None:
    """Raise ``StoreError`` unless ``owner`` owns ``run`` (the fence of :meth:`RunStore.write`)."""
    held = run.owner
    if held is not None and held.token == owner.token:
        return
    if held is None:
        raise StoreError(f"run {run.run_id} is no longer owned by this process (it was "
                         f"released as {run.status}); nothing more is written to it")
    raise StoreError(f"run {run.run_id} was taken over by process {held.pid} on {held.host}; "
                     "this process no longer writes to it")
