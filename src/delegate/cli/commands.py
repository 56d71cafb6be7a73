"""The ``delegate`` command: a thin shell over the library.

``main(argv) -> int`` parses arguments, runs the library, prints, and turns every error into
one line on stderr and an exit code: 0 success, 1 the run failed or finished partly, 2 bad
input or configuration, 130 cancelled (Ctrl-C). No traceback reaches the user unless
``DELEGATE_DEBUG=1`` is set.

With ``--json`` (``run``, ``recommend``, ``examples``, ``runs resume``) standard output holds
exactly one JSON object on every exit path: the run's summary when it ends, and otherwise an
object with at least ``status``, ``error`` (one line) and ``run_id`` (``null`` when no run was
started): the last result the run reported, when it reported one before the error.

Everything the command reads or writes is checked before a model is paid: output paths
(:func:`~delegate.cli.files.check_out_dir`), files given by path (read with a size cap by
:mod:`delegate.cli.files`), and the arguments themselves (valid UTF-8).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import DelegateError, UsageError
from ..llm.registry import DEFAULT_MODEL, PROVIDERS
from .files import (
    CATALOG_MAX_BYTES,
    INPUT_MAX_BYTES,
    VOICE_MAX_BYTES,
    check_out_dir,
    decode_text,
)
from .options import CliState, add_run_options, common_request, read_checked, setup
from .request import ExamplesRequest, RecommendRequest, RunRequest, build_request
from .runs import add_runs_parser, add_store_options, journaled, runs_command

__all__ = ["main"]

WORKFLOW_NAMES = ["general", "blog", "report", "analysis", "project"]
EXAMPLE_NAMES = ["blog", "report", "analysis", "project"]


class _ArgumentError(Exception):
    """A command line argparse refused; ``main`` prints it (as JSON too with ``--json``)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser, self.message = parser, message


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of exiting, so that ``--json`` still gets
    its object (subcommand parsers are of this class too)."""

    def error(self, message: str):  # type: ignore[override]
        raise _ArgumentError(self, message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="delegate",
        description="Plan a request into tasks for specialised workers, run them, and answer.",
    )
    parser.add_argument("--version", action="version", version=f"delegate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run_p = sub.add_parser("run", help="plan and run an objective with the general workers")
    run_p.add_argument("objective", help="what you want done, in plain words")
    run_p.add_argument("--model", default=None,
                       help=f"provider:model (default: $DELEGATE_MODEL or {DEFAULT_MODEL})")
    run_p.add_argument("--max-concurrency", type=int, default=4, metavar="N",
                       help="most tasks running at once (default 4)")
    run_p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                       help="time limit for one attempt of one task")
    run_p.add_argument("--fail-fast", action="store_true",
                       help="stop the run at the first failed task")
    run_p.add_argument("--strategy", choices=["static", "dynamic", "hybrid"], default="static",
                       help="plan once, grow the plan after each wave, or replan on failure")
    run_p.add_argument("--workflow", choices=["auto", *WORKFLOW_NAMES], default="auto",
                       help="which workflow (default: picked from the request's words)")
    run_p.add_argument("--input", action="append", default=[], metavar="FILE",
                       help="an input for the report workflow (text, Markdown or CSV, at most "
                            f"{INPUT_MAX_BYTES // 1_000_000} MB); repeat")
    run_p.add_argument("--out", metavar="DIR",
                       help="write the Markdown, figures and the JSON summary here")
    run_p.add_argument("--json", action="store_true", help="print one JSON object")
    run_p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_store_options(run_p)
    add_run_options(run_p)

    ex = sub.add_parser("examples", help="run the built-in examples of the content workflows")
    ex.add_argument("--example", choices=[*EXAMPLE_NAMES, "all"], default="all")
    ex.add_argument("--model", default=None, help="provider:model")
    ex.add_argument("--out", default="examples-out", metavar="DIR",
                    help="where to write each example's outputs (default examples-out)")
    ex.add_argument("--json", action="store_true",
                    help="print one JSON object: the status and each example's summary")
    ex.add_argument("--quiet", action="store_true", help="no progress lines")
    add_store_options(ex)
    add_run_options(ex)

    ch = sub.add_parser("chat", help="an interactive session over the workflows")
    ch.add_argument("--model", default=None, help="provider:model")

    rec = sub.add_parser("recommend", help="product advice from the KETL Mtn. catalog "
                         "(or your own)")
    rec.add_argument("query", help="the customer's request")
    rec.add_argument("--catalog", metavar="FILE",
                     help="a JSON list of product records, at most "
                          f"{CATALOG_MAX_BYTES // 1_000_000} MB (default: the KETL Mtn. catalog)")
    rec.add_argument("--brand-voice", metavar="FILE", help="a brand voice guide (text, at most "
                     f"{VOICE_MAX_BYTES // 1_000_000} MB)")
    rec.add_argument("--model", default=None, help="provider:model")
    rec.add_argument("--top-k", type=int, default=3, metavar="N",
                     help="products to recommend for a product type or an open request "
                     "(default 3); a kit gets one of each kind it needs, up to 5")
    rec.add_argument("--max-price", type=float, default=None, metavar="USD",
                     help="price ceiling (default: the one the query states, if any)")
    rec.add_argument("--json", action="store_true", help="print one JSON object")
    rec.add_argument("--quiet", action="store_true", help="no progress lines")
    add_store_options(rec)
    add_run_options(rec)

    ev = sub.add_parser("eval", help="score the recommender or the content workflows on "
                        "their shipped evaluation sets")
    ev.add_argument("workflow", choices=["recommend", "content"])
    ev.add_argument("--model", default=None, help="provider:model")
    ev.add_argument("--limit", type=int, default=None, metavar="N", help="first N queries only")
    ev.add_argument("--concurrency", type=int, default=2, metavar="N",
                    help="queries at once (default 2)")
    ev.add_argument("--out", default="bench/results", metavar="DIR",
                    help="where to write <workflow>_eval.json and .md (default bench/results)")
    ev.add_argument("--baseline", default=None, metavar="FILE",
                    help="content only: an earlier content_eval.json to compare with, goal "
                    "by goal (a 'Before and after' table)")
    ev.add_argument("--shop", choices=["ketlmtn", "unseen"], default="ketlmtn",
                    help="recommend only: KETL Mtn.'s catalog and set (default), or another "
                    "shop's catalog the recommender was not built for (written to "
                    "recommend_eval_unseen.*)")
    ev.add_argument("--no-review", action="store_true",
                    help="content only: run the blog, report and project without their "
                    "reviewer, to see what it buys")

    add_runs_parser(sub)
    sub.add_parser("models", help="list model providers and how to configure each")
    return parser


def _models() -> int:
    print("Choose a model with --model provider:model or DELEGATE_MODEL "
          f"(default {DEFAULT_MODEL}).")
    for p in PROVIDERS.values():
        print(f"\n{p.name}: {p.summary}\n  configure: {p.configure}\n"
              f"  example:   --model {p.example}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from ..apps.workflows import WORKFLOWS, pick_workflow, run_workflow
    from ..runner import check_objective

    objective = check_objective(args.objective)
    if args.max_concurrency < 1:
        raise UsageError("--max-concurrency must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if args.out:
        check_out_dir(args.out)
    name, why = pick_workflow(objective) if args.workflow == "auto" else (args.workflow, "asked")
    inputs = [read_checked(args, path, what="input", max_bytes=INPUT_MAX_BYTES)
              for path in args.input]
    run_setup = setup(args, quiet=args.quiet)
    # a bad name or a missing key fails here, before any output
    model = run_setup.model(args.model)
    request = build_request(RunRequest, command="run", objective=objective, workflow=name,
                            max_concurrency=args.max_concurrency, timeout=args.timeout,
                            fail_fast=args.fail_fast, strategy=args.strategy,
                            inputs=[ref for ref, _ in inputs], **common_request(args, run_setup))
    if not args.quiet and getattr(args, "resume", None) is None:
        print(f"delegate: workflow {name} ({why})", file=sys.stderr)
    options: dict[str, Any] = {
        "model": model, "max_concurrency": args.max_concurrency,
        "subscribers": run_setup.subscribers, "strategy": args.strategy,
        "budget": run_setup.budget,
        "task_timeout": args.timeout, "inputs": [ref.path for ref, _ in inputs],
        "failure_policy": "fail_fast" if args.fail_fast else "continue",
    }
    accepted = _accepted(WORKFLOWS[name].load(), options)
    ignored = [k for k in options if k not in accepted and options[k] not in (None, [], False)
               and not (k == "strategy" and options[k] == "static")
               and not (k == "failure_policy" and options[k] == "continue")]
    if ignored:
        raise UsageError(f"the {name} workflow does not take: "
                         + ", ".join("--" + k.replace("_", "-") for k in ignored))

    async def work(journal: Any) -> Any:
        result = await run_workflow(name, objective, **accepted,
                                    **({"journal": journal} if journal else {}))
        if journal is not None:
            journal.summary = result.summary()
        return result

    result = journaled(args, name, work, run_setup, request)
    if args.out:
        for path in result.write(args.out):
            print(f"delegate: wrote {path}", file=sys.stderr)
    args.state.emit(result.summary(), result.markdown)
    return _exit_code(result.run)


def _accepted(function: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options ``function`` takes by keyword (a workflow takes the ones that apply)."""
    import inspect

    params = inspect.signature(function).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return {k: v for k, v in options.items() if k != "inputs" or v}
    return {k: v for k, v in options.items() if k in params}


