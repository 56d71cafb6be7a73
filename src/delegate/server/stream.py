"""A run's events as Server-Sent Events, lossless across reconnects.

Every event sent is read from the store: ``id:`` is its sequence number there, ``event:`` its
kind, ``data:`` its JSON. A client that reconnects with ``Last-Event-ID`` (or ``?after=``) gets
exactly the events after that one: first those already stored, then each as it is committed,
so there is no gap and no duplicate whoever writes the run (this server, a CLI process, another
server on the same PostgreSQL). When the run has ended and everything stored was sent, a final
``end`` event carries its status and the stream closes. A run that is in no process's hands
(``interrupted``: its owner died) ends the stream too, with that status; reconnecting later
carries on where it stopped.

The stream wakes when the store commits events of the run (the manager's
:meth:`~delegate.server.manager.RunManager.watch`) and otherwise looks again every
:data:`POLL` seconds, which is how it follows a run another process writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from ..durable.lease import effective_status

__all__ = ["BATCH", "KEEP_ALIVE", "POLL", "run_events"]

#: Seconds between two looks at the store when nothing woke the stream.
POLL = 0.5
#: Seconds between two keep-alive comments.
KEEP_ALIVE = 15.0
#: Most events read from the store at once.
BATCH = 500


async def run_events(store: Any, manager: Any, run_id: str, after: int | None,
                     ) -> AsyncIterator[dict[str, Any]]:
    """The stream's messages (for ``sse_starlette``), from the event after ``after``."""
    last = -1 if after is None else after
    with manager.watch(run_id) as changed:
        while True:
            changed.clear()  # before the read: a commit during it wakes the wait below
            events = await asyncio.to_thread(store.events, run_id, after=last, limit=BATCH)
            for event in events:
                last = event["seq"]
                yield {"id": str(last), "event": event["kind"],
                       "data": json.dumps(event["data"], ensure_ascii=False, default=str)}
            if events:
                continue
            status = await asyncio.to_thread(_status, store, manager, run_id)
            if status not in ("running", "queued"):
                # the run was given up after its last events were committed: one more look
                if not await asyncio.to_thread(store.events, run_id, after=last, limit=1):
                    yield {"event": "end", "data": json.dumps({"status": status})}
                    return
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), POLL)


def _status(store: Any, manager: Any, run_id: str) -> str:
    local = manager.state(run_id)
    if local is not None:
        return local
    return effective_status(store.get_run(run_id))
