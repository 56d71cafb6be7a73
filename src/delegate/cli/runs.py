"""The CLI's durable side: recording runs, ``delegate runs list|show|export|report|resume``.

Every ``run``, ``recommend`` and ``examples`` run is recorded in the run store (``--store``,
``DELEGATE_STORE``, or ``delegate.db`` in the user's data directory) unless ``--no-store`` is
given. A store that cannot be opened is bad configuration (exit 2, before anything runs); the
commands that read or answer stored runs never create one (a SQLite file that is not there is
``no run store at PATH``). What is stored to start it again is a typed request
(:mod:`delegate.run_requests`), never the command line: ``runs resume`` validates it, refuses
it if anything in it is unknown or out of bounds, rebuilds the run from it and carries the run
on with the stored journal (see :mod:`delegate.durable.journal`). Where a resumed run writes
(``--out``, ``--report``) comes from the resume's own command line, never from the store.

``runs list``, ``runs show`` and ``runs resume`` take ``--json``; ``runs resume --json`` prints
the object the resumed command prints with ``--json``.

With ``--server URL`` (and ``--token``, default ``$DELEGATE_TOKEN``), ``runs list`` and ``runs
show`` ask a ``delegate serve`` server instead of a store and print the same, and ``runs
cancel`` and ``runs follow`` act on the server's runs (see :mod:`delegate.cli.remote`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..durable.export import export
from ..durable.export import iso as _iso
from ..errors import StoreError, UsageError
from ..run_requests import parse_request
from .answer import add_answer_parser, answer_command, pending_lines
from .files import check_out_dir, check_out_file
from .listing import print_run, print_runs

__all__ = ["add_runs_parser", "add_store_options", "export", "journaled", "open_run_store",
           "runs_command", "write_report"]

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
    runs = sub.add_parser("runs", help="stored runs: list, show, export, report, resume; "
                          "cancel, follow (on a server)")
    verbs = runs.add_subparsers(dest="verb", required=True, metavar="VERB")
    ls = verbs.add_parser("list", help="the newest runs")
    ls.add_argument("--limit", type=int, default=20, metavar="N")
    show = verbs.add_parser("show", help="a run's plan, outcomes, usage and timings")
    export = verbs.add_parser("export", help="everything stored about a run, as JSON")
    report = verbs.add_parser("report", help="a run as one self-contained HTML page")
    report.add_argument("--out", metavar="FILE", default=None,
                        help="where to write it (default run-ID.html)")
    resume = verbs.add_parser("resume", help="carry on a run that did not finish")
    cancel = verbs.add_parser("cancel", help="stop a run a server is running (needs --server)")
    follow = verbs.add_parser("follow", help="a server's run as it happens, one line per "
                              "event (needs --server); exit 0 if it succeeds")
    add_answer_parser(verbs)
    for verb in (show, export, report, resume, cancel, follow):
        verb.add_argument("run_id", help="the run's id (or its first characters)")
    resume.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                        help="answer repeated temperature-0 requests from the store")
    resume.add_argument("--out", metavar="DIR", default=None,
                        help="write the outputs here (never taken from the store)")
    resume.add_argument("--report", metavar="FILE", default=None,
                        help="write the HTML run report here when the run ends")
    resume.add_argument("--quiet", action="store_true", help="no progress lines")
    for verb in (ls, show, resume, cancel):
        verb.add_argument("--json", action="store_true", help="print one JSON object")
    for verb in (ls, show, export, report, resume):
        verb.add_argument("--store", metavar="URL", default=None,
                          help="run store (default: $DELEGATE_STORE or the data dir)")
    for verb in (ls, show, cancel, follow):
        verb.add_argument("--server", metavar="URL", default=None,
                          help="the delegate serve server to ask (http://HOST:PORT), "
                               "instead of a store")
        verb.add_argument("--token", default=None,
                          help="the server's token (default: $DELEGATE_TOKEN)")


def journaled(args: argparse.Namespace, kind: str, work: Callable[[Any], Awaitable[T]],
              run_setup: Any = None, request: Any = None) -> T:
    """Run ``work(journal)`` under a journal for ``args`` (``None`` with ``--no-store``);
    then write the HTML report if ``run_setup`` asks for one.

    Args:
        request: the run's validated request (a :mod:`delegate.run_requests` model), stored
            to start the run again; a resumed run (``args.journal``) keeps the one it has.
    """
    from ..durable.journal import Journal

    journal = getattr(args, "journal", None)
    resume = getattr(args, "resume", None)
    if resume is not None:  # taken over only now, when everything was checked
        store, run_id, describe = resume
        journal = args.journal = Journal.resume(store, run_id, cache=args.cache)
        print(f"delegate: resuming run {journal.run_id}: {describe}", file=sys.stderr)
    elif journal is None and not args.no_store:
        store = open_run_store(args.store)
        stored = request.model_dump(mode="json") if request is not None else {}
        journal = Journal.start(store, kind=kind, cache=args.cache, request=stored)
    state = getattr(args, "state", None)
    if state is not None:
        state.new_run(journal.run_id if journal is not None else None)

    runtime = getattr(run_setup, "runtime", None)

    async def main() -> T:
        with runtime.use() if runtime is not None else contextlib.nullcontext():
            if journal is None:
                return await work(None)
            async with journal.running():
                return await work(journal)

    failed = True
    try:
        value = asyncio.run(main())
        failed = False
        return value
    except (KeyboardInterrupt, Exception):
        if journal is not None and journal.created:
            print(f"delegate: run {journal.run_id} is stored; carry it on with: delegate runs "
                  f"resume {journal.run_id}", file=sys.stderr)
        raise
    finally:
        report = getattr(run_setup, "report", None)
        if report is not None and journal is not None and journal.created:
            if failed:  # the run's own error is the one to report
                try:
                    write_report(journal.store, journal.run_id, report)
                except Exception as exc:
                    print(f"delegate: the run report was not written: {exc}",
                          file=sys.stderr)
            elif state is not None:  # the answer is printed, then why the report is not
                with state.writing(f"the run report {report}"):
                    write_report(journal.store, journal.run_id, report)
            else:
                write_report(journal.store, journal.run_id, report)


def runs_command(args: argparse.Namespace,
                 dispatch: Callable[[argparse.Namespace], int],
                 parse: Callable[[Sequence[str]], argparse.Namespace]) -> int:
    if getattr(args, "server", None) is not None or args.verb in ("cancel", "follow"):
        from .remote import remote_command

        return remote_command(args)
    store = open_run_store(args.store, existing=True)
    try:
        if args.verb == "list":
            return _list(store, args.limit, as_json=args.json)
        if args.verb == "show":
            return _show(store, args.run_id, as_json=args.json)
        if args.verb == "answer":
            return answer_command(store, args)
        if args.verb == "export":
            print(json.dumps(export(store, args.run_id), indent=2, ensure_ascii=False))
            return 0
        if args.verb == "report":
            path = check_out_file(args.out, option="--out") if args.out else None
            write_report(store, args.run_id, path)
            return 0
        return _resume(store, args, dispatch, parse)
    finally:
        store.close()


def open_run_store(url: str | None, *, existing: bool = False) -> Any:
    """The command's run store (``url``, else the default one), opened before anything runs.

    Args:
        existing: the command only reads or answers stored runs: a SQLite file named by
            ``url`` that does not exist is refused, never created (a mistyped path). The
            default store is opened as ever, so ``runs list`` on a new machine lists nothing.

    Raises:
        UsageError: the store cannot be opened (an unknown URL, a file that is no database,
            a server that cannot be reached): bad configuration, exit code 2. A store that
            fails once a run is under way is a :class:`~delegate.errors.StoreError`, exit 1.
    """
    from sqlalchemy.engine import make_url

    from ..durable.store import default_store_url, normalize_url, open_store, redact_url

    resolved = default_store_url() if url is None else normalize_url(url)
    parsed = make_url(resolved)
    path = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if (existing and url is not None and path not in (None, "", ":memory:")
            and not os.path.exists(path)):
        raise UsageError(f"no run store at {path}")
    try:
        return open_store(resolved)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # the folder of a new SQLite file cannot be made
        raise UsageError(f"run store {redact_url(resolved)} cannot be opened: "
                         f"{exc.strerror or exc}") from None


def write_report(store: Any, run_id: str, path: Path | None) -> Path:
    """Write the HTML report of a stored run to ``path`` (default ``run-ID.html``).

    Raises:
        UsageError: the path cannot be written (checked first, and when writing fails).
    """
    from ..observe.report.html import render_report

    data = export(store, run_id)
    path = check_out_file(path or Path(f"run-{data['run_id'][:8]}.html"), option="the report")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_report(data), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"the run report {path} was not written: {exc.strerror or exc}"
                         ) from None
    print(f"delegate: wrote the run report {path}", file=sys.stderr)
    return path


def _status(run: Any) -> str:
    """The run's status as shown: ``interrupted`` for a run whose owner died running it."""
    from ..durable.journal import effective_status

    return effective_status(run)


