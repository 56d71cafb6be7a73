"""Run every benchmark and write ``bench/RESULTS.md`` and ``bench/RESULTS.json``.

    .venv/bin/python bench/run_all.py            # everything (about half an hour here)
    .venv/bin/python bench/run_all.py --quick    # fewer repetitions and sizes, for iterating
    .venv/bin/python bench/run_all.py --only overhead makespan
    .venv/bin/python bench/run_all.py --render bench/RESULTS.json   # re-render, no runs

With ``--only``, the benches not run keep their records from the ``RESULTS.json`` being
replaced (``--fresh``: drop them); their sections and goals say which run they come from.

Every measurement runs in a fresh subprocess (``bench/case.py``), and repetitions are
interleaved: repetition 1 of every case and system, then repetition 2, and so on, so that a
slow minute on the machine falls on every system alike. The results give the median with
the min and max over the repetitions. The peers (LangGraph, PocketFlow) come from the bench
extra: ``pip install -e '.[bench]'``; without them their rows are left out.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import goals
from harness import BENCH_DIR, CaseFailed, machine, markdown_table, run_case

__all__ = ["BENCHES", "REPEATS", "main", "render"]

BENCHES = ("overhead", "efficiency", "makespan", "embedded", "end_to_end")
#: repetitions per bench: (full, quick)
REPEATS = {"overhead": (5, 2), "efficiency": (5, 2), "makespan": (3, 1), "embedded": (5, 1),
           "end_to_end": (3, 1)}
PEERS = {"langgraph": "langgraph", "pocketflow": "pocketflow"}
TITLES = {
    "overhead": "1. Engine overhead: a fan-out of N tasks that do no work",
    "efficiency": "2. Parallel efficiency: 20 ms per task, against the ideal critical path",
    "makespan": "3. Makespan under a concurrency limit: random DAGs",
    "embedded": "4. The embedded model",
    "end_to_end": "5. End to end on the embedded model",
}
EXPLAIN = {
    "overhead": (
        "A planner step builds N tasks that do no work; one aggregator gathers their results. "
        "Wall time from the planner step to the aggregator's result; each subprocess takes the "
        "median of several runs (200 at N ≤ 10, 1 at N = 10,000). Peak RSS is `ru_maxrss` of "
        "the subprocess (interpreter, the system's imports and the run); the last column is "
        "what the runs added over the baseline taken after imports and a warm-up."),
    "efficiency": (
        "Each task sleeps 20 ms (a simulated model call). Ideal: 20 ms for the fan-out, "
        "5 x 20 ms for the layered DAG. 1.000 would be no overhead at all."),
    "makespan": (
        "Six seeded random DAGs of 60 tasks (10-40 ms for two thirds, 60-150 ms for a third; "
        "up to 3 dependencies among the 12 tasks before). Bound: the larger of the critical "
        "path and the total work divided by the concurrency. 'Policy alone' is the same "
        "ordering simulated with zero overhead. delegate's plans give each task its duration "
        "as `Task.expected_seconds`, so its critical path is weighed in seconds; "
        "'delegate-counts' is the same engine told nothing (its path counts tasks): for "
        "information, not a goal's figure."),
    "embedded": (
        "`local:default` (SmolLM2-135M-Instruct, llama.cpp) as delegate configures it: a pool "
        "of min(2, cores) instances, cores / pool threads each. The same prompt, 128 tokens "
        "at most, temperature 0; tokens/s = completion tokens / wall time, prompt included."),
    "end_to_end": (
        "One call of each workflow on `local:default`, after loading the model instances and "
        "the catalog. The critical path of the model calls: the run's phases in sequence "
        "(planning, the plan's tasks along their dependencies, each review round's longest "
        "call, rewrites, synthesis); see bench/README.md. 'Latency' is the call's latency as "
        "ModelCalled reports it (waits for a free instance included), 'service' the time an "
        "instance spent on it."),
}


def _peers_installed() -> dict[str, bool]:
    return {name: importlib.util.find_spec(module) is not None for name, module in PEERS.items()}


def _runnable(params: dict[str, Any], peers: dict[str, bool]) -> bool:
    """False for a case of a peer that is not installed."""
    return peers.get(params.get("system", ""), True)


def collect(benches: list[str], quick: bool, log: Any = sys.stderr) -> dict[str, Any]:
    """Run ``benches``; returns the records, the failures and the machine description."""
    info = machine()
    peers = _peers_installed()
    started = time.perf_counter()
    records: dict[str, list[dict[str, Any]]] = {b: [] for b in benches}
    failures: list[str] = []
    for bench in benches:
        module = importlib.import_module(bench)
        repeats = REPEATS[bench][1 if quick else 0]
        cases = [p for p in module.cases(quick) if _runnable(p, peers)]
        bench_start = time.perf_counter()
        for rep in range(repeats):
            for params in cases:
                label = " ".join(f"{k}={v}" for k, v in params.items())
                print(f"[{time.perf_counter() - started:7.1f}s] {bench} rep {rep + 1}/{repeats}"
                      f" {label}", file=log, flush=True)
                load = os.getloadavg()[0]
                try:
                    record = run_case(bench, {**params, "rep": rep})
                except CaseFailed as exc:
                    failures.append(str(exc))
                    print(f"  FAILED: {exc}", file=log, flush=True)
                    continue
                record["rep"], record["load_1m"] = rep, round(load, 2)
                records[bench].append(record)
        info.setdefault("bench_seconds", {})[bench] = round(time.perf_counter() - bench_start, 1)
    info["elapsed_s"] = round(time.perf_counter() - started, 1)
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    info["peers_installed"] = peers
    return {"machine": info, "quick": quick, "repeats": {b: REPEATS[b][1 if quick else 0]
                                                         for b in benches},
            "records": records, "failures": failures}


def summaries_and_sections(records: dict[str, list[dict[str, Any]]],
                           ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Each bench's summary (for the goals) and its Markdown parts."""
    summaries: dict[str, Any] = {}
    sections: dict[str, list[str]] = {}
    for bench in BENCHES:
        rs = records.get(bench) or []
        if not rs:
            continue
        module = importlib.import_module(bench)
        *parts, summary = module.report(rs)
        summaries[bench] = summary
        sections[bench] = list(parts)
    return summaries, sections


