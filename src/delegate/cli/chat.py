"""``delegate chat``: an interactive session over the ready workflows.

Free text is a request: it is routed to a workflow as ``delegate run`` routes it
(:func:`~delegate.apps.workflows.pick_workflow`) and run with live progress; a workflow that
plans over the general workers shows its plan and asks, in the conversation, to approve, edit
or reject it before any worker starts (:class:`~delegate.cli.approve.TerminalApprover`, reading
the chat's own input). The commands ``blog <topic>``, ``report <topic>``, ``analysis <csv>``,
``project <description>``, ``task <objective>`` and ``recommend <query>`` pick the workflow
themselves; ``help`` lists them, ``quit`` leaves. A single word that is no command is taken for
a typo, not a request.

At a terminal, line editing and history come from prompt_toolkit (history kept in the user's
data folder); otherwise lines are read from standard input, so the session can be scripted. A
command's error is shown as one line and the session goes on; so is Ctrl-C (at the prompt, or
during a run, which it stops). A line that is not valid UTF-8, or longer than
:data:`MAX_LINE_BYTES`, is refused with one line (nothing runs) and the session goes on; the
session then ends with exit code 2. End of input ends the session.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from ..errors import DelegateError

__all__ = ["COMMANDS", "MAX_LINE_BYTES", "chat", "history_path", "stdin_lines"]

#: The longest input line taken (a request is at most 20,000 characters anyway).
MAX_LINE_BYTES = 100_000

COMMANDS = {
    "blog": ("blog", "<topic>", "an outline, sections written in parallel, an editor"),
    "report": ("report", "<topic>", "analyses and an executive summary"),
    "analysis": ("analysis", "<csv file>", "a data analysis, numbers computed in Python"),
    "project": ("project", "<description>", "phases, tasks and a critical-path timeline"),
    "task": ("general", "<objective>", "any objective, with the general workers"),
    "recommend": (None, "<query>", "product advice from the KETL Mtn. catalog"),
}
def _help() -> str:
    rows = [(f"{name} {arg}", about) for name, (_, arg, about) in COMMANDS.items()]
    rows += [("help", "this list"), ("quit", "leave (or end of input: Ctrl-D)")]
    width = max(len(left) for left, _ in rows)
    return ("Commands:\n"
            + "\n".join(f"  {left:<{width}}  {about}" for left, about in rows)
            + "\nAnything else of a few words is a request: it runs with the workflow that "
            "fits\n(a general one shows its plan first, to approve, edit or reject).")


HELP = _help()
PROMPT = "delegate> "


def history_path() -> Path:
    """Where the chat history is kept (``$XDG_DATA_HOME/delegate``, else ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return Path(base) / "delegate" / "chat_history"


def _terminal_reader() -> Callable[[str], str]:
    """Reads a line at the terminal with prompt_toolkit (EOFError at Ctrl-D,
    KeyboardInterrupt at Ctrl-C); the answers to a plan's approval stay out of the history."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    path = history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    session: PromptSession[str] = PromptSession(history=FileHistory(str(path)))
    plain: PromptSession[str] = PromptSession()

    def read(prompt: str) -> str:
        return (session if prompt == PROMPT else plain).prompt(prompt)

    return read


class _Refused(str):
    """An input line that was not taken; the string says why."""


class _RefusedLine(ValueError):
    """A line the scripted reader refused (the message says why); at a run's question it
    counts as no answer."""


def stdin_lines(stream: BinaryIO, max_bytes: int = MAX_LINE_BYTES) -> Iterator[str]:
    """Lines of a byte stream, decoded here so that bad bytes refuse one line instead of
    ending the session: invalid UTF-8 stays as surrogate escapes (refused by :func:`chat`),
    and a line over ``max_bytes`` is skipped whole without being held in memory."""
    while True:
        raw = stream.readline(max_bytes + 1)
        if not raw:
            return
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            while True:  # drop the rest of the line
                more = stream.readline(max_bytes + 1)
                if not more or more.endswith(b"\n"):
                    break
            yield _Refused(f"that line is over {max_bytes:,} bytes; nothing was run")
            continue
        yield raw.decode("utf-8", "surrogateescape")


def _valid(line: str) -> bool:
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _scripted(lines: Iterator[str], out: TextIO) -> Callable[[str], str]:
    """Reads from ``lines``; a question of the run (any prompt but the chat's) is shown."""

    def read(prompt: str) -> str:
        if prompt != PROMPT:
            out.write(prompt)
            out.flush()
        try:
            line = next(lines)
        except StopIteration:
            raise EOFError from None
        if isinstance(line, _Refused):
            raise _RefusedLine(line)
        if not _valid(line):
            raise _RefusedLine("that line is not valid UTF-8 text; nothing was run")
        return line.rstrip("\n")

    return read


def chat(
    lines: Iterator[str] | None = None,
    out: TextIO | None = None,
    *,
    model: Any = None,
    run_command: Callable[..., Any] | None = None,
) -> int:
    """Run the session; return the exit code: 0 after ``quit`` or end of input, 2 when an
    input line was refused (not UTF-8, or too long).

    Args:
        lines: the input lines (default: the terminal, or standard input when not a terminal).
        out: where answers go (default: standard output).
        model: the model for every command.
        run_command: ``f(workflow_or_None, argument, model, approver) -> text``, where
            ``approver`` answers a plan's approval in the conversation (a function of three
            arguments is called without it); tests pass their own.
    """
    from .approve import TerminalApprover
    from .lines import LineReader

    out = out or sys.stdout
    if lines is None and sys.stdin.isatty():
        reader = LineReader(_terminal_reader())
    else:
        source = lines if lines is not None else stdin_lines(sys.stdin.buffer)
        reader = LineReader(_scripted(source, out))

    def write(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    approver = TerminalApprover(reader, write)
    run_command = run_command or _run_command
    write("delegate chat: write a request, or type 'help' for commands, 'quit' to leave.")
    refused = False
    while True:
        try:
            raw = reader.line(PROMPT)
        except EOFError:
            break
        except KeyboardInterrupt:
            write("(Ctrl-C) type 'quit' or press Ctrl-D to leave")
            continue
        except _RefusedLine as exc:
            refused = True
            write(f"error: {exc}")
            continue
        line = raw.strip()
        if not line:
            continue
        name, _, argument = line.partition(" ")
        name = name.lower()
        if name in ("quit", "exit"):
            break
        if name == "help":
            write(HELP)
            continue
        if name in COMMANDS:
            if not argument.strip():
                write(f"{name} needs {COMMANDS[name][1]}")
                continue
            workflow, argument = COMMANDS[name][0], argument.strip()
        elif " " not in line:
            write(f"unknown command {name!r}; type 'help', or write a request in a few words")
            continue
        else:
            from ..apps.workflows import pick_workflow

            workflow, why = pick_workflow(line)
            argument = line
            write(f"workflow {workflow} ({why})")
        try:
            write(run_command(workflow, argument, model, *_approver_for(run_command,
                                                                           approver)))
        except DelegateError as exc:
            write(f"error: {exc}")
        except KeyboardInterrupt:
            write("cancelled; the run was stopped")
    return 2 if refused else 0


def _approver_for(run_command: Callable[..., Any], approver: Any) -> tuple[Any, ...]:
    """``(approver,)`` for a ``run_command`` that takes it, ``()`` for one of three
    arguments (as ``run_command`` was before plans were approved in the chat)."""
    try:
        params = list(inspect.signature(run_command).parameters.values())
    except (TypeError, ValueError):
        return (approver,)
    takes = len(params) >= 4 or any(p.kind is p.VAR_POSITIONAL for p in params)
    return (approver,) if takes else ()


def _run_command(workflow: str | None, argument: str, model: Any, approver: Any = None) -> str:
    """Run ``workflow`` (``None``: the recommender) on ``argument`` with live progress; the
    plan's approval is asked through ``approver`` where the workflow applies it."""
    from .ask import paused
    from .options import progress

    subscribers = [progress()]
    if workflow is None:
        from ..apps.recommend.workflow import recommend

        return asyncio.run(recommend(argument, model=model, subscribers=subscribers)).text
    from ..apps.workflows import WORKFLOWS, run_workflow
    from ..core.config import RunConfig

    options: dict[str, Any] = {"model": model, "subscribers": subscribers}
    if approver is not None and "approve_plan" in WORKFLOWS[workflow].settings():

        async def ask(interrupt: Any) -> Any:
            with paused(subscribers):
                return await approver(interrupt)

        options.update(config=RunConfig(approve_plan=True), on_interrupt=ask)
    params = inspect.signature(WORKFLOWS[workflow].load()).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        options = {k: v for k, v in options.items() if k in params}
    result = asyncio.run(run_workflow(workflow, argument, **options))
    run = result.run
    if run.status == "succeeded":
        return result.markdown
    why = f": {run.notes[-1]}" if run.notes else ""
    return (result.markdown + "\n\n" if result.markdown.strip() else "") + \
        f"(run {run.status}{why})"
