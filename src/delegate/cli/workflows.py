"""The subcommands that run workflows: ``run``, ``examples``, ``recommend`` and ``eval``.

Each checks its arguments and the files it reads before a model is paid, runs the library
(journaled when asked, see :mod:`delegate.cli.runs`), prints or writes the result and returns
the exit code (see :mod:`delegate.cli.commands`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ..core.config import RunConfig
from ..errors import UsageError
from ..llm.registry import DEFAULT_MODEL
from ..run_requests import ExamplesRequest, RecommendRequest, RunRequest, build_request
from .ask import at_terminal, recorded, terminal_approver
from .files import (
    CATALOG_MAX_BYTES,
    CSV_MAX_BYTES,
    INPUT_MAX_BYTES,
    VOICE_MAX_BYTES,
    check_out_dir,
    decode_text,
    read_text,
)
from .options import common_request, read_checked, setup
from .parser import EXAMPLE_NAMES
from .runs import journaled

__all__ = ["eval_command", "examples_command", "recommend_command", "run_command"]


def run_command(args: argparse.Namespace) -> int:
    """``delegate run``: pick the workflow, check what it reads, run it, print the result."""
    from ..apps.workflows import WORKFLOWS, csv_request, pick_workflow, run_workflow
    from ..runner import check_objective

    objective = check_objective(args.objective)
    if args.max_concurrency < 1:
        raise UsageError("--max-concurrency must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if args.out:
        check_out_dir(args.out)
    name, why = pick_workflow(objective) if args.workflow == "auto" else (args.workflow, "asked")
    # what the workflow would not apply is refused before anything is loaded or paid
    config = RunConfig(max_concurrency=args.max_concurrency, task_timeout=args.timeout,
                       failure_policy="fail_fast" if args.fail_fast else "continue",
                       strategy=args.strategy,
                       approve_plan=getattr(args, "approve_plan", False))
    function = WORKFLOWS[name].load()
    ignored = [_FLAGS[k] for k in config.unsupported(WORKFLOWS[name].settings())]
    if args.input and not _accepted(function, {"inputs": args.input}):
        ignored.append("--input")
    if ignored:
        raise UsageError(f"the {name} workflow does not take: " + ", ".join(ignored))
    inputs = [read_checked(args, path, what="input", max_bytes=INPUT_MAX_BYTES)
              for path in args.input]
    target, extra_options = objective, {}
    if name == "analysis":  # its CSV file, checked as every file given by path is
        target, question = csv_request(objective)
        read_checked(args, target, what="CSV", max_bytes=CSV_MAX_BYTES)
        extra_options["question"] = question
    run_setup = setup(args, quiet=args.quiet)
    # a bad name or a missing key fails here, before any output
    model = run_setup.model(args.model)
    request = build_request(RunRequest, command="run", objective=objective, workflow=name,
                            max_concurrency=args.max_concurrency, timeout=args.timeout,
                            fail_fast=args.fail_fast, strategy=args.strategy,
                            inputs=[ref for ref, _ in inputs], approve_plan=config.approve_plan,
                            **common_request(args, run_setup))
    if not args.quiet and getattr(args, "resume", None) is None:
        print(f"delegate: workflow {name} ({why})", file=sys.stderr)
    config = config.replace(budget=run_setup.budget)
    options: dict[str, Any] = {"model": model, "config": config,
                               "subscribers": run_setup.subscribers,
                               "inputs": [ref.path for ref, _ in inputs], **extra_options}
    accepted = _accepted(function, options)

    # at a terminal the person is asked here; else a stored run waits for an answer
    asker = (terminal_approver(run_setup.subscribers, stream=sys.stderr if args.json else None)
             if config.approve_plan and at_terminal() else None)

    async def work(journal: Any) -> Any:
        extra: dict[str, Any] = {"journal": journal} if journal else {}
        if asker is not None:
            extra["on_interrupt"] = recorded(asker, journal)
        result = await run_workflow(name, target, **accepted, **extra)
        if journal is not None:
            journal.summary = result.summary()
        return result

    result = journaled(args, name, work, run_setup, request)
    if args.out:  # a write that fails now still shows the answer (see CliState.writing)
        with args.state.writing(f"the outputs in {args.out}"):
            for path in result.write(args.out):
                print(f"delegate: wrote {path}", file=sys.stderr)
    args.state.emit(result.summary(), result.markdown)
    return _exit_code(result.run)


#: The flag of each setting ``delegate run`` sets.
_FLAGS = {"max_concurrency": "--max-concurrency", "task_timeout": "--timeout",
          "failure_policy": "--fail-fast", "strategy": "--strategy",
          "approve_plan": "--approve-plan"}


def _accepted(function: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options ``function`` names among its parameters (a workflow takes the ones that
    apply; its ``**settings`` are the deprecated keywords, never filled from here)."""
    import inspect

    params = inspect.signature(function).parameters
    return {k: v for k, v in options.items()
            if k in params and params[k].kind is not params[k].VAR_KEYWORD}


