"""Who answers a ``delegate run --approve-plan`` run's questions, and where.

At a terminal (standard input and output both a terminal) the person running the command is
asked there, by :class:`~delegate.cli.approve.TerminalApprover`, with the live progress display
paused while they answer. A stored run keeps the question and its answer in the run store as
well: a run carried on later (``runs resume``) finds the answer there instead of asking again,
and an answer given elsewhere first (``runs answer``, the server) is the one that counts.

Without a terminal nobody is asked here: a stored run waits in the store for an answer (exit
code 3, see :mod:`delegate.durable.interrupts`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from ..core.interrupts import Interrupt, InterruptHandler
from ..errors import AlreadyAnswered, RunWaiting
from .approve import TerminalApprover

__all__ = ["at_terminal", "paused", "recorded", "terminal_approver"]


def at_terminal() -> bool:
    """Whether standard input and output are a terminal (someone can be asked)."""
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def terminal_approver(subscribers: Iterable[Any] = (), *, stream: Any = None
                      ) -> InterruptHandler:
    """The handler that asks at this terminal (a :class:`TerminalApprover`): the plan and the
    prompts on ``stream`` (default standard output), lines read from standard input, and
    every live display among ``subscribers`` paused while the question is open."""
    out = stream or sys.stdout
    shown = list(subscribers)

    def write(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    def read(prompt: str) -> str:
        if out is sys.stdout:
            return input(prompt)
        out.write(prompt)
        out.flush()
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")

    approver = TerminalApprover(read, write)

    async def ask(interrupt: Interrupt) -> Any:
        with paused(shown):
            return await approver(interrupt)

    return ask


@contextlib.contextmanager
def paused(subscribers: list[Any]) -> Iterator[None]:
    """Stop the rich live displays among ``subscribers`` (their ``live``) for the block, so
    that a prompt is not drawn over; they start again after it."""
    stopped = []
    for sub in subscribers:
        live = getattr(sub, "live", None)
        if live is not None and getattr(live, "is_started", False):
            live.stop()
            stopped.append(live)
    try:
        yield
    finally:
        for live in stopped:
            live.start()


def recorded(ask: InterruptHandler, journal: Any) -> InterruptHandler:
    """``ask`` (a person here), with each question and its answer kept in ``journal``'s
    store; a question answered in the store already (before a resume, or elsewhere first)
    is not asked again. Without a journal, ``ask`` itself."""
    if journal is None:
        return ask
    from ..durable.interrupts import stored_answers

    stored = stored_answers(journal)

    async def handler(interrupt: Interrupt) -> Any:
        try:
            return await stored(interrupt)
        except RunWaiting:
            pass
        answer = await ask(interrupt)
        by = answer.get("by") if isinstance(answer, dict) else None
        try:
            journal.store.answer_interrupt(journal.run_id, interrupt.id, answer,
                                           by=str(by or "terminal"))
        except AlreadyAnswered:  # answered elsewhere while the terminal asked: that counts
            return await stored(interrupt)
        return answer

    return handler
