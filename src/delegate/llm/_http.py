"""The HTTP clients of the provider SDKs: :class:`ClientPerLoop` holds one SDK client per event
loop, for the OpenAI-compatible and Anthropic modules.

An SDK client pools keep-alive connections whose transports belong to the loop that opened
them, so a client made under one ``asyncio.run`` fails under the next ("Event loop is
closed"). Each loop gets its own client on first use, closed when that loop shuts down; the
client of a loop that has closed is dropped, never reused; ``aclose`` closes the clients it
made. What the SDKs raise is translated by :mod:`delegate.llm._failures`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["PLACEHOLDER_KEY", "ClientPerLoop"]

PLACEHOLDER_KEY = "not-needed"  # local servers ignore the key, but the SDK wants one


class ClientPerLoop:
    """One SDK client per event loop, made on first use in that loop, closed when that loop
    shuts down.

    Closing at shutdown: each client is tied to an async generator started in its loop, whose
    ``finally`` closes the client. ``asyncio.run`` (and ``asyncio.Runner``) close a loop's
    unfinished async generators before closing the loop, so the client's connections are closed
    while their loop can still do it. A loop closed without that step leaves its client to be
    dropped: a client of a closed loop is never reused.

    Args:
        factory: makes a new client; called from inside the loop that will use it.

    Thread-safe: loops on several threads may share one instance.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        # id(loop) -> (a weak reference to the loop, its client, the generator that closes it)
        self._clients: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], Any, Any]] = {}

    def get(self) -> Any:
        """The running loop's client; a new one if the loop has none yet.

        Raises:
            RuntimeError: when called outside a running event loop.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            self._drop_dead()
            entry = self._clients.get(id(loop))
            if entry is not None and entry[0]() is loop:
                return entry[1]
            client = self._factory()
            self._clients[id(loop)] = (weakref.ref(loop), client, _closer(client))
            return client

    def __len__(self) -> int:
        """How many clients are held (of loops that are still open)."""
        with self._lock:
            self._drop_dead()
            return len(self._clients)

    def _drop_dead(self) -> None:
        """Forget the clients of loops that are gone or closed: their connections cannot be
        used from any other loop."""
        for key, (ref, _client, _gen) in list(self._clients.items()):
            loop = ref()
            if loop is None or loop.is_closed():
                del self._clients[key]

    async def aclose(self) -> None:
        """Close every client made so far and forget them all.

        The running loop's client is closed here; a client of another loop that is still
        running (on another thread) is closed on that loop without waiting; a client of a
        closed loop was closed when its loop shut down, or is dropped. Later calls make new
        clients.
        """
        here = asyncio.get_running_loop()
        with self._lock:
            entries = list(self._clients.values())
            self._clients.clear()
        for ref, _client, closer in entries:
            loop = ref()
            if loop is here:
                await closer.aclose()
            elif loop is not None and not loop.is_closed() and loop.is_running():
                asyncio.run_coroutine_threadsafe(closer.aclose(), loop)


def _closer(client: Any) -> Any:
    """An async generator, started in the running loop, whose ``finally`` closes ``client``.

    The loop keeps a (weak) reference to every async generator started in it and closes those
    still open when it shuts down; the caller keeps the strong reference.
    """

    async def close_at_shutdown() -> Any:
        try:
            yield
        finally:
            await client.close()

    gen = close_at_shutdown()
    step = gen.__anext__()  # registers the generator with the running loop
    with contextlib.suppress(StopIteration):
        step.send(None)  # runs it to its ``yield`` at once: nothing before it awaits
    return gen
