"""Bench 4, the embedded model: tokens per second for one request, and the total throughput
of 4 concurrent requests, on ``local:default`` as delegate configures it by default.

``get_model("local:default")`` is the shared :class:`~delegate.llm.local.LocalModel`: a pool of
``min(2, cores)`` llama.cpp instances with ``cores / pool`` threads each (see
``bench/local_pool.py``). Every request sends the same prompt with ``max_tokens`` 128 and
temperature 0; throughput is completion tokens divided by the wall time of the request (one)
or of the burst (four at once, ``asyncio.gather``), prompt processing included.

Per subprocess (one repetition): load the model, warm up every instance with one short request
each, then measure one request and the burst of four, in alternating order from one
repetition to the next.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

from harness import fmt_stat, markdown_table, stat

__all__ = ["CONCURRENT", "MAX_TOKENS", "PROMPT", "cases", "measure", "report"]

PROMPT = ("Write a detailed, practical guide to preparing for a long day hike in the "
          "mountains: clothing layers, food, water, navigation and safety.")
MAX_TOKENS = 128
CONCURRENT = 4


def cases(quick: bool = False) -> list[dict[str, Any]]:
    return [{}]


async def _burst(model: Any, n: int, max_tokens: int) -> tuple[int, float, list[float]]:
    from delegate.llm import Message, ModelSettings

    settings = ModelSettings(max_tokens=max_tokens, temperature=0.0)
    start = time.perf_counter()
    responses = await asyncio.gather(*[
        model.request([Message.user(PROMPT)], settings=settings) for _ in range(n)])
    wall = time.perf_counter() - start
    return (sum(r.usage.completion_tokens for r in responses), wall,
            [r.usage.latency_seconds for r in responses])


def measure(rep: int = 0, max_tokens: int = MAX_TOKENS,
            concurrent: int = CONCURRENT) -> dict[str, Any]:
    """Runs in the subprocess; see the module docstring."""
    from delegate.llm.registry import get_model

    model: Any = get_model("local:default")

    async def main() -> dict[str, Any]:
        await _burst(model, model.pool_size, 4)  # loads every instance
        order = ("single", "concurrent") if rep % 2 == 0 else ("concurrent", "single")
        out: dict[str, Any] = {}
        for kind in order:
            n = 1 if kind == "single" else concurrent
            tokens, wall, latencies = await _burst(model, n, max_tokens)
            out[kind] = {"requests": n, "tokens": tokens, "wall_s": wall,
                         "tokens_per_s": tokens / wall, "latencies_s": latencies}
        return out

    result = asyncio.run(main())
    return {"bench": "embedded", "rep": rep, "model": model.name, "file": model.path.name,
            "pool_size": model.pool_size, "threads_per_instance": model.n_threads,
            "max_tokens": max_tokens, **result,
            "ratio": result["concurrent"]["tokens_per_s"] / result["single"]["tokens_per_s"]}


def report(records: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    by: dict[str, list[float]] = defaultdict(list)
    for r in records:
        by["single"].append(r["single"]["tokens_per_s"])
        by["concurrent"].append(r["concurrent"]["tokens_per_s"])
        by["ratio"].append(r["ratio"])
        by["single_tokens"].append(r["single"]["tokens"])
        by["concurrent_tokens"].append(r["concurrent"]["tokens"])
    summary = {k: stat(v) for k, v in by.items()}
    first = records[0]
    summary["setup"] = {k: first[k] for k in ("model", "file", "pool_size",
                                              "threads_per_instance", "max_tokens")}
    rows = [
        ["one request", fmt_stat(summary["single"]), fmt_stat(summary["single_tokens"], ".0f"),
         "1.00"],
        [f"{CONCURRENT} concurrent requests (total)", fmt_stat(summary["concurrent"]),
         fmt_stat(summary["concurrent_tokens"], ".0f"), fmt_stat(summary["ratio"], ".2f")],
    ]
    table = markdown_table(["load", "tokens/s", "completion tokens", "vs one request"], rows)
    return table, summary
