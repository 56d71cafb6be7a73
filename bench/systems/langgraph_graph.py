"""LangGraph, with its native constructs.

Fan-out: a ``StateGraph`` whose planner node routes to ``n`` ``Send("work", ...)`` packets;
each work node returns its result into a list channel with the ``operator.add`` reducer; an
edge from ``work`` to ``gather`` runs the aggregator once, in the superstep after the
fan-out. The graph is compiled once (it does not depend on ``n``).

DAG: one node per task; a task with one dependency gets an edge from it, a task with several
gets a waiting edge ``add_edge([a, b, ...], task)`` (it runs once all of them have run),
roots hang off ``START``. LangGraph runs in supersteps: the nodes triggered in a step run
together, and the next step starts when they have all finished. The run config's
``max_concurrency`` bounds the nodes running at once; the graph is compiled before the timed
region.
"""

from __future__ import annotations

import asyncio
import operator
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypedDict

from dags import Dag
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

__all__ = ["build", "fanout"]

_UNBOUNDED = {"recursion_limit": 100_000}


class FanState(TypedDict, total=False):
    n: int
    work: float
    results: Annotated[list[int], operator.add]
    total: int


class WorkPacket(TypedDict):
    i: int
    work: float


def _plan(state: FanState) -> dict[str, Any]:
    return {}


def _route(state: FanState) -> list[Send]:
    return [Send("work", {"i": i, "work": state["work"]}) for i in range(state["n"])]


async def _work(packet: WorkPacket) -> dict[str, Any]:
    if packet["work"]:
        await asyncio.sleep(packet["work"])
    return {"results": [packet["i"]]}


def _gather(state: FanState) -> dict[str, Any]:
    return {"total": len(state["results"])}


def _fanout_graph() -> Any:
    graph = StateGraph(FanState)
    graph.add_node("plan", _plan)
    graph.add_node("work", _work)
    graph.add_node("gather", _gather)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", _route, ["work"])
    graph.add_edge("work", "gather")
    graph.add_edge("gather", END)
    return graph.compile()


_FANOUT = _fanout_graph()


async def fanout(n: int, work: float) -> int:
    state = await _FANOUT.ainvoke({"n": n, "work": work, "results": []}, config=_UNBOUNDED)
    return state["total"]


class DagState(TypedDict):
    done: Annotated[list[str], operator.add]


def build(dag: Dag, concurrency: int | None,
          trace: list[tuple[str, float, float]] | None = None) -> Callable[[], Awaitable[int]]:
    graph = StateGraph(DagState)

    def node(task: str) -> Callable[[DagState], Awaitable[dict[str, Any]]]:
        async def run(state: DagState) -> dict[str, Any]:
            start = time.perf_counter()
            await asyncio.sleep(dag.durations[task])
            if trace is not None:
                trace.append((task, start, time.perf_counter()))
            return {"done": [task]}

        return run

    for t in dag.tasks:
        graph.add_node(t, node(t))
    for t in dag.tasks:
        deps = dag.deps[t]
        if not deps:
            graph.add_edge(START, t)
        elif len(deps) == 1:
            graph.add_edge(deps[0], t)
        else:
            graph.add_edge(list(deps), t)
    for t in dag.sinks:
        graph.add_edge(t, END)
    app = graph.compile()
    config: dict[str, Any] = dict(_UNBOUNDED)
    if concurrency is not None:
        config["max_concurrency"] = concurrency

    async def runner() -> int:
        state = await app.ainvoke({"done": []}, config=config)
        return len(state["done"])

    return runner
