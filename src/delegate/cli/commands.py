"""The ``delegate`` command: a thin shell over the library.

``main(argv) -> int`` parses arguments, runs the library, prints, and turns every error into
one line on stderr and an exit code: 0 success, 1 the run failed or finished partly, 2 bad
input or configuration (or a request a ``delegate serve`` server refused), 130 cancelled
(Ctrl-C). No traceback reaches the user unless ``DELEGATE_DEBUG=1`` is set.

With ``--json`` (``run``, ``recommend``, ``examples``, ``runs resume``) standard output holds
exactly one JSON object on every exit path: the run's summary when it ends, and otherwise an
object with at least ``status``, ``error`` (one line) and ``run_id`` (``null`` when no run was
started): the last result the run reported, when it reported one before the error.

Everything the command reads or writes is checked before a model is paid: output paths
(:func:`~delegate.cli.files.check_out_dir`), files given by path (read with a size cap by
:mod:`delegate.cli.files`), and the arguments themselves (valid UTF-8).

The arguments are parsed by :mod:`delegate.cli.parser`; the subcommands that run workflows
are in :mod:`delegate.cli.workflows`, the ``runs`` subcommands in :mod:`delegate.cli.runs`.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from ..errors import DelegateError, ServerError, UsageError
from ..llm.registry import DEFAULT_MODEL, PROVIDERS
from .options import CliState
from .parser import ArgumentError, build_parser
from .runs import runs_command
from .serve import serve_command
from .workflows import eval_command, examples_command, recommend_command, run_command

__all__ = ["main"]


def _models() -> int:
    print("Choose a model with --model provider:model or DELEGATE_MODEL "
          f"(default {DEFAULT_MODEL}).")
    for p in PROVIDERS.values():
        print(f"\n{p.name}: {p.summary}\n  configure: {p.configure}\n"
              f"  example:   --model {p.example}")
    return 0


def _chat(args: argparse.Namespace) -> int:
    from .chat import chat

    return chat(model=args.model)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return _command(args)
    finally:
        run_setup = getattr(args, "run_setup", None)
        if run_setup is not None:
            run_setup.finish()


def _command(args: argparse.Namespace) -> int:
    command = {"models": lambda _: _models(), "run": run_command,
               "recommend": recommend_command, "eval": eval_command,
               "examples": examples_command, "chat": _chat, "serve": serve_command,
               "runs": lambda a: runs_command(a, _dispatch, build_parser().parse_args)}
    return command[args.command](args)


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
        args = build_parser().parse_args(argv)
    except ArgumentError as exc:
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
    except ServerError as exc:  # a request the server refused is the caller's to fix
        return state.fail(str(exc), 2 if exc.status is not None and exc.status < 500 else 1)
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
