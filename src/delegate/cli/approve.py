"""The terminal approver: a person at the terminal approves, edits or rejects a run's plan.

:class:`TerminalApprover` is an ``on_interrupt`` handler (see
:mod:`delegate.core.interrupts`). For a plan approval it prints the plan as a tree (each task
under the task it waits for last, with its id, worker, dependencies and instruction), then asks
``[a]pprove, [e]dit, [r]eject?``:

- ``a`` approves; ``r`` asks for a reason and rejects;
- ``e`` opens ``$EDITOR`` (else ``nano`` when installed, else ``vi``) on the plan as JSON in a
  temporary file and sends what was saved as the edited plan; a file that is not a JSON
  object is refused in one line and the question is asked again (the next edit starts from
  what was saved, so nothing typed is lost). The run validates the edited plan and asks again,
  with the validator's message, when it is wrong.

End of input or Ctrl-C at a prompt rejects the plan with :data:`NO_ANSWER`. The lines are read
in a thread of their own, never on the event loop, so the run's journal goes on saying its
owner is alive while the person thinks.

``delegate run --approve-plan`` uses it when standard input and output are a terminal;
``delegate chat`` uses it with the chat's own input, so the question is asked in the
conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

from ..core.interrupts import Interrupt
from ..errors import UsageError
from ..files import FileRefused, read_regular
from .lines import LineReader, ReadLine

__all__ = ["MAX_PLAN_BYTES", "NO_ANSWER", "LineReader", "TerminalApprover", "editor_command",
           "parse_plan", "plan_tree", "read_plan_file", "run_editor", "user_name"]

#: The reason of the rejection sent when nobody answered at the terminal.
NO_ANSWER = "no answer in the terminal"
#: The largest edited plan read back from the editor (or from ``runs answer --edit``).
MAX_PLAN_BYTES = 1_000_000

#: Reads one line after showing a prompt; raises EOFError at the end of input (or
#: KeyboardInterrupt). Called in a thread of its own.

def plan_tree(plan: dict[str, Any], width: int = 100) -> str:
    """The plan (as a plan interrupt's payload carries it) as a tree of text lines.

    Each task stands under the dependency listed last in plan order (a tree needs one parent;
    every dependency is named after ``needs``), with its instruction wrapped below it.
    """
    tasks = [t for t in plan.get("tasks", []) if isinstance(t, dict)]
    order = {t.get("id"): i for i, t in enumerate(tasks)}
    children: dict[Any, list[dict[str, Any]]] = {}
    for task in tasks:
        deps = [d for d in task.get("depends_on") or [] if d in order]
        parent = max(deps, key=order.__getitem__) if deps else None
        children.setdefault(parent, []).append(task)
    count = len(tasks)
    lines = [f"plan v{plan.get('version', 1)}: {count} task{'s' if count != 1 else ''}"]

    def draw(parent: Any, prefix: str) -> None:
        kids = children.get(parent, [])
        for n, task in enumerate(kids):
            last = n == len(kids) - 1
            deps = list(task.get("depends_on") or [])
            needs = f"  needs {', '.join(deps)}" if deps else ""
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{task.get('id')} "
                         f"[{task.get('worker')}]{needs}")
            below = prefix + ("   " if last else "│  ")
            body = "│  " if children.get(task.get("id")) else "   "
            text = " ".join(str(task.get("instruction", "")).split())
            lines.extend(textwrap.wrap(text, max(40, width - len(below) - 3),
                                       initial_indent=below + body,
                                       subsequent_indent=below + body) or [below + body])
            draw(task.get("id"), below)

    draw(None, "")
    return "\n".join(lines)


def editor_command() -> list[str]:
    """The editor to run: ``$EDITOR`` (split like a shell would), else ``nano`` when it is
    installed, else ``vi``."""
    spec = os.environ.get("EDITOR", "").strip()
    if spec:
        return shlex.split(spec)
    return ["nano"] if shutil.which("nano") else ["vi"]


class TerminalApprover:
    """Answers plan approvals from a person at a terminal (see the module).

    Args:
        read: reads one line after showing its prompt (``input`` at a terminal), or the
            chat's :class:`LineReader`; EOFError or KeyboardInterrupt means no answer.
        write: shows text (a line or more, without the final newline).
        by: who answers, stored with the answer (default: the user's login name).
        edit: edits a file in place (default: runs :func:`editor_command` on it); raises
            UsageError when the editor cannot run or fails.
    """

    def __init__(self, read: ReadLine | LineReader, write: Callable[[str], None], *,
                 by: str | None = None, edit: Callable[[str], None] | None = None) -> None:
        self.lines = read if isinstance(read, LineReader) else LineReader(read)
        self.write = write
        self.by = by if by is not None else user_name()
        self.edit = edit or run_editor

    async def __call__(self, interrupt: Interrupt) -> dict[str, Any]:
        if interrupt.kind == "question":
            return await self._question(interrupt)
        if interrupt.kind == "tool_approval":
            return await self._tool_call(interrupt)
        if interrupt.kind != "plan_approval":
            raise UsageError(f"the terminal cannot answer a {interrupt.kind}")
        plan = interrupt.payload.get("plan") or {}
        self.write(plan_tree(plan))
        if interrupt.error:
            self.write(f"the last answer was refused: {interrupt.error}")
        draft: str | None = None

        async def edit() -> dict[str, Any] | None:
            nonlocal draft
            draft = draft or json.dumps(plan, indent=2, ensure_ascii=False) + "\n"
            edited, draft = await asyncio.to_thread(self._edited, draft)
            return None if edited is None else {"plan": edited}

        return await self._choose(edit, empty_reason="rejected in the terminal")

    async def _question(self, interrupt: Interrupt) -> Any:
        """A task's question: the answer typed (one of the choices, when there are some);
        no answer (end of input) fails the task's question."""
        choices = interrupt.payload.get("choices") or None
        self.write(f"{interrupt.task_id} asks: {interrupt.payload.get('question', '')}")
        while True:
            hint = f" ({' / '.join(choices)})" if choices else ""
            answer = await self.ask(f"answer{hint}: ")
            if answer is None:
                raise UsageError(f"{interrupt.id}: {NO_ANSWER}")
            answer = " ".join(answer.split())
            if answer and (not choices or answer in choices):
                return answer
            self.write("answer one of: " + ", ".join(choices) if choices else "answer something")

    async def _tool_call(self, interrupt: Interrupt) -> dict[str, Any]:
        """A tool call to approve: approve, reject with a reason, or edit the arguments as
        JSON on one line."""
        payload = interrupt.payload
        self.write(f"{interrupt.task_id} wants to call {payload.get('tool')} with "
                   f"{json.dumps(payload.get('arguments'), ensure_ascii=False)}")
        if interrupt.error:
            self.write(f"the last answer was refused: {interrupt.error}")

        async def edit() -> dict[str, Any] | None:
            line = await self.ask("arguments (JSON): ")
            try:
                arguments = json.loads(line or "")
            except json.JSONDecodeError as exc:
                self.write(f"not JSON: {exc.msg}")
                return None
            if isinstance(arguments, dict):
                return {"arguments": arguments}
            self.write("the arguments are a JSON object")
            return None

        return await self._choose(edit, empty_reason=NO_ANSWER)

    async def _choose(self, edit: Callable[[], Awaitable[dict[str, Any] | None]], *,
                      empty_reason: str) -> dict[str, Any]:
        """Approve, edit (``edit()`` gives the edited fields, or ``None`` to ask again) or
        reject with a reason (``empty_reason`` when none is typed); end of input rejects."""
        while True:
            choice = await self.ask("[a]pprove, [e]dit, [r]eject? ")
            if choice is None:
                return self._answer("reject", reason=NO_ANSWER)
            choice = choice.strip().lower()
            if choice in ("a", "approve"):
                return self._answer("approve")
            if choice in ("r", "reject"):
                reason = await self.ask("reason: ")
                if reason is None:
                    return self._answer("reject", reason=NO_ANSWER)
                return self._answer("reject", reason=" ".join(reason.split()) or empty_reason)
            if choice in ("e", "edit"):
                fields = await edit()
                if fields is not None:
                    return self._answer("edit", **fields)
                continue
            self.write("answer a (approve), e (edit) or r (reject)")

    def _answer(self, action: str, **fields: Any) -> dict[str, Any]:
        self.write({"approve": "approved", "reject": "rejected",
                    "edit": "sent the edited " + ("plan" if "plan" in fields else
                                                  "arguments")}[action])
        return {"action": action, **fields, **({"by": self.by} if self.by else {})}

    def _edited(self, draft: str) -> tuple[dict[str, Any] | None, str]:
        """Edit ``draft`` in a temporary file: the plan read back (``None`` after saying in
        one line why it cannot be used) and the text saved."""
        fd, path = tempfile.mkstemp(prefix="delegate-plan-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(draft)
            try:
                self.edit(path)
            except UsageError as exc:
                self.write(f"the plan was not edited: {exc}")
                return None, draft
            try:
                text = read_plan_file(path)
            except UsageError as exc:
                self.write(str(exc))
                return None, draft
            try:
                return parse_plan(text, "the edited plan"), text
            except UsageError as exc:
                self.write(f"{exc}; edit it again or answer a or r")
                return None, text
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    async def ask(self, prompt: str) -> str | None:
        """One line (``None``: end of input or Ctrl-C), read off the event loop."""
        return await self.lines.ask(prompt)


def run_editor(path: str) -> None:
    """Run the editor (:func:`editor_command`) on ``path`` at the terminal.

    Raises:
        UsageError: the editor is not installed or exited with an error.
    """
    command = editor_command()
    try:
        code = subprocess.run([*command, path], check=False).returncode
    except OSError as exc:
        raise UsageError(f"the editor {command[0]!r} cannot run: {exc.strerror or exc}; "
                         "set EDITOR") from None
    if code != 0:
        raise UsageError(f"the editor {command[0]!r} exited with status {code}")


def read_plan_file(path: str, *, max_bytes: int = MAX_PLAN_BYTES) -> str:
    """The text of an edited plan file, at most ``max_bytes``, read with
    :func:`delegate.files.read_regular`: anything but a regular file (a directory, a FIFO, a
    device) is refused before it is opened, and the file is opened without blocking, so
    nothing waits for a writer.

    Raises:
        UsageError: not a regular file, too big, unreadable or not UTF-8 (one line).
    """
    try:
        data = read_regular(path, max_bytes=max_bytes)
    except FileRefused as exc:
        raise UsageError(_refusal(exc, path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None


def _refusal(exc: FileRefused, path: str) -> str:
    if exc.reason == "directory":
        return f"{path} is a folder, not a JSON file"
    if exc.reason == "not_regular":
        return f"{path} is not a regular file (a pipe, device or socket); give a JSON file"
    if exc.reason == "too_big":
        return f"{path} is over {exc.max_bytes:,} bytes; a plan is smaller"
    return f"cannot read {path}: {exc.detail}"  # missing or unreadable


def parse_plan(text: str, where: str) -> dict[str, Any]:
    """``text`` as a JSON object (one line of UsageError when it is not)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno}") from None
    except RecursionError:
        raise UsageError(f"{where} is JSON nested too deeply to read") from None
    if not isinstance(data, dict):
        raise UsageError(f"{where} holds no JSON object (a plan is {{\"tasks\": [...]}})")
    return data


def user_name() -> str:
    """The login name of the person at the terminal, or ``""`` when it cannot be told."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name and no variable naming one
        return ""
