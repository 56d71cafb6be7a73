"""The ``delegate`` command: a thin shell over the library.

``main(argv) -> int`` parses arguments, runs the library, prints, and turns every error into
one line on stderr and an exit code: 0 success, 1 the run failed or finished partly, 2 bad
input or configuration, 130 cancelled (Ctrl-C). No traceback reaches the user unless
``DELEGATE_DEBUG=1`` is set.
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

from . import __version__
from .cli_options import add_run_options, setup
from .cli_runs import add_runs_parser, add_store_options, journaled, runs_command
from .errors import DelegateError, UsageError
from .llm.registry import DEFAULT_MODEL, PROVIDERS, get_model

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    run_p.add_argument("--workflow", choices=["auto", "general", "blog", "report", "analysis",
                                              "project"], default="auto",
                       help="which workflow (default: picked from the request's words)")
    run_p.add_argument("--input", action="append", default=[], metavar="FILE",
                       help="an input for the report workflow (text, Markdown or CSV); repeat")
    run_p.add_argument("--out", metavar="DIR",
                       help="write the Markdown, figures and the JSON summary here")

    ex = sub.add_parser("examples", help="run the built-in examples of the content workflows")
    ex.add_argument("--example", choices=["blog", "report", "analysis", "project", "all"],
                    default="all")
    ex.add_argument("--model", default=None, help="provider:model")
    ex.add_argument("--out", default="examples-out", metavar="DIR",
                    help="where to write each example's outputs (default examples-out)")
    ex.add_argument("--quiet", action="store_true", help="no progress lines")
    add_store_options(ex)
    add_run_options(ex)

    ch = sub.add_parser("chat", help="an interactive session over the workflows")
    ch.add_argument("--model", default=None, help="provider:model")
    run_p.add_argument("--json", action="store_true", help="print one JSON object")
    run_p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_store_options(run_p)
    add_run_options(run_p)

    rec = sub.add_parser("recommend", help="product advice from the KETL Mtn. catalog "
                         "(or your own)")
    rec.add_argument("query", help="the customer's request")
    rec.add_argument("--catalog", metavar="FILE",
                     help="a JSON list of product records (default: the KETL Mtn. catalog)")
    rec.add_argument("--brand-voice", metavar="FILE", help="a brand voice guide (text)")
    rec.add_argument("--model", default=None, help="provider:model")
    rec.add_argument("--top-k", type=int, default=3, metavar="N",
                     help="products to recommend (default 3)")
    rec.add_argument("--max-price", type=float, default=None, metavar="USD",
                     help="price ceiling (default: the one the query states, if any)")
    rec.add_argument("--json", action="store_true", help="print one JSON object")
    rec.add_argument("--quiet", action="store_true", help="no progress lines")
    add_store_options(rec)
    add_run_options(rec)

    ev = sub.add_parser("eval", help="score the recommender on the shipped evaluation set")
    ev.add_argument("workflow", choices=["recommend"])
    ev.add_argument("--model", default=None, help="provider:model")
    ev.add_argument("--limit", type=int, default=None, metavar="N", help="first N queries only")
    ev.add_argument("--concurrency", type=int, default=2, metavar="N",
                    help="queries at once (default 2)")
    ev.add_argument("--out", default="bench/results", metavar="DIR",
                    help="where to write recommend_eval.json and .md (default bench/results)")

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
    from .apps.workflows import WORKFLOWS, pick_workflow, run_workflow
    from .runner import check_objective

    objective = check_objective(args.objective)
    if args.max_concurrency < 1:
        raise UsageError("--max-concurrency must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    name, why = pick_workflow(objective) if args.workflow == "auto" else (args.workflow, "asked")
    run_setup = setup(args, quiet=args.quiet)
    # a bad name or a missing key fails here, before any output
    model = run_setup.wrap_model(get_model(args.model))
    if not args.quiet:
        print(f"delegate: workflow {name} ({why})", file=sys.stderr)
    options: dict[str, Any] = {
        "model": model, "max_concurrency": args.max_concurrency,
        "subscribers": run_setup.subscribers, "strategy": args.strategy,
        "budget": run_setup.budget,
        "task_timeout": args.timeout, "inputs": args.input,
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

    result = journaled(args, name, work, run_setup)
    if args.out:
        for path in result.write(args.out):
            print(f"delegate: wrote {path}", file=sys.stderr)
    print(json.dumps(result.summary(), indent=2, ensure_ascii=False, default=str) if args.json
          else result.markdown)
    return _exit_code(result.run)


def _accepted(function: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options ``function`` takes by keyword (a workflow takes the ones that apply)."""
    import inspect

    params = inspect.signature(function).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return {k: v for k, v in options.items() if k != "inputs" or v}
    return {k: v for k, v in options.items() if k in params}