def _examples(args: argparse.Namespace) -> int:
    from ..apps.workflows import run_example

    names = EXAMPLE_NAMES if args.example == "all" else [args.example]
    check_out_dir(args.out)
    run_setup = setup(args, quiet=args.quiet)
    model = run_setup.model(args.model)
    common = common_request(args, run_setup)
    requests = [build_request(ExamplesRequest, command="examples", example=name, **common)
                for name in names]
    failed = 0
    for name, request in zip(names, requests, strict=True):
        print(f"delegate: example {name}", file=sys.stderr)

        async def work(journal: Any, name: str = name) -> Any:
            result = await run_example(name, model=model, subscribers=run_setup.subscribers,
                                       budget=run_setup.budget,
                                       **({"journal": journal} if journal else {}))
            if journal is not None:
                journal.summary = result.summary()
            return result

        result = journaled(args, name, work, run_setup, request)
        args.state.runs.append(_with_error(result.summary()))
        for path in result.write(Path(args.out) / name):
            print(f"delegate: wrote {path}", file=sys.stderr)
        failed += _exit_code(result.run) != 0
    runs = args.state.runs
    status = ("succeeded" if not failed else "failed" if failed == len(runs) else "partial")
    args.state.emit({"status": status, "error": None, "runs": runs}, None)
    return 1 if failed else 0


