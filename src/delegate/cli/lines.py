"""Lines read from a terminal off the event loop: a question asked while a run goes on
(its heartbeat, its other tasks) without blocking it, where Ctrl-C or the end of input is an
answer of its own (no answer), not the end of the run."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["LineReader", "ReadLine"]

#: Reads one line after showing a prompt (``input`` or a terminal library's prompt).
ReadLine = Callable[[str], str]


class LineReader:
    """Reads lines with a blocking ``read(prompt)``, one read at a time.

    :meth:`ask` reads in a thread, so the event loop runs on; Ctrl-C while it waits stands
    for no answer (instead of cancelling the run) and leaves the read waiting: the next
    :meth:`ask` or :meth:`line` takes its line, so two readers never share one input.
    """

    def __init__(self, read: ReadLine) -> None:
        self.read = read
        self._pending: concurrent.futures.Future[str | None] | None = None
        self._lock = threading.Lock()

    def _call(self, prompt: str) -> str | None:
        try:
            return self.read(prompt)
        except (EOFError, KeyboardInterrupt, OSError, ValueError):
            return None

    def _start(self, prompt: str) -> concurrent.futures.Future[str | None]:
        with self._lock:
            if self._pending is None:
                future: concurrent.futures.Future[str | None] = concurrent.futures.Future()
                self._pending = future

                def work() -> None:
                    future.set_result(self._call(prompt))

                threading.Thread(target=work, name="delegate reader", daemon=True).start()
            return self._pending

    def _taken(self, future: concurrent.futures.Future[str | None]) -> str | None:
        with self._lock:
            if self._pending is future:
                self._pending = None
        return future.result()

    def line(self, prompt: str) -> str:
        """One line read here (or the line of a read left waiting).

        Raises:
            EOFError, KeyboardInterrupt: as ``read`` raised them.
        """
        with self._lock:
            pending = self._pending
        if pending is None:
            return self.read(prompt)
        value = self._taken(pending)
        if value is None:
            raise EOFError
        return value

    async def ask(self, prompt: str) -> str | None:
        """One line read in a thread; ``None`` at the end of input or on Ctrl-C."""
        loop = asyncio.get_running_loop()
        read: asyncio.Future[None] = loop.create_future()

        def wake(_: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed after a Ctrl-C
                loop.call_soon_threadsafe(_settle, read, None)

        # Ctrl-C is taken as no answer before the prompt can show: a person who sees it
        # and presses Ctrl-C at once must not cancel the run instead.
        with _ctrl_c_settles(loop) as interrupted:
            future = self._start(prompt)
            future.add_done_callback(wake)
            await asyncio.wait([read, interrupted], return_when=asyncio.FIRST_COMPLETED)
        if not future.done():
            return None
        return self._taken(future)


@contextlib.contextmanager
def _ctrl_c_settles(loop: asyncio.AbstractEventLoop) -> Iterator[asyncio.Future[None]]:
    """A future settled by Ctrl-C (SIGINT) while the block runs, instead of the run being
    cancelled; outside the main thread it is never settled."""
    interrupted: asyncio.Future[None] = loop.create_future()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def on_sigint(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(_settle, interrupted, None)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
        if not interrupted.done():
            interrupted.cancel()


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)