def _examples(args: argparse.Namespace) -> int:
    from .apps.workflows import run_example

    names = ["blog", "report", "analysis", "project"] if args.example == "all" else [
        args.example]
    run_setup = setup(args, quiet=args.quiet)
    model = run_setup.wrap_model(get_model(args.model))
    failed = 0
    argv = list(args.argv)
    for name in names:
        print(f"delegate: example {name}", file=sys.stderr)
        if args.example == "all":  # each example is a run of its own, resumed on its own
            args.argv = [*argv, "--example", name]

        async def work(journal: Any, name: str = name) -> Any:
            result = await run_example(name, model=model, subscribers=run_setup.subscribers,
                                       budget=run_setup.budget,
                                       **({"journal": journal} if journal else {}))
            if journal is not None:
                journal.summary = result.summary()
            return result

        result = journaled(args, name, work, run_setup)
        for path in result.write(Path(args.out) / name):
            print(f"delegate: wrote {path}", file=sys.stderr)
        failed += _exit_code(result.run) != 0
    return 1 if failed else 0


def _chat(args: argparse.Namespace) -> int:
    from .chat import chat

    return chat(model=args.model)


MAX_VOICE_BYTES = 1_000_000


def _read_voice(path: str | None) -> str | None:
    if path is None:
        return None
    file = Path(path)
    try:
        if file.stat().st_size > MAX_VOICE_BYTES:
            raise UsageError(f"the brand voice file {path} is over {MAX_VOICE_BYTES:,} bytes")
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no brand voice file at {path}") from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as exc:
        raise UsageError(f"cannot read the brand voice file {path}: {exc}") from None
    if not text.strip():
        raise UsageError(f"the brand voice file {path} is empty")
    return text


def _recommend(args: argparse.Namespace) -> int:
    from .apps.catalog import load_catalog
    from .apps.recommend import recommend
    from .runner import check_objective

    query = check_objective(args.query, what="query")
    if not 1 <= args.top_k <= 20:
        raise UsageError("--top-k must be between 1 and 20")
    if args.max_price is not None and args.max_price <= 0:
        raise UsageError("--max-price must be a positive amount")
    catalog = load_catalog(args.catalog) if args.catalog else None
    if catalog is not None and catalog.issues and not args.quiet:
        print(f"delegate: {len(catalog.issues)} catalog record(s) left out or repaired; "
              f"first: record {catalog.issues[0].index}: {catalog.issues[0].reason}",
              file=sys.stderr)
    voice = _read_voice(args.brand_voice)
    run_setup = setup(args, quiet=args.quiet)
    model = run_setup.wrap_model(get_model(args.model))

    async def work(journal: Any) -> Any:
        rec = await recommend(
            query, catalog=catalog, brand_voice=voice, model=model, top_k=args.top_k,
            max_price=args.max_price, subscribers=run_setup.subscribers,
            journal=journal, budget=run_setup.budget,
        )
        if journal is not None:
            journal.summary = rec.to_dict()
        return rec

    rec = journaled(args, "recommend", work, run_setup)
    print(json.dumps(rec.to_dict(), indent=2, ensure_ascii=False) if args.json else rec.text)
    return _exit_code(rec.result)


def _eval(args: argparse.Namespace) -> int:
    from .apps.recommend_eval import run_eval

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    command = "delegate eval recommend" + "".join(
        f" --{k} {v}" for k, v in (("model", args.model), ("limit", args.limit),
                                   ("concurrency", args.concurrency)) if v is not None)
    report = asyncio.run(run_eval(args.model, limit=args.limit, concurrency=args.concurrency,
                                  out=Path(args.out), command=command))
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.argv = argv
    try:
        return _dispatch(args)
    except UsageError as exc:
        print(f"delegate: error: {exc}", file=sys.stderr)
        return 2
    except DelegateError as exc:
        print(f"delegate: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("delegate: cancelled; running tasks were stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line unless debugging
        if os.environ.get("DELEGATE_DEBUG"):
            traceback.print_exc()
        print(f"delegate: internal error: {type(exc).__name__}: {exc} "
              "(set DELEGATE_DEBUG=1 for the traceback)", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
