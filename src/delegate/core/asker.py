"""How the tasks of a run ask a person while it runs: ``ctx.ask`` and a tool call's approval.

The :class:`Asker` of a run turns each question into an interrupt (see
:mod:`delegate.core.interrupts`), raised and answered as events; only the asking task waits.
:data:`ASKER` holds the asker of the run the current task belongs to.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

from ..errors import UsageError
from .events import InterruptAnswered, InterruptRaised
from .interrupts import (
    MAX_REFUSED,
    TOOL_ANSWER_SCHEMA,
    Interrupt,
    InterruptHandler,
    OnTimeout,
    answer_of,
)

__all__ = ["ASKER", "Asker"]


class Asker:
    """How the tasks of one run ask a person (``ctx.ask``): each question becomes an
    interrupt ``ask:<task>:<attempt>:<n>`` (the ``n``-th question of that attempt), raised and
    answered as events, answered by ``handler``. Only the asking task waits: the others go on.

    Args:
        handler: answers the interrupts (the application's, or the durable one).
        bus: where the run's events go.
        run_id: the run.
    """

    def __init__(self, handler: InterruptHandler, bus: Any, run_id: str) -> None:
        self.handler = handler
        self.bus = bus
        self.run_id = run_id
        self._asked: dict[tuple[str, int], int] = {}

    async def ask(self, task_id: str, attempt: int, question: str,
                  schema: dict[str, Any] | None = None,
                  choices: Sequence[str] | None = None, timeout: float | None = None,
                  on_timeout: OnTimeout | None = None) -> Any:
        if not isinstance(question, str) or not question.strip():
            raise UsageError("ctx.ask needs a question")
        if choices is not None:
            choices = [str(c) for c in choices]
            if not choices:
                raise UsageError("ctx.ask: choices must not be empty")
        key = (task_id, attempt)
        n = self._asked[key] = self._asked.get(key, 0) + 1
        interrupt = Interrupt(
            id=f"ask:{task_id}:{attempt}:{n}", kind="question", task_id=task_id,
            payload={"question": question, "choices": choices},
            schema=schema or ({"enum": choices} if choices else {"type": "string"}),
            deadline=None if timeout is None else time.time() + timeout,
            on_timeout=on_timeout)
        self.bus.emit(InterruptRaised(run_id=self.run_id, interrupt=interrupt))
        answer = await answer_of(self.handler, interrupt)
        if isinstance(answer, dict) and answer.get("by") == "deadline":
            self.bus.emit(InterruptAnswered(run_id=self.run_id, interrupt_id=interrupt.id,
                                            answer=answer, by="deadline"))
            return answer
        if choices is not None and answer not in choices:
            raise UsageError(f"the answer to {interrupt.id} is not one of: "
                             + ", ".join(choices))
        self.bus.emit(InterruptAnswered(run_id=self.run_id, interrupt_id=interrupt.id,
                                        answer=answer))
        return answer

    async def approve_call(self, task_id: str, attempt: int, tool: Any,
                           arguments: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """Ask a person to approve a call of ``tool`` with ``arguments`` (interrupt
        ``tool:<task>:<attempt>:<n>``): the arguments to call with (edited ones are checked
        against the tool's schema, and refused ones asked again), or ``None`` and the reason
        for a rejected call.

        Raises:
            UsageError: :data:`MAX_REFUSED` answers in a row were refused.
        """
        key = (f"tool:{task_id}", attempt)
        error = ""
        for _ in range(MAX_REFUSED):
            n = self._asked[key] = self._asked.get(key, 0) + 1
            interrupt = Interrupt(
                id=f"tool:{task_id}:{attempt}:{n}", kind="tool_approval", task_id=task_id,
                payload={"tool": tool.name, "description": tool.description,
                         "arguments": arguments, "parameters": tool.parameters},
                schema=TOOL_ANSWER_SCHEMA, error=error)
            self.bus.emit(InterruptRaised(run_id=self.run_id, interrupt=interrupt))
            answer = await answer_of(self.handler, interrupt)
            by = str(answer.get("by") or "") if isinstance(answer, dict) else ""
            self.bus.emit(InterruptAnswered(run_id=self.run_id, interrupt_id=interrupt.id,
                                            answer=answer, by=by))
            action = answer.get("action") if isinstance(answer, dict) else None
            if action == "approve":
                return arguments, ""
            if action == "reject":
                return None, str(answer.get("reason") or "no reason given")
            if action == "edit":
                try:
                    tool.check_arguments(answer.get("arguments"))
                except UsageError as exc:
                    error = str(exc)
                    continue
                return dict(answer["arguments"]), ""
            error = ("an answer to a tool call's approval is {\"action\": \"approve\"}, "
                     "{\"action\": \"reject\", \"reason\": ...} or {\"action\": \"edit\", "
                     "\"arguments\": {...}}")
        raise UsageError(f"{MAX_REFUSED} answers to the approval of {tool.name} were refused; "
                         f"the last: {error}")


#: The asker of the run the current task belongs to (set by the run around its tasks).
ASKER: ContextVar[Asker | None] = ContextVar("delegate_asker", default=None)
