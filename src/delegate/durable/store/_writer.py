"""A run's writer thread: the store I/O of a :class:`~delegate.durable.journal.Journal`, off the
event loop, written in batches.

Operations are queued as ``(kind, value, future)``. The thread takes all that are waiting (up
to :data:`MAX_BATCH`), writes their writes as one :class:`~delegate.durable.store.base.Batch` with
:meth:`RunStore.write` (one transaction, checked against the run's owner), then runs their
reads, then settles their futures.

Kinds: a :class:`Batch` field (``create`` and ``release`` set it, the list fields append
``value``), ``touch`` (a heartbeat: an empty batch), ``flush`` (nothing: settled after the
writes before it) and ``read`` (``value()`` runs on the thread; the future gets its result).
Once a write failed, later writes are dropped (their futures get the failure), except
``release``, which is still tried. The thread ends after :data:`IDLE_SECONDS` without work
and starts again with the next operation.

After a committed batch that wrote events, created the run or gave it up, and before its
futures are settled, the thread calls ``on_commit`` and every listener of
:data:`~delegate.durable.store._commits.commit_listeners` with the run's id.

Operations that nobody waits for (events) are collected on the event loop and handed to the
thread together, :data:`HANDOFF_SECONDS` after the first of them or with the next operation
that is waited for: waking the thread for each event would make it and the loop take turns at
the interpreter lock hundreds of times a run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

from ...errors import DelegateError, StoreError
from ._commits import notify_commit
from .base import Batch, Owner, RunStore

__all__ = ["BatchWriter", "store_error"]

#: Most queued operations written in one transaction.
MAX_BATCH = 2000
#: Seconds the thread waits for work before it ends (it starts again when needed).
IDLE_SECONDS = 5.0
#: Seconds operations are collected on the event loop before they go to the thread.
HANDOFF_SECONDS = 0.005
Op = tuple[str, Any, "concurrent.futures.Future | None"]


class BatchWriter:
    """Writes one run's operations to ``store`` on a thread of its own (see the module).

    Args:
        store, run_id, owner: where, what, and as whom every batch is written.
        on_failure: called on the thread with the ``StoreError`` of a failed write.
        name: the thread's name.
        on_commit: called on the thread with ``run_id`` after each committed batch that
            wrote events, created the run or gave it up (as the module's listeners are).

    Attributes:
        error: the first failed write's error, or ``None``.
    """

    def __init__(self, store: RunStore, run_id: str, owner: Owner,
                 on_failure: Callable[[StoreError], None], *, name: str = "",
                 on_commit: Callable[[str], None] | None = None) -> None:
        self.store, self.run_id, self.owner = store, run_id, owner
        self.error: StoreError | None = None
        self._on_failure = on_failure
        self._on_commit = on_commit
        self._name = name or f"delegate-writer-{run_id[:8]}"
        self._queue: queue.SimpleQueue[list[Op]] = queue.SimpleQueue()
        self._pending: list[Op] = []
        self._timer: asyncio.TimerHandle | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def put(self, kind: str, value: Any, *, wait: bool = False,
            ) -> concurrent.futures.Future | None:
        """Queue one operation (on the event loop's thread); with ``wait``, hand everything
        over now and return a future settled once the operation is done."""
        future: concurrent.futures.Future | None = concurrent.futures.Future() if wait else None
        self._pending.append((kind, value, future))
        if wait:
            self.handoff()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop to collect on
                self.handoff()
            else:
                self._timer = loop.call_later(HANDOFF_SECONDS, self.handoff)
        return future

    def handoff(self) -> None:
        """Hand the collected operations to the thread (starting it if need be)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, self._pending = self._pending, []
        if not items:
            return
        with self._lock:
            self._queue.put(items)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name=self._name)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                items = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            while len(items) < MAX_BATCH:
                try:
                    items += self._queue.get_nowait()
                except queue.Empty:
                    break
            self._apply(items)

    def _apply(self, items: list[Op]) -> None:
        batch, write = Batch(), False
        waiters: list[concurrent.futures.Future] = []
        reads: list[tuple[Callable[[], Any], concurrent.futures.Future | None]] = []
        for kind, value, future in items:
            if kind == "read":
                reads.append((value, future))
                continue
            if kind != "flush" and (self.error is None or kind == "release"):
                write = True
                if kind in ("create", "release"):
                    setattr(batch, kind, value)
                elif kind != "touch":
                    getattr(batch, kind).append(value)
            if future is not None:
                waiters.append(future)
        failure = self.error
        if write:
            try:
                self.store.write(self.run_id, self.owner, batch)
            except Exception as exc:
                failure = store_error(exc, self.run_id)
                if self.error is None:
                    self.error = failure
                self._on_failure(failure)
            else:
                if batch.release is not None:
                    failure = None  # given up as asked; an earlier failure is the caller's
                if batch.events or batch.create is not None or batch.release is not None:
                    notify_commit(self.run_id, self._on_commit)
        for future in waiters:
            _settle(future, error=failure)
        for read, future in reads:
            try:
                value = read()
            except Exception as exc:
                _settle(future, error=store_error(exc, self.run_id))
            else:
                _settle(future, value)


def _settle(future: concurrent.futures.Future | None, value: Any = None, *,
            error: BaseException | None = None) -> None:
    if future is None:
        return
    with contextlib.suppress(concurrent.futures.InvalidStateError):  # the waiter gave up
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def store_error(error: BaseException, run_id: str) -> StoreError:
    """``error`` as a one-line ``StoreError``."""
    if isinstance(error, StoreError):
        return error
    if isinstance(error, DelegateError):  # RunNotFound and the like: said as a store error
        return StoreError(f"run store: {error.message}")
    text = " ".join(str(error).split()) or type(error).__name__
    return StoreError(f"writing run {run_id} to the store failed: {type(error).__name__}: "
                      f"{text}")
