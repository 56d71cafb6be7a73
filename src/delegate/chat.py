"""``delegate chat``: an interactive session over the ready workflows.

Commands: ``blog <topic>``, ``report <topic>``, ``analysis <csv>``, ``project <description>``,
``task <objective>``, ``recommend <query>``, ``help``, ``quit``. At a terminal, line editing and
history come from prompt_toolkit (history kept in the user's data folder); otherwise lines are
read from standard input, so the session can be scripted. A command's error is shown as one
line and the session goes on.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from .errors import DelegateError

__all__ = ["COMMANDS", "chat", "history_path"]

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


def chat(
    lines: Iterator[str] | None = None,
    out: TextIO | None = None,
    *,
    model: Any = None,
    run_command: Callable[..., Any] | None = None,
) -> int:
    """Run the session; return the exit code (0 after ``quit`` or end of input).

    Args:
        lines: the input lines (default: the terminal, or standard input when not a terminal).
        out: where answers go (default: standard output).
        model: the model for every command.
        run_command: ``f(workflow_or_None, argument, model) -> text``; tests pass their own.
    """
    out = out or sys.stdout
    if lines is None:
        lines = _terminal_lines() if sys.stdin.isatty() else (line for line in sys.stdin)
    run_command = run_command or _run_command
    out.write("delegate chat: type 'help' for commands, 'quit' to leave.\n")
    for raw in lines:
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
    return 0


def _run_command(workflow: str | None, argument: str, model: Any) -> str:
    if workflow is None:
        from .apps.recommend import recommend

        return asyncio.run(recommend(argument, model=model)).text
    from .apps.workflows import run_workflow

    return asyncio.run(run_workflow(workflow, argument, model=model)).markdown
