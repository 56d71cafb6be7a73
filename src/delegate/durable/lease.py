"""The lease: one owner writes a run at a time.

A :class:`Lease` is this process's hold on one stored run. It holds

- the **owner** (a random id, the host and the pid) the run is stored under: a new run is
  created with it, a resumed one is *claimed* for it (:meth:`Lease.claim`: refused while
  another live process owns the run);
- the **fenced writes**: every batch goes through one writer thread per run
  (:mod:`delegate.durable.store._writer`) and is written only while this owner still owns the
  run (the check is in the batch's transaction);
- the **heartbeat**, every :data:`HEARTBEAT_EVERY` seconds, that says the owner is alive (and
  checks that it still owns the run);
- the **failure** that ends the hold: when a write or a heartbeat fails (the store failed, or
  the run was taken over by another process), :attr:`Lease.error` is set and every later
  :meth:`Lease.check` raises it.

A run whose owner died without giving it up (``kill -9``) still says ``running`` in the
store: :func:`effective_status` reads it as ``interrupted``, and it may be claimed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import StoreError
from .store._writer import BatchWriter, store_error
from .store.base import Owner, RunRecord, RunStore

__all__ = ["CLOSE_TIMEOUT", "HEARTBEAT_EVERY", "STALE_AFTER", "Lease", "effective_status"]

#: A run whose owner has not said it is alive for this long may be taken over.
STALE_AFTER = 120.0
HEARTBEAT_EVERY = 15.0
#: Longest wait, in seconds, for the store to take a run's last writes when it is given up.
CLOSE_TIMEOUT = 60.0


def effective_status(record: RunRecord, *, stale_after: float | None = None) -> str:
    """The status to show for a stored run: its stored status, except that a run still
    marked ``running`` whose owner is gone (a process of this host that no longer exists, no
    owner at all, or no heartbeat for ``stale_after`` seconds, :data:`STALE_AFTER` by
    default) is ``interrupted``: it died without giving the run up, and
    ``Journal.resume`` may take it over."""
    if record.status != "running":
        return record.status
    owner, beat = record.owner, record.heartbeat_at
    if owner is None or is_dead(owner):
        return "interrupted"
    stale = STALE_AFTER if stale_after is None else stale_after
    if beat is None or beat < datetime.now(UTC) - timedelta(seconds=stale):
        return "interrupted"
    return "running"


def is_dead(owner: Owner) -> bool:
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


class Lease:
    """This process's hold on run ``run_id`` of ``store`` (see the module docstring).

    Attributes:
        owner: who this process is, in the store.
        held: the run is in the store under :attr:`owner` (created, or claimed).
        released: the run was given up; nothing more is written.
        error: why the lease failed (a write or a heartbeat), or ``None``.
        heartbeat_every: seconds between heartbeats.
    """

    def __init__(self, store: RunStore, run_id: str, *,
                 heartbeat_every: float = HEARTBEAT_EVERY) -> None:
        self.store = store
        self.run_id = run_id
        self.owner = Owner(uuid.uuid4().hex, socket.gethostname(), os.getpid())
        self.heartbeat_every = heartbeat_every
        self.held = False
        self.released = False
        self.error: StoreError | None = None
        self._writer = BatchWriter(store, run_id, self.owner, self.fail,
                                   name=f"delegate-journal-{run_id[:8]}")
        self._beat: asyncio.Task[None] | None = None

    def claim(self, record: RunRecord) -> None:
        """Take over the stored run ``record`` (to resume it).

        Raises:
            RunLocked: another live process owns it.
        """
        owner = record.owner
        dead = owner if owner is not None and is_dead(owner) else None
        self.store.claim(record.run_id, self.owner, stale_after=STALE_AFTER, dead=dead)
        self.held = True

    def create(self, record: RunRecord) -> None:
        """Store the new run ``record`` under this owner (queued, like every write)."""
        self.start_heartbeat()
        self.put("create", record)
        self.held = True

    # fenced writes
    def put(self, kind: str, value: Any, *, wait: bool = False,
            ) -> concurrent.futures.Future | None:
        """Queue one operation for the writer thread (see :mod:`~delegate.durable.store._writer`
        for the kinds); with ``wait``, a future settled once it is done."""
        return self._writer.put(kind, value, wait=wait)

    async def wait(self, future: concurrent.futures.Future | None,
                   timeout: float | None = None) -> Any:
        """Await an operation's ``future`` on the event loop, at most ``timeout`` seconds.

        Raises:
            StoreError: the operation failed, or the store did not answer in time.
        """
        assert future is not None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            raise StoreError(f"the run store did not take the writes of run {self.run_id} "
                             f"within {timeout:g} s") from None

    def check(self) -> None:
        """Raise the lease's failure, if it failed."""
        if self.error is not None:
            raise StoreError(self.error.message)

    def fail(self, error: StoreError) -> None:
        """Enter the failed state (the first failure is the one reported)."""
        if self.error is None:
            self.error = error

    async def flush(self) -> None:
        """Wait until everything queued is written; raise if the lease failed."""
        if self.held:
            try:
                await self.wait(self.put("flush", None, wait=True), CLOSE_TIMEOUT)
            except StoreError as exc:  # a write failed, or the store did not answer in time
                self.fail(exc)
        self.check()

    async def release(self, status: str, result: Any) -> None:
        """Give the run up with ``status`` and ``result`` (JSON-ready, clean): the last
        write, tried even after a failure; once only.

        Raises:
            StoreError: the lease failed, or this write did.
        """
        if self.released:
            return
        self.released = True
        self.stop_heartbeat()
        if not self.held:
            return
        try:
            await self.wait(self.put("release", {"status": status, "result": result},
                                     wait=True), CLOSE_TIMEOUT)
        except StoreError as exc:
            self.fail(exc)
        self.check()

    # the heartbeat
    def start_heartbeat(self) -> None:
        """Start saying the owner is alive (on the running loop; idempotent)."""
        if self._beat is not None or self.released:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._beat = loop.create_task(self._heartbeats(), name=f"journal {self.run_id[:8]}")

    def stop_heartbeat(self) -> None:
        beat, self._beat = self._beat, None
        if beat is not None and not beat.done():
            with contextlib.suppress(RuntimeError):  # its loop is already closed
                beat.cancel()

    async def _heartbeats(self) -> None:
        """Say the owner is alive, checking it still owns the run; a failure fails the
        lease instead of ending the heartbeat silently."""
        try:
            while self.error is None:
                await asyncio.sleep(self.heartbeat_every)
                if self.held:
                    await self.wait(self.put("touch", None, wait=True))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.fail(store_error(exc, self.run_id))
