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

When the server stops (Ctrl-C or SIGTERM under uvicorn), streams end themselves rather than
being cut off: :func:`end_streams_at_exit` sees uvicorn's exit begin and stops the manager,
which cancels this server's runs at once (without it they would only be cancelled after every
connection had closed, which a stream waiting for its run's end never does). A stream of one
of those runs then sends the rest of its events, ``RunFinished`` included, and its ``end``; a
stream of a run another process writes closes at once with no ``end`` (that run goes on; an
``EventSource`` reconnects). A run that has not ended after :data:`SHUTDOWN_GRACE` seconds
closes its stream the same way; a stream still open a second after that (a client that stopped
reading) is cut off by sse-starlette, as it is by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette.sse import AppStatus

from ..durable.lease import effective_status

__all__ = ["BATCH", "KEEP_ALIVE", "POLL", "SHUTDOWN_GRACE", "end_streams_at_exit",
           "run_events"]

#: Seconds between two looks at the store when nothing woke the stream.
POLL = 0.5
#: Seconds between two keep-alive comments.
KEEP_ALIVE = 15.0
#: Most events read from the store at once.
BATCH = 500
#: Seconds a stream waits, once the server stops, for its run's cancellation to be stored.
SHUTDOWN_GRACE = 5.0


async def run_events(store: Any, manager: Any, run_id: str, after: int | None,
                     ) -> AsyncIterator[dict[str, Any]]:
    """The stream's messages (for ``sse_starlette``), from the event after ``after``."""
    last = -1 if after is None else after
    stop: float | None = None  # when the stream closes, once the server stops
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
            wait = POLL
            if manager.closing:  # the server stops: wait for this server's run to end, a while
                now = asyncio.get_running_loop().time()
                stop = now + SHUTDOWN_GRACE if stop is None else stop
                if manager.state(run_id) is None or now >= stop:
                    return  # another process's run, or one not ended in time: no ``end``
                wait = min(POLL, stop - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), wait)


def _status(store: Any, manager: Any, run_id: str) -> str:
    local = manager.state(run_id)
    if local is not None:
        return local
    return effective_status(store.get_run(run_id))


@contextlib.asynccontextmanager
async def end_streams_at_exit(manager: Any) -> AsyncIterator[None]:
    """For as long as the block lasts (the application's lifespan), when the uvicorn server
    running it begins to exit, stop ``manager`` (its runs are cancelled, its streams woken), so
    that the streams end themselves (see the module docstring).

    sse-starlette's own drain, which cancels every stream the moment uvicorn begins to exit, is
    turned off meanwhile (it is one switch for the whole process; its previous value comes back
    when the block ends); :data:`SHUTDOWN_GRACE` seconds and one more after the exit began, its
    ``AppStatus.should_exit`` is set, so that it cuts off whatever stream is still open. Under
    another server, or a uvicorn that installed no signal handlers (one run in a thread), this
    does nothing and sse-starlette behaves as it does by default.
    """
    server = _uvicorn_server()
    if server is None:
        yield
        return
    # the switch of sse-starlette 3.2 and later (set as an attribute: an older one has none,
    # and then cuts the streams off at once, as it always did)
    drained = getattr(AppStatus, "enable_automatic_graceful_drain", True)
    AppStatus.enable_automatic_graceful_drain = False
    watcher = asyncio.get_running_loop().create_task(_follow_exit(server, manager),
                                                     name="delegate: end streams at exit")
    try:
        yield
    finally:
        cut = watcher.done() and not watcher.cancelled()  # it set AppStatus.should_exit
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        AppStatus.enable_automatic_graceful_drain = drained
        if cut:  # for this server only: a later one in this process starts with it unset
            AppStatus.should_exit = False


async def _follow_exit(server: Any, manager: Any) -> None:
    while not server.should_exit:  # uvicorn itself looks every 0.1 s
        await asyncio.sleep(0.1)
    manager.stop()
    await asyncio.sleep(SHUTDOWN_GRACE + 1.0)  # ended here, at lifespan shutdown, if all closed
    AppStatus.should_exit = True


def _uvicorn_server() -> Any:
    """The uvicorn server running this loop, found as sse-starlette finds it: uvicorn's signal
    handler is a method of it. ``None`` when there is none."""
    handler = signal.getsignal(signal.SIGTERM)
    server = getattr(handler, "__self__", None)
    return server if hasattr(server, "should_exit") else None
