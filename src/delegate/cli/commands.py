"""The ``delegate`` command: a thin shell over the library.

``main(argv) -> int`` parses arguments, runs the library, prints, and turns every error into
one line on stderr and an exit code: 0 success, 1 the run failed or finished partly (or its
outputs could not be written: the answer is printed, then why), 2 bad input or configuration
(a store that cannot be opened too, or a request a ``delegate serve`` server refused), 130
cancelled (Ctrl-C), 143 terminated (SIGTERM, which cancels a run as Ctrl-C does), 141 when
standard output was closed early (``| head``; nothing more is printed). No traceback reaches
the user unless ``DELEGATE_DEBUG=1`` is set.

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
import contextlib
import io
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

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
    """``delegate chat``; SIGTERM cancels a run under way as Ctrl-C does, then (or at once,
    between runs) ends the session."""
    from .chat import _run_command, chat

    state: CliState = args.state

    def run_command(workflow: str | None, argument: str, model: Any, approver: Any = None
                    ) -> str:
        state.idle = False
        try:
            text = _run_command(workflow, argument, model, approver)
        except KeyboardInterrupt:
            if state.terminated:
                raise _Terminated from None
            raise
        finally:
            state.idle = True
        if state.terminated:  # it ended as the signal came: its answer is still shown
            print(text, flush=True)
            raise _Terminated
        return text

    state.idle = True
    try:
        return chat(_unlocked_stdin_lines(), model=args.model, run_command=run_command)
    finally:
        state.idle = False


def _unlocked_stdin_lines() -> Iterator[str] | None:
    """Standard input's lines for a chat fed by a pipe or a file, read from the file
    descriptor without Python's buffered reader (``None`` at a terminal or without a
    descriptor: the chat reads as usual). A read left waiting in a thread when the session
    ends (after SIGTERM) then holds no lock the interpreter needs to exit."""
    from .chat import stdin_lines

    try:
        if sys.stdin.isatty():
            return None
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return stdin_lines(io.FileIO(fd, "rb", closefd=False))


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


#: The exit code when standard output (or error) was closed before everything was written
#: (``delegate runs list --json | head``): that of a command stopped by SIGPIPE.
CLOSED_OUTPUT = 141
#: The exit code after SIGTERM: the run was cancelled as Ctrl-C cancels it.
TERMINATED = 143


class _Terminated(BaseException):
    """SIGTERM while ``chat`` waits for a line: the session ends (a chat takes Ctrl-C there
    as a reason to go on, never to end)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    state = CliState(json="--json" in argv)
    try:
        with _sigterm_cancels(state):
            code = _main(argv, state)
        sys.stdout.flush()  # a closed pipe is found here, not when the interpreter exits
        return code
    except BrokenPipeError:
        _drop_closed_output()
        return CLOSED_OUTPUT
    except (KeyboardInterrupt, _Terminated):  # a signal after the command ended
        return TERMINATED if state.terminated else 130


def _main(argv: list[str], state: CliState) -> int:
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
        code = _dispatch(args)
    except UsageError as exc:
        return state.fail(str(exc), 2)
    except ServerError as exc:  # a request the server refused is the caller's to fix
        return state.fail(str(exc), 2 if exc.status is not None and exc.status < 500 else 1)
    except DelegateError as exc:
        return state.fail(str(exc), 1)
    except (KeyboardInterrupt, _Terminated):
        if state.terminated:
            return state.fail("terminated (SIGTERM); running tasks were stopped", TERMINATED,
                              status="cancelled", prefix="delegate: ")
        return state.fail("cancelled; running tasks were stopped", 130, status="cancelled",
                          prefix="delegate: ")
    except BrokenPipeError:
        raise
    except Exception as exc:  # a bug: one line unless debugging
        if os.environ.get("DELEGATE_DEBUG"):
            traceback.print_exc()
        return state.fail(f"{type(exc).__name__}: {exc} (set DELEGATE_DEBUG=1 for the "
                          "traceback)", 70, prefix="delegate: internal error: ")
    for line in state.unwritten:  # after the answer: the run is stored, its outputs are not
        print(f"delegate: error: {line}", file=sys.stderr)
    return 1 if state.unwritten and code == 0 else code


@contextlib.contextmanager
def _sigterm_cancels(state: CliState) -> Iterator[None]:
    """SIGTERM (what ``timeout``, systemd and docker send) stops the command as Ctrl-C does:
    a run under way is cancelled (its tasks' outcomes recorded, the run ``cancelled``), then
    the command exits with :data:`TERMINATED`. Outside the main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        state.terminated = True
        if state.idle:
            raise _Terminated
        sigint = signal.getsignal(signal.SIGINT)
        if callable(sigint) and sigint is not signal.default_int_handler:
            signal.raise_signal(signal.SIGINT)  # the running event loop's own Ctrl-C
        else:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _drop_closed_output() -> None:
    """Point standard output and error at the null device: what is still buffered for a
    closed pipe goes nowhere, instead of failing again as the interpreter exits."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError, ValueError):
                os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
