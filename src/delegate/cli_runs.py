"""The CLI's durable side: recording runs, ``delegate runs list|show|export|resume``.

Every ``run``, ``recommend`` and ``examples`` run is recorded in the run store (``--store``,
``DELEGATE_STORE``, or ``delegate.db`` in the user's data directory) unless ``--no-store`` is
given. What is stored to start it again is the command line and the directory it ran in;
``runs resume`` parses that command line again and carries the run on with the stored
journal (see :mod:`delegate.journal`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from .errors import UsageError

__all__ = ["add_runs_parser", "add_store_options", "export", "journaled", "runs_command",
           "write_report"]

T = TypeVar("T")


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """``--store``, ``--no-store`` and ``--cache/--no-cache`` for a command that runs."""
    parser.add_argument("--store", metavar="URL", default=None,
                        help="run store: a SQLite file or postgresql:// URL "
                             "(default: $DELEGATE_STORE, else delegate.db in the data dir)")
    parser.add_argument("--no-store", action="store_true",
                        help="do not record the run (it cannot be resumed)")
    parser.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                        help="answer repeated temperature-0 model requests from the store "
                             "(default on)")


def add_runs_parser(sub: Any) -> None:
    runs = sub.add_parser("runs", help="stored runs: list, show, export, report, resume")
    verbs = runs.add_subparsers(dest="verb", required=True, metavar="VERB")
    ls = verbs.add_parser("list", help="the newest runs")
    ls.add_argument("--limit", type=int, default=20, metavar="N")
    show = verbs.add_parser("show", help="a run's plan, outcomes, usage and timings")
    export = verbs.add_parser("export", help="everything stored about a run, as JSON")
    report = verbs.add_parser("report", help="a run as one self-contained HTML page")
    report.add_argument("--out", metavar="FILE", default=None,
                        help="where to write it (default run-ID.html)")
    resume = verbs.add_parser("resume", help="carry on a run that did not finish")
    for verb in (show, export, report, resume):
        verb.add_argument("run_id", help="the run's id (or its first characters)")
    resume.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                        help="answer repeated temperature-0 requests from the store")
    for verb in (ls, show, export, report, resume):
        verb.add_argument("--store", metavar="URL", default=None,
                          help="run store (default: $DELEGATE_STORE or the data dir)")


def journaled(args: argparse.Namespace, kind: str, work: Callable[[Any], Awaitable[T]],
              run_setup: Any = None) -> T:
    """Run ``work(journal)`` under a journal for ``args`` (``None`` with ``--no-store``);
    then write the HTML report if ``run_setup`` asks for one."""
    from .journal import Journal
    from .store import open_store

    journal = getattr(args, "journal", None)
    if journal is None and not args.no_store:
        store = open_store(args.store)
        journal = Journal.start(store, kind=kind, cache=args.cache,
                                request={"argv": list(args.argv), "cwd": os.getcwd()})

    async def main() -> T:
        if journal is None:
            return await work(None)
        async with journal.running():
            return await work(journal)

    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, Exception):
        if journal is not None and journal.created:
            print(f"delegate: run {journal.run_id} is stored; carry it on with: delegate runs "
                  f"resume {journal.run_id}", file=sys.stderr)
        raise
    finally:
        report = getattr(run_setup, "report", None)
        if report is not None and journal is not None and journal.created:
            write_report(journal.store, journal.run_id, report)


def runs_command(args: argparse.Namespace,
                 dispatch: Callable[[argparse.Namespace], int],
                 parse: Callable[[Sequence[str]], argparse.Namespace]) -> int:
    from .store import open_store

    store = open_store(args.store)
    try:
        if args.verb == "list":
            return _list(store, args.limit)
        if args.verb == "show":
            return _show(store, args.run_id)
        if args.verb == "export":
            print(json.dumps(export(store, args.run_id), indent=2, ensure_ascii=False))
            return 0
        if args.verb == "report":
            write_report(store, args.run_id, Path(args.out) if args.out else None)
            return 0
        return _resume(store, args, dispatch, parse)
    finally:
        store.close()


def write_report(store: Any, run_id: str, path: Path | None) -> Path:
    """Write the HTML report of a stored run to ``path`` (default ``run-ID.html``)."""
    from .run_report import render_report

    data = export(store, run_id)
    path = path or Path(f"run-{data['run_id'][:8]}.html")
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a file name for the report")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    print(f"delegate: wrote the run report {path}", file=sys.stderr)
    return path


def export(store: Any, run_id: str) -> dict[str, Any]:
    """Everything stored about one run, JSON-ready."""
    run = store.get_run(run_id)
    return {
        "run_id": run.run_id, "kind": run.kind, "objective": run.objective,
        "status": run.status, "request": run.request,
        "created_at": _iso(run.created_at), "updated_at": _iso(run.updated_at),
        "result": run.result, "plan_versions": store.plan_versions(run.run_id),
        "outcomes": store.outcomes(run.run_id),
        "model_calls": [{
            "seq": c.seq, "task_id": c.task_id, "purpose": c.purpose, "provider": c.provider,
            "model": c.model, "request_hash": c.request_hash, "request": c.request,
            "response": c.response, "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens, "latency_seconds": c.latency_seconds,
            "cost": c.cost, "source": c.source,
        } for c in store.model_calls(run.run_id)],
        "events": store.events(run.run_id),
    }


def _list(store: Any, limit: int) -> int:
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    runs = store.list_runs(limit)
    if not runs:
        print("no runs stored yet")
        return 0
    print(f"{'run':<12}  {'started':<19}  {'kind':<9}  {'status':<9}  objective")
    for run in runs:
        objective = " ".join(run.objective.split())
        objective = objective if len(objective) <= 60 else objective[:59] + "…"
        print(f"{run.run_id[:12]:<12}  {_when(run.created_at):<19}  {run.kind:<9}  "
              f"{run.status:<9}  {objective}")
    return 0


def _show(store: Any, run_id: str) -> int:
    run = store.get_run(run_id)
    versions = store.plan_versions(run.run_id)
    outcomes = store.outcomes(run.run_id)
    calls = store.model_calls(run.run_id)
    print(f"run {run.run_id}  ({run.kind}, {run.status})")
    print(f"objective: {run.objective}")
    print(f"started {_when(run.created_at)}, last update {_when(run.updated_at)}")
    if versions:
        plan = versions[-1]
        print(f"\nplan v{plan['version']} ({plan['change'] or 'given'}"
              + (f": {plan['reason']}" if plan.get("reason") else "") + ")")
        for task in plan["plan"].get("tasks", []):
            after = f" after {', '.join(task['depends_on'])}" if task.get("depends_on") else ""
            print(f"  {task['id']} [{task['worker']}]{after}: {task.get('instruction', '')}")
    if outcomes:
        print("\noutcomes")
        for tid, o in outcomes.items():
            took = ""
            if o.get("started") and o.get("finished"):
                took = f", {o['finished'] - o['started']:.1f}s"
            error = f": {o['error']}" if o.get("error") else ""
            print(f"  {tid}: {o['status']} ({o.get('attempts', 0)} attempt(s){took}){error}")
    real = [c for c in calls if c.source == "model"]
    print(f"\nusage: {len(real)} model calls, "
          f"{sum(c.prompt_tokens for c in real):,}+{sum(c.completion_tokens for c in real):,} "
          f"tokens, {sum(c.latency_seconds for c in real):.1f}s in models; "
          f"{len(calls) - len(real)} answered from the store")
    return 0


def _resume(store: Any, args: argparse.Namespace,
            dispatch: Callable[[argparse.Namespace], int],
            parse: Callable[[Sequence[str]], argparse.Namespace]) -> int:
    from .journal import Journal

    journal = Journal.resume(store, args.run_id, cache=args.cache)
    argv = journal.request.get("argv")
    if not isinstance(argv, list) or not argv:
        store.release(journal.run_id, journal.owner, status="failed")
        raise UsageError(f"run {journal.run_id} was not started from the command line; "
                         "resume it with delegate.Journal.resume in Python")
    cwd = journal.request.get("cwd")
    if isinstance(cwd, str) and os.path.isdir(cwd):
        os.chdir(cwd)  # the stored command line's relative paths mean what they meant
    again = parse(argv)
    again.journal, again.argv = journal, argv
    print(f"delegate: resuming run {journal.run_id}: {' '.join(argv)}", file=sys.stderr)
    code = dispatch(again)
    print(f"delegate: resumed run {journal.run_id}: {len(journal.restored)} task(s) restored, "
          f"{journal.replayed} model call(s) replayed from the store", file=sys.stderr)
    return code


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
