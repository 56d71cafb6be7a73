"""What a run costs through ``delegate serve`` against the CLI's own path, on the same plan.

    python bench/server_overhead.py [--runs 20] [--tasks 4]

Both sides run the general workflow on a scripted model (no model time: what is left is
delegate's) that plans ``--tasks`` independent tasks, with a journal on a SQLite store:

* **cli**: what ``delegate run`` does once its process is up: a journal on the store, the
  workflow awaited under it (``Journal.start`` then ``run_workflow`` in ``journal.running()``),
  in this process;
* **server**: ``POST /api/runs/wait`` on a real uvicorn on 127.0.0.1 (one server, one
  keep-alive HTTP connection), which validates the body, stores the run, queues it, runs the
  same workflow and answers the run's detail.

The runs alternate (cli, server, cli, ...) after one warm-up each. Reported: the median
(min-max) wall time per run of each and the server's overhead per run (median server minus
median cli). Writes ``bench/results/server_overhead.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import BENCH_DIR, fmt_stat, machine, markdown_table, served, stat

RESULTS = BENCH_DIR / "results"
TOKEN = "bench-token-0123456789abcdef"


def scripted(tasks: int) -> Any:
    from delegate.llm.scripted import ScriptedModel

    def answer(call: Any) -> Any:
        if isinstance(call.output, dict):
            return {"tasks": [{"id": f"t{i}", "worker": "researcher", "depends_on": [],
                               "instruction": f"Find fact {i}."} for i in range(tasks)]}
        return "Owls hunt at night."

    return ScriptedModel(function=answer)


def cli_run(store: Any, model: Any, objective: str) -> float:
    """Seconds of one run the way ``delegate run`` runs it, after start-up."""
    from delegate.apps.workflows import run_workflow
    from delegate.durable.journal import Journal

    async def main() -> None:
        journal = Journal.start(store, kind="general", request={})
        async with journal.running():
            result = await run_workflow("general", objective, model=model, journal=journal)
            journal.summary = result.summary()
        if result.run.status != "succeeded":
            raise AssertionError(f"the cli run did not succeed: {result.run.status}")

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=4)
    args = parser.parse_args()
    import httpx

    from delegate.durable.store import open_store
    from delegate.runtime import Runtime

    folder = Path(tempfile.mkdtemp(prefix="delegate-bench-"))
    cli_store = open_store(str(folder / "cli.db"))
    runtime = Runtime()
    runtime.add_model("scripted:bench", scripted(args.tasks))
    model = scripted(args.tasks)
    walls: dict[str, list[float]] = {"cli": [], "server": []}
    with served(runtime, TOKEN) as (url, _), httpx.Client(
            base_url=url, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}) as client:

        def server_run(objective: str) -> float:
            start = time.perf_counter()
            answer = client.post("/api/runs/wait", json={
                "workflow": "general", "objective": objective, "model": "scripted:bench"})
            took = time.perf_counter() - start
            if answer.status_code != 200 or answer.json()["status"] != "succeeded":
                raise AssertionError(f"the server run did not succeed: {answer.text[:300]}")
            return took

        cli_run(cli_store, model, "Warm up")
        server_run("Warm up")
        for n in range(args.runs):
            walls["cli"].append(cli_run(cli_store, model, f"Owls {n}"))
            walls["server"].append(server_run(f"Owls {n}"))
    cli_store.close()
    cli, srv = stat(w * 1e3 for w in walls["cli"]), stat(w * 1e3 for w in walls["server"])
    overhead = statistics.median(walls["server"]) - statistics.median(walls["cli"])
    rows = [["cli (journaled, in process)", fmt_stat(cli)],
            ["server (POST /api/runs/wait)", fmt_stat(srv)]]
    command = f"python bench/server_overhead.py --runs {args.runs} --tasks {args.tasks}"
    info = machine()
    where = (f"{info['date']}, commit {info.get('git_commit')}, {info.get('cores')} cores "
             f"({info.get('cpu')}), Python {info.get('python')}, one-minute load average "
             f"{info['load_average'][0]:.1f} at the start")
    text = "\n".join([
        "# Server overhead per run", "",
        f"`{command}`: the general workflow on a scripted model planning {args.tasks} tasks, "
        f"{args.runs} runs each, alternating; {where}.", "",
        markdown_table(["path", "wall per run, ms: median (min-max)"], rows), "",
        f"The server's overhead per run: {overhead * 1e3:.1f} ms (median server minus median "
        "cli): the HTTP round trip, validating the body, storing the run before it is queued, "
        "and reading its detail back for the answer.", ""])
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "server_overhead.md").write_text(text, encoding="utf-8")
    (RESULTS / "server_overhead.json").write_text(json.dumps(
        {"command": command, "machine": info, "walls_s": walls,
         "overhead_ms": overhead * 1e3}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
