"""PocketFlow, with its native constructs.

Fan-out: an ``AsyncFlow`` of a planner ``AsyncNode`` (writes the items into the shared
store), an ``AsyncParallelBatchNode`` (``exec_async`` once per item, all at once under
``asyncio.gather``) and an aggregator ``AsyncNode``. Built once; the flow copies its nodes
on every run.

PocketFlow has no general DAG: a flow is a chain of nodes. The layered DAG (every task of a
layer depends on every task of the layer before) is exactly a chain of parallel batch nodes,
one per layer, so that shape is built; any other shape returns ``None`` from :func:`build`.
PocketFlow has no concurrency limit either.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from dags import Dag
from pocketflow import AsyncFlow, AsyncNode, AsyncParallelBatchNode

__all__ = ["build", "fanout", "layers_of"]


class Planner(AsyncNode):
    async def prep_async(self, shared: dict[str, Any]) -> tuple[int, float]:
        return shared["n"], shared["work"]

    async def exec_async(self, prep_res: tuple[int, float]) -> list[tuple[int, float]]:
        n, work = prep_res
        return [(i, work) for i in range(n)]

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: Any) -> str:
        shared["items"] = exec_res
        return "default"


class Work(AsyncParallelBatchNode):
    async def prep_async(self, shared: dict[str, Any]) -> list[tuple[int, float]]:
        return shared["items"]

    async def exec_async(self, item: tuple[int, float]) -> int:
        i, work = item
        if work:
            await asyncio.sleep(work)
        return i

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: Any) -> str:
        shared["results"] = exec_res
        return "default"


class Gather(AsyncNode):
    async def prep_async(self, shared: dict[str, Any]) -> list[int]:
        return shared["results"]

    async def exec_async(self, prep_res: list[int]) -> int:
        return len(prep_res)

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: int) -> None:
        shared["total"] = exec_res


def _fanout_flow() -> AsyncFlow:
    planner = Planner()
    planner >> Work() >> Gather()
    return AsyncFlow(start=planner)


_FANOUT = _fanout_flow()


async def fanout(n: int, work: float) -> int:
    shared: dict[str, Any] = {"n": n, "work": work}
    await _FANOUT.run_async(shared)
    return shared["total"]


def layers_of(dag: Dag) -> list[tuple[str, ...]] | None:
    """The layers of ``dag`` when it is layered (each task depends on exactly every task of
    the layer before), else ``None``."""
    layers: list[tuple[str, ...]] = []
    previous: tuple[str, ...] = ()
    remaining = list(dag.tasks)
    while remaining:
        layer = tuple(t for t in remaining if set(dag.deps[t]) == set(previous))
        if not layer:
            return None
        layers.append(layer)
        remaining = [t for t in remaining if t not in layer]
        previous = layer
    return layers


class Layer(AsyncParallelBatchNode):
    def __init__(self, tasks: tuple[str, ...], dag: Dag,
                 trace: list[tuple[str, float, float]] | None) -> None:
        super().__init__()
        self.tasks, self.dag, self.trace = tasks, dag, trace

    async def prep_async(self, shared: dict[str, Any]) -> tuple[str, ...]:
        return self.tasks

    async def exec_async(self, task: str) -> str:
        start = time.perf_counter()
        await asyncio.sleep(self.dag.durations[task])
        if self.trace is not None:
            self.trace.append((task, start, time.perf_counter()))
        return task

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: Any) -> str:
        shared["done"] += len(exec_res)
        return "default"


def build(dag: Dag, concurrency: int | None,
          trace: list[tuple[str, float, float]] | None = None,
          ) -> Callable[[], Awaitable[int]] | None:
    layers = layers_of(dag)
    if layers is None or (concurrency is not None and concurrency < len(dag)):
        return None
    nodes = [Layer(layer, dag, trace) for layer in layers]
    for a, b in itertools.pairwise(nodes):
        a >> b
    flow = AsyncFlow(start=nodes[0])

    async def runner() -> int:
        shared: dict[str, Any] = {"done": 0}
        await flow.run_async(shared)
        return shared["done"]

    return runner