def _list(store: Any, limit: int, *, as_json: bool = False) -> int:
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    print_runs([{"run_id": run.run_id, "kind": run.kind, "status": _status(run),
                 "objective": run.objective, "created_at": _iso(run.created_at),
                 "updated_at": _iso(run.updated_at)} for run in store.list_runs(limit)],
               as_json=as_json)
    return 0


def _show(store: Any, run_id: str, *, as_json: bool = False) -> int:
    run = store.get_run(run_id)
    calls = [{"source": c.source, "prompt_tokens": c.prompt_tokens,
              "completion_tokens": c.completion_tokens, "latency_seconds": c.latency_seconds}
             for c in store.model_calls(run.run_id)]
    print_run({"run_id": run.run_id, "kind": run.kind, "status": _status(run),
               "objective": run.objective, "created_at": _iso(run.created_at),
               "updated_at": _iso(run.updated_at),
               "plan_versions": store.plan_versions(run.run_id),
               "outcomes": store.outcomes(run.run_id), "model_calls": calls}, as_json=as_json)
    waiting = [] if as_json else pending_lines(store, run.run_id)
    if waiting:
        print("\nwaiting for an answer\n" + "\n".join(waiting))
    return 0


def _resume(store: Any, args: argparse.Namespace,
            dispatch: Callable[[argparse.Namespace], int],
            parse: Callable[[Sequence[str]], argparse.Namespace]) -> int:
    """Validate the stored request, take the run over, and run its command again from the
    request (outputs where this command line says). The run is taken over only once the
    rebuilt command has checked everything it reads and writes."""
    if args.out:
        check_out_dir(args.out)
    if args.report:
        check_out_file(args.report, option="--report")
    record = store.get_run(args.run_id)
    request = parse_request(record.request, run_id=record.run_id)
    if request.redacted:
        raise UsageError(f"run {record.run_id} was started with credentials in a URL, which "
                         "are never stored; start the run again")
    again = rebuild(request, parse)
    again.out = args.out if args.out else again.out
    again.report, again.json, again.quiet = args.report, args.json, args.quiet
    again.state, again.cache = getattr(args, "state", None), args.cache
    if record.status == "succeeded":
        raise UsageError(f"run {record.run_id} already succeeded; there is nothing to resume")
    again.resume = (store, record.run_id, _describe(request))
    code = dispatch(again)
    journal = again.journal
    print(f"delegate: resumed run {journal.run_id}: {len(journal.restored)} task(s) restored, "
          f"{journal.replayed} model call(s) replayed from the store", file=sys.stderr)
    return code