def _with_error(data: dict[str, Any]) -> dict[str, Any]:
    data.setdefault("error", None)
    return data


def _chat(args: argparse.Namespace) -> int:
    from .chat import chat

    return chat(model=args.model)


def _read_catalog(args: argparse.Namespace) -> tuple[Any, Any]:
    """The catalog file, read here with a cap and parsed; the catalog loader checks records."""
    from ..apps.recommend.catalog import CatalogError, load_catalog

    if not args.catalog:
        return None, None
    ref, data = read_checked(args, args.catalog, what="catalog", max_bytes=CATALOG_MAX_BYTES,
                             text=False)
    text = decode_text(data, args.catalog, what="catalog")
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"catalog file {args.catalog} is not valid JSON: {exc.msg} at line "
                           f"{exc.lineno}, column {exc.colno}.") from None
    except RecursionError:
        raise CatalogError(f"catalog file {args.catalog} is JSON nested too deeply to "
                           "read.") from None
    if not isinstance(records, list | dict):
        raise CatalogError(f"catalog file {args.catalog} holds no list of product records.")
    return ref, load_catalog(records)


def _recommend(args: argparse.Namespace) -> int:
    from ..apps.recommend.workflow import recommend
    from ..runner import check_objective

    query = check_objective(args.query, what="query")
    if not 1 <= args.top_k <= 20:
        raise UsageError("--top-k must be between 1 and 20")
    if args.max_price is not None and args.max_price <= 0:
        raise UsageError("--max-price must be a positive amount")
    catalog_ref, catalog = _read_catalog(args)
    if catalog is not None and catalog.issues and not args.quiet:
        print(f"delegate: {len(catalog.issues)} catalog record(s) left out or repaired; "
              f"first: record {catalog.issues[0].index}: {catalog.issues[0].reason}",
              file=sys.stderr)
    voice_ref, voice = (None, None) if args.brand_voice is None else read_checked(
        args, args.brand_voice, what="brand voice", max_bytes=VOICE_MAX_BYTES)
    run_setup = setup(args, quiet=args.quiet)
    model = run_setup.model(args.model)
    request = build_request(RecommendRequest, command="recommend", query=query,
                            catalog=catalog_ref, brand_voice=voice_ref, top_k=args.top_k,
                            max_price=args.max_price, **common_request(args, run_setup))

    async def work(journal: Any) -> Any:
        rec = await recommend(
            query, catalog=catalog, brand_voice=voice, model=model, top_k=args.top_k,
            max_price=args.max_price, subscribers=run_setup.subscribers,
            journal=journal, budget=run_setup.budget,
        )
        if journal is not None:
            journal.summary = rec.to_dict()
        return rec

    rec = journaled(args, "recommend", work, run_setup, request)
    args.state.emit(rec.to_dict(), rec.text)
    return _exit_code(rec.result)


