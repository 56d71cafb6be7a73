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

from . import __version__
from .console import LineProgress
from .errors import DelegateError, UsageError
from .llm.registry import DEFAULT_MODEL, PROVIDERS

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
    run_p.add_argument("--json", action="store_true", help="print one JSON object")
    run_p.add_argument("--quiet", action="store_true", help="no progress lines")

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
    from .apps.general import run_general
    from .runner import check_objective

    objective = check_objective(args.objective)
    if args.max_concurrency < 1:
        raise UsageError("--max-concurrency must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    progress = None if args.quiet else LineProgress(sys.stderr)
    result = asyncio.run(run_general(
        objective,
        model=args.model,
        max_concurrency=args.max_concurrency,
        task_timeout=args.timeout,
        failure_policy="fail_fast" if args.fail_fast else "continue",
        subscribers=[progress] if progress else [],
    ))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(result.text)
    if result.status != "succeeded":
        failed = [o for o in result.outcomes if not o.ok]
        detail = f"; first: {failed[0].task_id}: {failed[0].error}" if failed else ""
        notes = f"; {result.notes[-1]}" if result.notes else ""
        print(f"delegate: run {result.status}: {len(failed)} of {len(result.outcomes)} tasks "
              f"did not succeed{detail}{notes}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "models":
            return _models()
        return _run(args)
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
