"""Commit listeners: who hears that a run's writes reached the store.

:data:`commit_listeners` is a set of callables ``(run_id) -> None``. The writer thread of every
journal in this process (:class:`~delegate.durable.store._writer.BatchWriter`) calls each of
them after it committed a batch that wrote events, created the run or gave it up, so a server
can wake the streams of that run the moment its events are readable, instead of polling. A
listener runs on the writer's thread: it must return quickly and not block (hand the id to an
event loop with ``loop.call_soon_threadsafe``). A listener that raises is logged and ignored;
it never fails the write, which was committed already.

Writes made by another process are not heard: a reader of a shared store still polls for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["commit_listeners", "notify_commit"]

#: Called with a run's id after each committed batch that wrote its events, created it or
#: gave it up (see the module).
commit_listeners: set[Callable[[str], None]] = set()

_log = logging.getLogger("delegate.durable.store")


def notify_commit(run_id: str, *extra: Callable[[str], None] | None) -> None:
    """Tell ``extra`` (those given) and every listener of :data:`commit_listeners` that
    ``run_id``'s batch is committed; one that raises is logged and skipped."""
    for listener in (*(e for e in extra if e is not None), *commit_listeners.copy()):
        try:
            listener(run_id)
        except Exception:
            _log.exception("a commit listener (%r) failed for run %s; it was skipped",
                           listener, run_id)