def _eval(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.baseline is not None and args.workflow != "content":
        raise UsageError("--baseline is for eval content only")
    if args.no_review and args.workflow != "content":
        raise UsageError("--no-review is for eval content only")
    if args.shop != "ketlmtn" and args.workflow != "recommend":
        raise UsageError("--shop is for eval recommend only")
    check_out_dir(args.out)
    command = f"delegate eval {args.workflow}" + "".join(
        f" --{k} {v}" for k, v in (("model", args.model), ("limit", args.limit),
                                   ("concurrency", args.concurrency),
                                   ("baseline", args.baseline)) if v is not None) + (
        " --no-review" if args.no_review else "") + (
        f" --shop {args.shop}" if args.shop != "ketlmtn" else "")
    if args.workflow == "content":
        from ..apps.evals.content import run_content_eval
        from ..apps.evals.content_report import load_baseline

        baseline = load_baseline(args.baseline) if args.baseline is not None else None
        report = asyncio.run(run_content_eval(
            args.model, limit=args.limit, concurrency=args.concurrency, out=Path(args.out),
            command=command, baseline=baseline, review=not args.no_review,
            on_case=lambda row: print(
                f"delegate: {row.id} {row.workflow} {row.status} in "
                f"{row.wall_seconds:.1f} s", file=sys.stderr)))
        print(report.to_markdown("Content evaluation", command, args.model or DEFAULT_MODEL))
        return 0
    from ..apps.recommend.eval import run_eval

    report = asyncio.run(run_eval(args.model, limit=args.limit, concurrency=args.concurrency,
                                  out=Path(args.out), command=command, shop=args.shop))
    print(report.to_markdown("Recommender evaluation", command, args.model or DEFAULT_MODEL))
    return 0


def _exit_code(result) -> int:
    if result.status == "succeeded":
        return 0
    failed = [o for o in result.outcomes if not o.ok]
    detail = f"; first: {failed[0].task_id}: {failed[0].error}" if failed else ""
    notes = f"; {result.notes[-1]}" if result.notes else ""
    print(f"delegate: run {result.status}: {len(failed)} of {len(result.outcomes)} tasks "
          f"did not succeed{detail}{notes}", file=sys.stderr)
    return 1


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return _command(args)
    finally:
        run_setup = getattr(args, "run_setup", None)
        if run_setup is not None:
            run_setup.finish()


def _command(args: argparse.Namespace) -> int:
    command = {"models": lambda _: _models(), "run": _run, "recommend": _recommend,
               "eval": _eval, "examples": _examples, "chat": _chat,
               "runs": lambda a: runs_command(a, _dispatch, _parser().parse_args)}[args.command]
    return command(args)


def _bad_argument(argv: Sequence[str]) -> int | None:
    """The 1-based position of the first argument that is not valid UTF-8 (the operating
    system hands undecodable bytes over as surrogate escapes), or ``None``."""
    for number, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return number
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    state = CliState(json="--json" in argv)
    bad = _bad_argument(argv)
    if bad is not None:
        return state.fail(f"argument {bad} is not valid UTF-8 text", 2)
    try:
        args = _parser().parse_args(argv)
    except _ArgumentError as exc:
        if state.json:
            return state.fail(exc.message, 2)
        exc.parser.print_usage(sys.stderr)
        print(f"{exc.parser.prog}: error: {exc.message}", file=sys.stderr)
        return 2
    args.state = state
    state.json = bool(getattr(args, "json", False))
    try:
        return _dispatch(args)
    except UsageError as exc:
        return state.fail(str(exc), 2)
    except DelegateError as exc:
        return state.fail(str(exc), 1)
    except KeyboardInterrupt:
        return state.fail("cancelled; running tasks were stopped", 130, status="cancelled",
                          prefix="delegate: ")
    except Exception as exc:  # a bug: one line unless debugging
        if os.environ.get("DELEGATE_DEBUG"):
            traceback.print_exc()
        return state.fail(f"{type(exc).__name__}: {exc} (set DELEGATE_DEBUG=1 for the "
                          "traceback)", 70, prefix="delegate: internal error: ")


if __name__ == "__main__":
    sys.exit(main())
