"""What a durable run costs: 300 trivial tasks with a SQLite journal against none.

    python bench/journal_overhead.py [--tasks 300] [--repeats 7] [--concurrency 4]

Each repetition runs ``delegate.run`` on the same given plan (``--tasks`` independent tasks
of a function worker that returns its task id; no model, no synthesis), once without a
journal and once with ``Journal.start(store)`` on a SQLite file, alternating which goes
first. Timed: from the call to ``run`` to its return, which includes the journal's last
writes and giving the run up (``run`` closes its journal). Opening the store (creating the
file, migrating the schema) is outside the timed region; one warm-up run of each comes
first. Reported: the median (min-max) of each, and the median of the per-repetition ratios
(journal / none). Goal: at most 3x. Prints a Markdown report and writes it to
``bench/results/journal_overhead.md``, with the raw figures in ``journal_overhead.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import BENCH_DIR, fmt_stat, machine, markdown_table, stat

GOAL = 3.0
RESULTS = BENCH_DIR / "results"


def plan_of(n: int) -> Any:
    from delegate import Plan, Task

    return Plan(tasks=tuple(Task(id=f"t{i}", worker="trivial", instruction="return your id")
                            for i in range(n)))


async def _trivial(ctx: Any) -> str:
    return ctx.task.id


def one_run(n: int, concurrency: int, store: Any | None) -> float:
    """Seconds one run of ``n`` trivial tasks takes, journaled in ``store`` if given."""
    from delegate import PlanLimits, RunConfig, run, worker
    from delegate.core.plan import HARD_MAX_DEPTH, HARD_MAX_TASKS
    from delegate.durable.journal import Journal

    trivial = worker("trivial", description="returns its task id")(_trivial)
    plan = plan_of(n)
    limits = PlanLimits(max_tasks=HARD_MAX_TASKS, max_depth=HARD_MAX_DEPTH)
    journal = Journal.start(store) if store is not None else None
    gc.collect()

    async def timed() -> float:
        start = time.perf_counter()
        result = await run("Trivial tasks", workers=[trivial], plan=plan, journal=journal,
                           config=RunConfig(synthesize=False, max_concurrency=concurrency,
                                            limits=limits))
        elapsed = time.perf_counter() - start
        if result.status != "succeeded" or len(result.outcomes) != n:
            raise RuntimeError(f"the run did not finish its {n} tasks: {result.status}")
        return elapsed

    elapsed = asyncio.run(timed())
    if store is not None:
        record = store.get_run(journal.run_id)
        if record.status != "succeeded" or record.owner is not None:
            raise RuntimeError(f"the journal left the run {record.status}, owned by "
                               f"{record.owner}")
        if len(store.outcomes(journal.run_id)) != n:
            raise RuntimeError("the journal did not store every outcome")
    return elapsed


def measure(tasks: int, repeats: int, concurrency: int) -> dict[str, Any]:
    """Interleaved repetitions of a run without and with a SQLite journal."""
    from delegate.durable.store import open_store

    with tempfile.TemporaryDirectory(prefix="delegate-bench-journal-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'runs.db'}")
        try:
            one_run(tasks, concurrency, None)  # warm-up: imports, caches, the file
            one_run(tasks, concurrency, store)
            none: list[float] = []
            journal: list[float] = []
            for rep in range(repeats):
                order = [None, store] if rep % 2 == 0 else [store, None]
                for target in order:
                    seconds = one_run(tasks, concurrency, target)
                    (none if target is None else journal).append(seconds)
        finally:
            store.close()
    ratios = [j / n for j, n in zip(journal, none, strict=True)]
    return {"bench": "journal_overhead", "tasks": tasks, "repeats": repeats,
            "concurrency": concurrency, "none_s": none, "journal_s": journal,
            "ratios": ratios}


def render(record: dict[str, Any], info: dict[str, Any]) -> str:
    none, journal = stat(record["none_s"]), stat(record["journal_s"])
    ratio = stat(record["ratios"])
    met = ratio["median"] <= GOAL
    ms = {k: v * 1000 if k != "n" else v for k, v in none.items()}
    jms = {k: v * 1000 if k != "n" else v for k, v in journal.items()}
    table = markdown_table(
        ["store", "wall, ms (median, min-max)", "per task, µs", "ratio to none"],
        [["none", fmt_stat(ms, ".1f"), f"{none['median'] / record['tasks'] * 1e6:.0f}", "1.00"],
         ["SQLite journal", fmt_stat(jms, ".1f"),
          f"{journal['median'] / record['tasks'] * 1e6:.0f}", fmt_stat(ratio, ".2f")]])
    return "\n".join([
        "# Journal overhead",
        "",
        f"{record['tasks']} trivial function-worker tasks (plan given, no model, no "
        f"synthesis, `max_concurrency` {record['concurrency']}), `delegate.run` without a "
        "journal and with a SQLite journal; the journaled time includes its last writes and "
        f"giving the run up. Median over {record['repeats']} interleaved repetitions after "
        "one warm-up of each.",
        "",
        table,
        "",
        f"Goal: journal / none <= {GOAL:g}x. Measured: {ratio['median']:.2f}x, "
        f"{'met' if met else 'missed'}.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, delegate "
        f"{info['delegate']}, commit {info['git_commit']}, {info['date']}, load average "
        f"{info['load_average'][0]}. Command: `{info['command']}`.",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for journal_overhead.md and .json (default bench/results)")
    args = parser.parse_args()
    info = machine()
    record = measure(args.tasks, args.repeats, args.concurrency)
    text = render(record, info)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "journal_overhead.md").write_text(text, encoding="utf-8")
    (args.out / "journal_overhead.json").write_text(
        json.dumps({"machine": info, "record": record}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