def examples_command(args: argparse.Namespace) -> int:
    """``delegate examples``: run the built-in examples, each written to its own folder."""
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
                                       config=RunConfig(budget=run_setup.budget),
                                       **({"journal": journal} if journal else {}))
            if journal is not None:
                journal.summary = result.summary()
            return result

        result = journaled(args, name, work, run_setup, request)
        args.state.runs.append(_with_error(result.summary()))
        with args.state.writing(f"the outputs in {Path(args.out) / name}"):
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


def recommend_command(args: argparse.Namespace) -> int:
    """``delegate recommend``: the recommender on the shipped catalog or the one given."""
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
    approve = getattr(args, "approve_plan", False)
    request = build_request(RecommendRequest, command="recommend", query=query,
                            catalog=catalog_ref, brand_voice=voice_ref, top_k=args.top_k,
                            max_price=args.max_price, approve_plan=approve,
                            **common_request(args, run_setup))
    asker = (terminal_approver(run_setup.subscribers, stream=sys.stderr if args.json else None)
             if approve and at_terminal() else None)

    async def work(journal: Any) -> Any:
        rec = await recommend(
            query, catalog=catalog, brand_voice=voice, model=model, top_k=args.top_k,
            max_price=args.max_price, subscribers=run_setup.subscribers,
            journal=journal, config=RunConfig(budget=run_setup.budget, approve_plan=approve),
            on_interrupt=recorded(asker, journal) if asker is not None else None,
        )
        if journal is not None:
            journal.summary = rec.to_dict()
        return rec

    rec = journaled(args, "recommend", work, run_setup, request)
    args.state.emit(rec.to_dict(), rec.text)
    return _exit_code(rec.result)


def eval_command(args: argparse.Namespace) -> int:
    """``delegate eval``: score the recommender or the content workflows on their set."""
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
    baseline_text = None
    if args.baseline is not None:  # checked as every file given by path is
        from ..apps.evals.content_report import BASELINE_MAX_BYTES

        baseline_text = read_text(args.baseline, what="baseline",
                                  max_bytes=BASELINE_MAX_BYTES)
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

        baseline = (load_baseline(args.baseline, text=baseline_text)
                    if baseline_text is not None else None)
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


#: The exit code of a run that stopped to wait for a person's answer.
WAITING = 3


def _exit_code(result) -> int:
    if result.status == "succeeded":
        return 0
    if result.status == "waiting":
        print(f"delegate: run {result.run_id} is waiting for an answer: {result.notes[-1]}; "
              f"answer with: delegate runs answer {result.run_id} --approve (or --reject "
              f"REASON, --edit FILE), then: delegate runs resume {result.run_id}",
              file=sys.stderr)
        return WAITING
    failed = [o for o in result.outcomes if not o.ok]
    detail = f"; first: {failed[0].task_id}: {failed[0].error}" if failed else ""
    notes = f"; {result.notes[-1]}" if result.notes else ""
    print(f"delegate: run {result.status}: {len(failed)} of {len(result.outcomes)} tasks "
          f"did not succeed{detail}{notes}", file=sys.stderr)
    return 1
