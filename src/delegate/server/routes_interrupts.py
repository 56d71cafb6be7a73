"""The API's interrupts: the questions a run put to a person, and their answers.

A run that asks (a plan to approve, with ``approve_plan``) stores the question and stops with
the status ``waiting``. ``POST /api/runs/{id}/interrupts/{iid}`` stores the answer, once (of
two answers at once one wins, the other is told who answered), and carries the run on here
when it is waiting, so a person answering from the dashboard sees the run go on by itself.
The run reads the stored answer when it asks again (see :mod:`delegate.core.interrupts`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request

from ..core.interrupts import check_answer
from ..durable.export import iso
from ..errors import AlreadyAnswered, InterruptNotFound, UsageError
from .errors import ApiError

__all__ = ["router"]

router = APIRouter(prefix="/api")
log = logging.getLogger("delegate.server")

#: Who answered, when the body does not say.
ANSWERED_BY = "api"
#: How long an answer waits for its run to stop (a run of this server still giving up after
#: asking) before it is carried on in the background instead.
GIVE_UP_WAIT = 30.0
_TIMES = ("created_at", "answered_at", "deadline")


def _json(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, **{k: iso(record.get(k)) for k in _TIMES}}


@router.get("/runs/{run_id}/interrupts")
async def list_interrupts(request: Request, run_id: str) -> dict[str, Any]:
    """The run's interrupts in the order they were asked, pending and answered."""
    store = request.app.state.store
    record = await asyncio.to_thread(store.get_run, run_id)
    records = await asyncio.to_thread(store.interrupts, record.run_id)
    return {"interrupts": [_json(r) for r in records]}


@router.post("/runs/{run_id}/interrupts/{interrupt_id}")
async def answer(request: Request, run_id: str, interrupt_id: str) -> dict[str, Any]:
    """Answer a pending interrupt: the body is the answer (``{"action": ...}`` for a plan
    approval), with an optional ``"by"``. A run waiting for it is carried on here
    (``"resumed": true``)."""
    state = request.app.state
    store = state.store
    body = await _body(request)
    by = body.get("by", ANSWERED_BY)
    if not isinstance(by, str) or not by.strip() or len(by) > 200:
        raise ApiError(422, "invalid_request", "by: a name of 1 to 200 characters")
    record = await asyncio.to_thread(store.get_run, run_id)
    try:
        stored = await asyncio.to_thread(store.get_interrupt, record.run_id, interrupt_id)
    except InterruptNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    if stored["status"] != "pending":
        raise _answered(stored["interrupt_id"], stored["status"], stored["answered_by"],
                        record.run_id)
    given = body if "by" in (stored.get("schema") or {}).get("properties", {}) \
        else {k: v for k, v in body.items() if k != "by"}
    try:
        _match(given, stored.get("schema") or {})
        check_answer(stored, given)
    except UsageError as exc:
        raise ApiError(422, "invalid_request", str(exc).splitlines()[0][:500]) from None
    try:
        answered = await asyncio.to_thread(store.answer_interrupt, record.run_id,
                                           stored["interrupt_id"], given, by=by.strip())
    except AlreadyAnswered as exc:
        raise _answered(exc.interrupt_id, exc.status, exc.answered_by, record.run_id) from None
    resumed = await _carry_on(state, record.run_id)
    return {**_json(answered), "resumed": resumed}


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(422, "invalid_request", "body: a JSON object (the answer)") from None
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_request", "body: a JSON object (the answer), not "
                       f"{type(body).__name__}")
    return body


def _match(answer: Any, schema: dict[str, Any]) -> None:
    """Raise ``UsageError`` (one line) unless ``answer`` matches the interrupt's JSON
    Schema (a malformed schema, which the run wrote, checks nothing)."""
    import jsonschema

    if not schema:
        return
    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except jsonschema.SchemaError:
        log.warning("delegate: an interrupt's answer schema is invalid; not checked")
        return
    error = jsonschema.exceptions.best_match(cls(schema).iter_errors(answer))
    if error is not None:
        where = ".".join(map(str, error.absolute_path)) or "answer"
        raise UsageError(f"{where}: {' '.join(error.message.split())[:300]}")


def _answered(interrupt_id: str, status: str, by: str | None, run_id: str) -> ApiError:
    how = "expired at its deadline" if by == "deadline" else f"{status} by {by}"
    return ApiError(409, "already_answered",
                    f"interrupt {interrupt_id!r} of run {run_id} was already {how}")


async def _carry_on(state: Any, run_id: str) -> bool:
    """Resume the run if it waits for an answer; whether it was resumed. A run of this
    server that asked a moment ago may still be stopping: it is waited for, then resumed
    (in the background past :data:`GIVE_UP_WAIT`)."""
    manager = state.manager
    local = manager.runs.get(run_id)
    if local is not None and local.state != "ended":
        ended = asyncio.ensure_future(local.ended.wait())
        done, _ = await asyncio.wait({ended}, timeout=GIVE_UP_WAIT)
        if not done:
            later = getattr(state, "resume_later", None)
            if later is None:
                later = state.resume_later = set()
            task = asyncio.get_running_loop().create_task(_resume_after(state, local, ended))
            later.add(task)  # kept from the garbage collector until it is done
            task.add_done_callback(later.discard)
            return False
    return await _resume_waiting(state, run_id)


async def _resume_after(state: Any, local: Any, ended: asyncio.Future[Any]) -> None:
    await ended
    await _resume_waiting(state, local.run_id)


async def _resume_waiting(state: Any, run_id: str) -> bool:
    record = await asyncio.to_thread(state.store.get_run, run_id)
    if record.status != "waiting":
        return False
    try:
        await state.manager.resume(run_id)
    except ApiError as exc:  # another process took it, or it cannot be rebuilt here
        log.warning("delegate: run %s was answered but not resumed here: %s", run_id,
                    exc.message)
        return False
    return True
