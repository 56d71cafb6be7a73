"""``delegate runs answer``: answer a stored run's question, for the run to carry on.

A run started with ``--approve-plan`` and nobody at the terminal stops before any worker
starts and waits, durably, for its plan to be approved (exit code 3; see
:mod:`delegate.durable.interrupts`). This command stores the answer::

    delegate runs answer RUN_ID [INTERRUPT_ID] --approve
    delegate runs answer RUN_ID --reject "too broad"
    delegate runs answer RUN_ID --edit plan.json
    delegate runs answer RUN_ID --answer '{"action": "approve"}'

then ``delegate runs resume RUN_ID`` carries the run on with it. ``INTERRUPT_ID`` may be left
out when the run has one question waiting. The answer is checked before it is stored (its
action, and an edited plan's ids, dependencies and limits); a question answered already is
refused, naming who answered it. ``runs show`` lists a run's waiting questions.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import AlreadyAnswered, UsageError
from .approve import parse_plan, read_plan_file, user_name

__all__ = ["add_answer_parser", "answer_command", "pending_lines"]


def add_answer_parser(verbs: Any) -> None:
    """Declare ``runs answer`` among the ``runs`` verbs."""
    answer = verbs.add_parser("answer", help="answer a run's question (approve, edit or "
                              "reject its plan); then runs resume carries it on")
    answer.add_argument("run_id", help="the run's id (or its first characters)")
    answer.add_argument("interrupt_id", nargs="?", default=None,
                        help="the question's id, e.g. plan:1 (default: the run's only "
                             "waiting question)")
    how = answer.add_mutually_exclusive_group(required=True)
    how.add_argument("--approve", action="store_true", help="approve the plan as it is")
    how.add_argument("--reject", metavar="REASON", help="reject the plan: nothing runs")
    how.add_argument("--edit", metavar="FILE",
                     help="run this plan instead (JSON: {\"tasks\": [...]}, as runs show "
                          "--json prints it)")
    how.add_argument("--answer", metavar="JSON", help="the answer as JSON, as the "
                     "question's schema says")
    answer.add_argument("--by", metavar="NAME", default=None,
                        help="who answers (default: your login name)")
    answer.add_argument("--store", metavar="URL", default=None,
                        help="run store (default: $DELEGATE_STORE or the data dir)")


def answer_command(store: Any, args: argparse.Namespace) -> int:
    """Check and store the answer; print what to do next."""
    from ..core.interrupts import check_answer

    run = store.get_run(args.run_id)
    record = _question(store, run.run_id, args.interrupt_id)
    if record["status"] != "pending":
        raise _answered(record)
    by = args.by if args.by is not None else user_name() or "cli"
    if not by.strip():
        raise UsageError("--by needs a name")
    answer = _answer(args)
    if isinstance(answer, dict) and "by" not in answer:
        answer = {**answer, "by": by}
    check_answer(record, answer)
    try:
        store.answer_interrupt(run.run_id, record["interrupt_id"], answer, by=by)
    except AlreadyAnswered as exc:  # answered meanwhile, by someone else
        raise _answered(store.get_interrupt(run.run_id, record["interrupt_id"])) from exc
    action = answer.get("action") if isinstance(answer, dict) else None
    print(f"answered {record['interrupt_id']} of run {run.run_id}"
          + (f" ({action})" if action else "") + f"; carry the run on with: delegate runs "
          f"resume {run.run_id}")
    return 0


def _question(store: Any, run_id: str, interrupt_id: str | None) -> dict[str, Any]:
    """The question named, or the run's only waiting one."""
    if interrupt_id is not None:
        return store.get_interrupt(run_id, interrupt_id)
    pending = store.interrupts(run_id, "pending")
    if not pending:
        raise UsageError(f"run {run_id} has no question waiting for an answer")
    if len(pending) > 1:
        names = ", ".join(r["interrupt_id"] for r in pending)
        raise UsageError(f"run {run_id} has {len(pending)} questions waiting ({names}); "
                         "name the one to answer")
    return pending[0]


def _answered(record: dict[str, Any]) -> AlreadyAnswered:
    who = record.get("answered_by") or "someone"
    status = record.get("status", "answered")
    what = "its deadline passed" if status == "expired" else f"it was answered by {who}"
    return AlreadyAnswered(f"{record['interrupt_id']} of run {record['run_id']} is not "
                           f"waiting any more: {what}", run_id=record["run_id"],
                           interrupt_id=record["interrupt_id"], status=status,
                           answered_by=record.get("answered_by"))


def _answer(args: argparse.Namespace) -> Any:
    if args.approve:
        return {"action": "approve"}
    if args.reject is not None:
        reason = " ".join(args.reject.split())
        if not reason:
            raise UsageError("--reject needs a reason")
        return {"action": "reject", "reason": reason}
    if args.edit is not None:
        plan = parse_plan(read_plan_file(args.edit), f"--edit {args.edit}")
        # runs show --json prints the plan with its version; the edit is the next version
        return {"action": "edit", "plan": {k: v for k, v in plan.items() if k != "version"}}
    try:
        return json.loads(args.answer)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--answer is not valid JSON: {exc.msg} at column {exc.colno}"
                         ) from None
    except RecursionError:
        raise UsageError("--answer is JSON nested too deeply to read") from None


def pending_lines(store: Any, run_id: str) -> list[str]:
    """``runs show``'s lines about the run's questions waiting for an answer."""
    lines = []
    for record in store.interrupts(run_id, "pending"):
        what = record["kind"].replace("_", " ")
        lines.append(f"  {record['interrupt_id']}: {what}, waiting since "
                     f"{record['created_at']:%Y-%m-%d %H:%M:%S} UTC; answer with: delegate "
                     f"runs answer {run_id} {record['interrupt_id']} --approve (or --reject "
                     "REASON, --edit FILE)")
    return lines
