"""Lock around one embedded model versus a pool of instances: which serves concurrent
requests faster on this machine?

    python bench/local_pool.py [--requests 4] [--max-tokens 64] [--repeats 3]

Both layouts use every core: the lock is one instance with all threads; the pool is
``cores`` instances with one thread each (at most 2 here). It prints a Markdown table and
writes it to ``bench/results/local_pool.md``. Repetitions are interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from pathlib import Path

from delegate.llm import Message, ModelSettings
from delegate.llm.local import LocalModel, default_model_path

PROMPTS = [
    "Describe a hiking trip in the mountains.",
    "Explain how a rain jacket keeps you dry.",
    "Write a short story about a lost glove.",
    "List ideas for a weekend by the lake.",
    "Describe the colours of an autumn forest.",
    "Explain why layering clothes keeps you warm.",
    "Write a poem about a river.",
    "Describe a camping breakfast.",
]


async def burst(model: LocalModel, n: int, max_tokens: int) -> tuple[int, float]:
    settings = ModelSettings(max_tokens=max_tokens)
    start = time.perf_counter()
    responses = await asyncio.gather(*[
        model.request([Message.user(PROMPTS[i % len(PROMPTS)])], settings=settings)
        for i in range(n)
    ])
    return sum(r.usage.completion_tokens for r in responses), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    path = default_model_path()
    layouts = {
        f"lock (1 instance x {cores} threads)": LocalModel(path, pool_size=1, n_threads=cores),
        f"pool ({min(cores, 4)} instances x 1 thread)": LocalModel(
            path, pool_size=min(cores, 4), n_threads=1),
    }
    single = {name: [] for name in layouts}
    concurrent = {name: [] for name in layouts}
    for model in layouts.values():  # warm up: load every instance once
        asyncio.run(burst(model, model.pool_size, 4))
    for _ in range(args.repeats):
        for name, model in layouts.items():
            tokens, secs = asyncio.run(burst(model, 1, args.max_tokens))
            single[name].append(tokens / secs)
            tokens, secs = asyncio.run(burst(model, args.requests, args.max_tokens))
            concurrent[name].append(tokens / secs)
    lines = [
        "# Embedded model: lock versus pool",
        "",
        f"Machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}. "
        f"Model: {path.name}. Command: `python bench/local_pool.py --requests {args.requests} "
        f"--max-tokens {args.max_tokens} --repeats {args.repeats}`.",
        "",
        "| layout | one request, tokens/s (median, min-max) | "
        f"{args.requests} concurrent, tokens/s (median, min-max) | concurrent / single |",
        "|---|---|---|---|",
    ]
    for name in layouts:
        s, c = single[name], concurrent[name]
        lines.append(
            f"| {name} | {statistics.median(s):.1f} ({min(s):.1f}-{max(s):.1f}) | "
            f"{statistics.median(c):.1f} ({min(c):.1f}-{max(c):.1f}) | "
            f"{statistics.median(c) / statistics.median(s):.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).parent / "results" / "local_pool.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