def rebuild(request: Any, parse: Callable[[Sequence[str]], argparse.Namespace]
            ) -> argparse.Namespace:
    """The parsed arguments of the command ``request`` describes: the command's defaults
    (from its parser), then each field of the validated request. Nothing else is taken from
    the store: no output path, no store, no tracing."""
    name = request.command
    first = {"run": ["run", "-"], "recommend": ["recommend", "-"],
             "examples": ["examples", "--example", getattr(request, "example", "blog")]}[name]
    args = parse(first)
    files: dict[str, str] = {}

    def path(ref: Any) -> str | None:
        if ref is None:
            return None
        files[ref.path] = ref.sha256
        return ref.path

    args.model, args.on_budget = request.model, request.on_budget
    args.budget_tokens, args.budget_usd = request.budget_tokens, request.budget_usd
    args.budget_seconds, args.rate_limit = request.budget_seconds, request.rate_limit
    args.prices = path(request.prices)
    if name == "run":
        args.objective, args.workflow = request.objective, request.workflow
        args.max_concurrency, args.timeout = request.max_concurrency, request.timeout
        args.fail_fast, args.strategy = request.fail_fast, request.strategy
        args.approve_plan = request.approve_plan
        args.input = [path(ref) for ref in request.inputs]
        args.out = None
    elif name == "recommend":
        args.query, args.top_k, args.max_price = request.query, request.top_k, request.max_price
        args.approve_plan = request.approve_plan
        args.catalog, args.brand_voice = path(request.catalog), path(request.brand_voice)
    args.expect_files = files
    args.store, args.no_store, args.trace, args.trace_content = None, False, None, False
    return args


def _describe(request: Any) -> str:
    what = getattr(request, "objective", None) or getattr(request, "query", None) or getattr(
        request, "example", "")
    what = " ".join(what.split())
    return f"{request.command} {what[:80]!r}" + ("…" if len(what) > 80 else "")
