"""The runs a server executes: accepted, queued FIFO above ``max_runs``, run on the server's
one :class:`~delegate.runtime.Runtime` with a journal on the store, cancelled, resumed, and
recovered at start.

A run is stored the moment it is accepted (its journal creates it under the server's owner,
with the heartbeat going), so a server killed while runs wait in its queue leaves them in the
store as ``interrupted``, and the next server start claims and runs them. The queue itself is
in memory: ``queued`` is what this server says of a run it holds but has not started.

Streams wait on :meth:`RunManager.watch`; the store's commit listeners (see
:mod:`delegate.durable.store`) wake them when a batch with events is committed, and a run's
end wakes them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..durable.journal import Journal
from ..durable.lease import effective_status
from ..errors import RunLocked, UsageError
from .errors import ApiError
from .launch import execute, servable

__all__ = ["LocalRun", "RunManager"]

log = logging.getLogger("delegate.server")


@dataclass(eq=False)
class LocalRun:
    """A run this server holds: queued, running, or just ended."""

    run_id: str
    request: Any
    journal: Journal
    state: str = "queued"  # queued, running, ended
    task: asyncio.Task[None] | None = None
    cancel_requested: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class RunManager:
    """The server's runs (see the module docstring).

    Args:
        store: the run store.
        runtime: the models, rate limits and prices every run shares.
        max_runs: how many runs execute at once; the rest wait, first come first served.
    """

    def __init__(self, store: Any, runtime: Any, max_runs: int) -> None:
        if max_runs < 1:
            raise UsageError("max_runs must be at least 1")
        self.store = store
        self.runtime = runtime
        self.max_runs = max_runs
        self.runs: dict[str, LocalRun] = {}
        self.queue: deque[LocalRun] = deque()
        self.running = 0
        self.closing = False
        self._changed: dict[str, set[asyncio.Event]] = {}
        try:  # the loop the streams wait on (the server's); set again on each submit
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    # what the routes ask
    def state(self, run_id: str) -> str | None:
        run = self.runs.get(run_id)
        return None if run is None or run.state == "ended" else run.state

    @property
    def queued(self) -> int:
        return len(self.queue)

    async def submit(self, request: Any, *, kind: str, objective: str) -> LocalRun:
        """Accept a new run: store it at once, then start it or queue it."""
        self._check_open()
        journal = Journal.start(self.store, kind=kind, request=request.model_dump(mode="json"))
        journal.create(objective)
        await journal.lease.flush()  # in the store before the client hears of it
        return self._enqueue(LocalRun(journal.run_id, request, journal))

    async def resume(self, run_id: str) -> LocalRun:
        """Take over a stored run that did not finish and carry it on here.

        Raises:
            ApiError: the run is active here (``run_active``), succeeded
                (``already_succeeded``), cannot be rebuilt (``not_resumable``) or is owned by
                another live process (``owned_elsewhere``).
        """
        self._check_open()
        record = self.store.get_run(run_id)
        if self.state(record.run_id) is not None:
            raise ApiError(409, "run_active", f"run {record.run_id} is already running here")
        if record.status == "succeeded":
            raise ApiError(409, "already_succeeded",
                           f"run {record.run_id} already succeeded; there is nothing to resume")
        try:
            request = servable(record.request, record.run_id)
        except UsageError as exc:
            raise ApiError(409, "not_resumable", str(exc)) from None
        try:
            journal = Journal.resume(self.store, record.run_id, cache=True)
        except RunLocked as exc:
            raise ApiError(409, "owned_elsewhere", str(exc)) from None
        return self._enqueue(LocalRun(record.run_id, request, journal))

    def cancel(self, run_id: str) -> None:
        """Cancel a run this server holds: a queued one ends ``cancelled`` at once, a running
        one is cancelled like a CLI run on Ctrl-C (its outcomes recorded, then given up).

        Raises:
            ApiError: ``run_not_active`` (ended) or ``owned_elsewhere`` (another process runs
                it).
        """
        run = self.runs.get(run_id)
        if run is None or run.state == "ended":
            record = self.store.get_run(run_id)
            if effective_status(record) == "running":
                raise ApiError(409, "owned_elsewhere", f"run {record.run_id} is run by another "
                               "process; cancel it there")
            raise ApiError(409, "run_not_active",
                           f"run {record.run_id} is not running (it is {effective_status(record)})")
        run.cancel_requested = True
        if run.state == "queued":
            self.queue.remove(run)
            run.task = asyncio.get_running_loop().create_task(self._give_up(run))
        elif run.task is not None:
            run.task.cancel()

    async def recover(self) -> list[str]:
        """Claim and carry on every stored run whose owner died, and every waiting run whose
        questions were all answered while no server ran it (``delegate runs answer``); return
        their ids. They join the queue oldest first (by ``created_at``, the order they were
        submitted in), as if they had been submitted again in that order. A run the server
        cannot rebuild, or that another process took first, is left as it is (logged)."""
        taken = []
        died = [r for r in self.store.list_runs(10_000, status="running")
                if effective_status(r) == "interrupted"]
        answered = [r for r in self.store.list_runs(10_000, status="waiting")
                    if not self.store.interrupts(r.run_id, status="pending")]
        for record in sorted((*died, *answered), key=lambda r: (r.created_at, r.run_id)):
            try:
                await self.resume(record.run_id)
                taken.append(record.run_id)
            except (ApiError, UsageError) as exc:
                log.warning("delegate: run %s is not recovered: %s", record.run_id, exc)
        return taken

    def stop(self) -> None:
        """Stop taking runs; cancel what is queued and running (recorded ``cancelled``, so
        ``POST /api/runs/{id}/resume`` carries them on), without waiting; wake every stream, so
        that each sees the server stop. Called again, it cancels nothing twice."""
        self.closing = True
        for run in list(self.runs.values()):
            if run.state != "ended" and not run.cancel_requested:
                with contextlib.suppress(ApiError):
                    self.cancel(run.run_id)
        for run_id in list(self._changed):
            self.notify(run_id)

    async def close(self) -> None:
        """:meth:`stop`, then wait for the runs to end."""
        self.stop()
        tasks = [r.task for r in self.runs.values() if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # streams
    @contextlib.contextmanager
    def watch(self, run_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever something may have changed for ``run_id`` (events
        committed, the run ended), for as long as the block lasts. A stream clears it before
        each read of the store, so a change during the read is not missed."""
        event = asyncio.Event()
        waiters = self._changed.setdefault(run_id, set())
        waiters.add(event)
        try:
            yield event
        finally:
            waiters.discard(event)
            if not waiters:
                self._changed.pop(run_id, None)

    def notify(self, run_id: str) -> None:
        """Wake the streams of ``run_id`` (on the server's loop)."""
        for event in self._changed.get(run_id, ()):
            event.set()

    def notify_threadsafe(self, run_id: str) -> None:
        """:meth:`notify` from any thread (the store's writer calls it after a commit)."""
        loop = self._loop
        if loop is not None and run_id in self._changed and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.notify, run_id)

    # the queue
    def _check_open(self) -> None:
        if self.closing:
            raise ApiError(503, "shutting_down", "the server is shutting down")
        self._loop = asyncio.get_running_loop()

    def _enqueue(self, run: LocalRun) -> LocalRun:
        self.runs[run.run_id] = run
        self.queue.append(run)
        self._next()
        return run

    def _next(self) -> None:
        while self.queue and self.running < self.max_runs and not self.closing:
            run = self.queue.popleft()
            run.state = "running"
            self.running += 1
            run.task = asyncio.get_running_loop().create_task(
                self._execute(run), name=f"delegate run {run.run_id[:8]}")

    async def _execute(self, run: LocalRun) -> None:
        try:
            with self.runtime.use():
                async with run.journal.running():
                    await execute(run.request, runtime=self.runtime, journal=run.journal)
        except asyncio.CancelledError:
            if not run.cancel_requested:
                raise
        except Exception as exc:  # recorded by the journal as the run's failure
            log.warning("delegate: run %s failed: %s", run.run_id, exc)
        finally:
            self.running -= 1
            self._end(run)
            self._next()

    async def _give_up(self, run: LocalRun) -> None:
        try:
            await run.journal.close("cancelled", error="cancelled before it started")
        except Exception as exc:
            log.warning("delegate: run %s was not given up: %s", run.run_id, exc)
        finally:
            self._end(run)

    def _end(self, run: LocalRun) -> None:
        run.state = "ended"
        run.ended.set()
        self.notify(run.run_id)
