"""``delegate chat``: an interactive session over the ready workflows.

Commands: ``blog <topic>``, ``report <topic>``, ``analysis <csv>``, ``project <description>``,
``task <objective>``, ``recommend <query>``, ``help``, ``quit``. At a terminal, line editing and
history come from prompt_toolkit (history kept in the user's data folder); otherwise lines are
read from standard input, so the session can be scripted. A command's error is shown as one
line and the session goes on. A line that is not valid UTF-8, or longer than
:data:`MAX_LINE_BYTES`, is refused with one line (nothing runs) and the session goes on; the
session then ends with exit code 2.
"""

from __future__ import annotations

import asyncio
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
HELP = "Commands:\n" + "\n".join(
    f"  {name} {arg:<14} {about}" for name, (_, arg, about) in COMMANDS.items()
) + "\n  help                      this list\n  quit                      leave"


def history_path() -> Path:
    """Where the chat history is kept (``$XDG_DATA_HOME/delegate``, else ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return Path(base) / "delegate" / "chat_history"


def _terminal_lines() -> Iterator[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    path = history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    session: PromptSession[str] = PromptSession(history=FileHistory(str(path)))
    while True:
        try:
            yield session.prompt("delegate> ")
        except EOFError:
            return


class _Refused(str):
    """An input line that was not taken; the string says why."""


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
        run_command: ``f(workflow_or_None, argument, model) -> text``; tests pass their own.
    """
    out = out or sys.stdout
    if lines is None:
        lines = _terminal_lines() if sys.stdin.isatty() else stdin_lines(sys.stdin.buffer)
    run_command = run_command or _run_command
    out.write("delegate chat: type 'help' for commands, 'quit' to leave.\n")
    refused = False
    for raw in lines:
        if isinstance(raw, _Refused) or not _valid(raw):
            refused = True
            why = raw if isinstance(raw, _Refused) else ("that line is not valid UTF-8 text; "
                                                         "nothing was run")
            out.write(f"error: {why}\n")
            continue
        line = raw.strip()
        if not line:
            continue
        name, _, argument = line.partition(" ")
        name = name.lower()
        if name in ("quit", "exit"):
            break
        if name == "help":
            out.write(HELP + "\n")
            continue
        if name not in COMMANDS:
            out.write(f"unknown command {name!r}; type 'help'\n")
            continue
        if not argument.strip():
            out.write(f"{name} needs {COMMANDS[name][1]}\n")
            continue
        try:
            out.write(run_command(COMMANDS[name][0], argument.strip(), model) + "\n")
        except DelegateError as exc:
            out.write(f"error: {exc}\n")
        except KeyboardInterrupt:
            out.write("cancelled\n")
    return 2 if refused else 0


def _run_command(workflow: str | None, argument: str, model: Any) -> str:
    if workflow is None:
        from ..apps.recommend.workflow import recommend

        return asyncio.run(recommend(argument, model=model)).text
    from ..apps.workflows import run_workflow

    return asyncio.run(run_workflow(workflow, argument, model=model)).markdown
