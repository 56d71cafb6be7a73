"""What the server tests share: a scripted model whose tasks can be held at a gate, an app on
a store of the test's own, and a real uvicorn on 127.0.0.1 for the streaming tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

from delegate.llm.scripted import ScriptedModel
from delegate.runtime import Runtime

TOKEN = "test-token-0123456789abcdef"
HOST = "127.0.0.1:8765"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Gates:
    """Task instructions that name ``HOLD`` wait until :meth:`open` (from any thread)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.held = threading.Event()  # a task reached the gate
        self.calls: list[str] = []

    def open(self) -> None:
        self.gate.set()

    def model(self, tasks: int = 2, *, hold: bool = False) -> ScriptedModel:
        """A model that plans ``tasks`` researcher tasks (the first held when ``hold``) and
        answers each in one line."""

        async def answer(call: Any) -> Any:
            if isinstance(call.output, dict):
                return {"tasks": [
                    {"id": f"t{i}", "worker": "researcher", "depends_on": [],
                     "instruction": f"{'HOLD ' if hold and i == 1 else ''}Find fact {i}."}
                    for i in range(1, tasks + 1)]}
            self.calls.append(call.last_user)
            if "HOLD" in call.last_user:
                self.held.set()
                while not self.gate.is_set():  # cancellable, unlike a thread blocked on it
                    await asyncio.sleep(0.005)
            return "Owls hunt at night and see well in the dark."

        return ScriptedModel(function=answer)


def runtime_with(**models: ScriptedModel) -> Runtime:
    """A runtime answering ``scripted:NAME`` with each model given as ``NAME=model``."""
    runtime = Runtime()
    for name, model in models.items():
        runtime.add_model(f"scripted:{name}", model)
    return runtime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def uvicorn_server(app: Any, port: int) -> Iterator[Any]:
    """``app`` under a real uvicorn on 127.0.0.1:``port``, in a thread, until the block ends."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                          log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            thread.join(0.01)
        yield server
    finally:
        server.should_exit = True
        thread.join(30)