def _figure(row: dict[str, Any]) -> str:
    if row["value"] is None:
        return "-"
    spec = ".1f" if row["unit"] in (" µs", " MiB") else ".3f" if row["unit"] != "x" else ".2f"
    return f"{row['value']:{spec}}{row['unit']}"


def render(data: dict[str, Any]) -> str:
    """The Markdown of RESULTS.md from the JSON record of a run."""
    m = data["machine"]
    summaries, sections = summaries_and_sections(data["records"])
    rows = goals.evaluate(summaries)
    carried = data.get("carried", {})
    for r in rows:
        if r["bench"] in carried and r["context"]:
            r["context"] += f" (run of {carried[r['bench']]['date']})"
    reps = ", ".join(f"{b} {n}" for b, n in data["repeats"].items())
    lines = [
        "# Benchmark results",
        "",
        f"Produced by `{m['command']}` on {m['date']}"
        f"{' (quick mode: fewer sizes and repetitions)' if data.get('quick') else ''}; "
        f"the whole run took {m['elapsed_s'] / 60:.1f} minutes. How each figure is measured: "
        "[README.md](README.md). Raw records: [RESULTS.json](RESULTS.json).",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; load "
        f"average {' / '.join(map(str, m['load_average']))} at the start, "
        f"{' / '.join(map(str, m.get('load_average_end', [])))} at the end.",
        f"- Versions: Python {m['python']} ({m['implementation']}), delegate {m['delegate']} "
        f"(commit {m['git_commit']}), langgraph {m['langgraph']}, pocketflow "
        f"{m['pocketflow']}, llama-cpp-python {m['llama_cpp_python']}.",
        f"- Statistics: median (min-max) over interleaved repetitions, each in a fresh "
        f"subprocess; repetitions: {reps}.",
        "",
        "## Goals",
        "",
        markdown_table(
            ["goal", "limit", "delegate", "status", "for comparison"],
            [[r["goal"], r["limit"], _figure(r),
              r["status"] + (f", {r['margin']}" if r["margin"] else ""), r["context"]]
             for r in rows], align="lrrll"),
        "",
    ]
    missed = [r for r in rows if r["status"] == "missed"]
    if missed:
        lines += ["### Missed goals: why, and what would close them", ""]
        for r in missed:
            lines.append(f"- **{r['goal']}**: {_figure(r)} against {r['limit']} "
                         f"({r['margin']}). {r['why']} *To close it:* {r['close']}")
        lines.append("")
    for bench in BENCHES:
        if bench not in sections:
            continue
        loads = [r["load_1m"] for r in data["records"][bench] if "load_1m" in r]
        busy = (f" One-minute load average while it ran: {min(loads):.2f} to {max(loads):.2f}."
                if loads else "")
        lines += [f"## {TITLES[bench]}", "", EXPLAIN[bench] + busy, ""]
        if bench in carried:
            c = carried[bench]
            lines += [f"*Carried over from the run of {c['date']} (commit {c['git_commit']}, "
                      f"`{c['command']}`): this run did not measure it again.*", ""]
        for part in sections[bench]:
            lines += [part, ""]
    if data.get("failures"):
        lines += ["## Failures", ""] + [f"- `{f.splitlines()[0]}`" for f in data["failures"]]
        lines.append("")
    return "\n".join(lines)


def carry_over(data: dict[str, Any], earlier: dict[str, Any]) -> None:
    """Give ``data`` the records of the benches it did not run from ``earlier``, each marked
    with the run it came from (the first run that measured it, if it was carried before)."""
    for bench in BENCHES:
        if data["records"].get(bench) or not earlier["records"].get(bench):
            continue
        data["records"][bench] = earlier["records"][bench]
        data["repeats"][bench] = earlier["repeats"][bench]
        m = earlier["machine"]
        data.setdefault("carried", {})[bench] = earlier.get("carried", {}).get(bench) or {
            "date": m["date"], "git_commit": m["git_commit"], "command": m["command"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer sizes and repetitions, for iterating")
    parser.add_argument("--only", nargs="+", choices=BENCHES, default=list(BENCHES),
                        help="run only these benches")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md",
                        help="where to write the Markdown (the JSON goes beside it)")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="re-render the Markdown from a JSON record; run nothing")
    parser.add_argument("--fresh", action="store_true",
                        help="with --only, drop the other benches' earlier records")
    args = parser.parse_args(argv)
    out_json = args.out.with_suffix(".json")
    if args.render is not None:
        data = json.loads(args.render.read_text())
    else:
        data = collect(args.only, args.quick)
        if not args.fresh and out_json.exists():
            carry_over(data, json.loads(out_json.read_text()))
    data["goals"] = goals.evaluate(summaries_and_sections(data["records"])[0])
    if args.render is None or args.render.resolve() == out_json.resolve():
        out_json.write_text(json.dumps(data, indent=1) + "\n")  # records unchanged
    text = render(data)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out} and {out_json.name}"
          f" in {data['machine']['elapsed_s'] / 60:.1f} minutes", file=sys.stderr)
    return 1 if data.get("failures") else 0


if __name__ == "__main__":
    raise SystemExit(main())
