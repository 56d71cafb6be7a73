"""The REST API (see the README's ``delegate serve`` section; names after LangChain's Agent
Protocol where they fit). Every route reads the store, or the server's
:class:`~delegate.server.manager.RunManager`, from ``request.app.state``."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from .._version import __version__
from ..durable.export import export
from ..durable.store.base import decode_cursor, encode_cursor
from ..errors import UsageError
from .errors import ApiError
from .launch import SERVED, RunBody, input_schema, to_request
from .stream import KEEP_ALIVE, run_events
from .views import run_detail, summaries

__all__ = ["router"]

router = APIRouter(prefix="/api")

#: The highest event sequence number a client may name (a store's integers are 64-bit).
MAX_SEQ = 2**62
#: How many stored pages one list request reads at most to fill a page filtered by a status
#: the store does not keep (``queued``, ``interrupted``: what this server says of a run); a
#: page cut short by it still has ``next_cursor`` when there is more.
_FILTER_BATCHES = 20
#: How many Idempotency-Keys the server remembers (in memory, for this process).
IDEMPOTENCY_KEYS = 10_000
_STATUSES = ("queued", "running", "interrupted", "waiting", "succeeded", "partial", "failed",
             "cancelled")


def _state(request: Request) -> Any:
    return request.app.state


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Whether the server is up, its store, and its runs in hand."""
    state = _state(request)
    manager = state.manager
    return {"status": "ok", "version": __version__, "store": state.store_kind,
            "active": manager.running, "queued": manager.queued, "max_runs": manager.max_runs}


@router.get("/workflows")
async def workflows() -> dict[str, Any]:
    """The workflows a run may ask for, each with the JSON Schema of its body."""
    return {"workflows": [{"name": name, "summary": summary, "input_schema": input_schema(name)}
                          for name, summary in SERVED.items()]}


async def _submit(request: Request, body: RunBody, key: str | None) -> tuple[int, dict]:
    state = _state(request)
    manager = state.manager
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    if key is not None:
        if len(key) > 200:
            raise ApiError(422, "invalid_request", "Idempotency-Key: at most 200 characters")
        seen = state.idempotency.get(key)
        if seen is not None:
            if seen[0] != digest:
                raise ApiError(409, "conflict", "this Idempotency-Key was used for another "
                               "request")
            return 200, seen[1]
    try:
        run_request = to_request(body)
        state.runtime.model(run_request.model)  # an unknown provider or a missing key: now
    except UsageError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    objective = body.query if body.workflow == "recommend" else body.objective
    run = await manager.submit(run_request, kind=body.workflow, objective=objective or "")
    answer = {"run_id": run.run_id, "status": run.state, "url": f"/api/runs/{run.run_id}"}
    if key is not None:
        if len(state.idempotency) >= IDEMPOTENCY_KEYS:  # the oldest key is forgotten first
            del state.idempotency[next(iter(state.idempotency))]
        state.idempotency[key] = (digest, answer)
    return 202, answer


@router.post("/runs", status_code=202)
async def start_run(request: Request, body: RunBody,
                    idempotency_key: Annotated[str | None, Header()] = None) -> JSONResponse:
    """Start a run (queued when ``max_runs`` are running); 202 with its id. The same
    ``Idempotency-Key`` and body again answers the same run (200)."""
    status, answer = await _submit(request, body, idempotency_key)
    return JSONResponse(answer, status_code=status)


@router.post("/runs/wait")
async def start_run_and_wait(request: Request, body: RunBody,
                             idempotency_key: Annotated[str | None, Header()] = None,
                             ) -> dict[str, Any]:
    """Start a run and answer when it has ended, with the run (as ``GET /api/runs/{id}``)."""
    _, answer = await _submit(request, body, idempotency_key)
    state = _state(request)
    run = state.manager.runs.get(answer["run_id"])
    if run is not None:
        await run.ended.wait()
    return await asyncio.to_thread(run_detail, state.store, state.manager, answer["run_id"])


@router.get("/runs")
async def list_runs(request: Request,
                    status: Annotated[str | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 20,
                    cursor: Annotated[str | None, Query(max_length=300)] = None,
                    ) -> dict[str, Any]:
    """Stored runs, newest first, ``limit`` a page; ``next_cursor`` reads the next page."""
    if status is not None and status not in _STATUSES:
        raise ApiError(422, "invalid_request",
                       f"status: one of {', '.join(_STATUSES)}, not {status[:40]!r}")
    try:
        before = decode_cursor(cursor) if cursor else None
    except UsageError as exc:
        raise ApiError(422, "invalid_request", f"cursor: {exc}") from None
    state = _state(request)
    stored = "running" if status in ("queued", "interrupted") else status
    runs: list[dict[str, Any]] = []
    last = None  # the record the next page starts after
    for _ in range(_FILTER_BATCHES):
        records = await asyncio.to_thread(state.store.list_runs, limit + 1, status=stored,
                                          before=before)
        more = len(records) > limit
        records = records[:limit]
        page = await asyncio.to_thread(summaries, state.store, state.manager, records)
        for n, (record, summary) in enumerate(zip(records, page, strict=True)):
            last = record
            if status is None or summary["status"] == status:
                runs.append(summary)
                if len(runs) == limit:
                    more = more or n < len(records) - 1
                    break
        if len(runs) == limit or not more:
            break
        before = decode_cursor(encode_cursor(last))
    return {"runs": runs, "next_cursor": encode_cursor(last) if more and last else None}


@router.get("/runs/{run_id}")
async def get_run(request: Request, run_id: str) -> dict[str, Any]:
    """One run: its summary, plan and versions, outcomes, result and request."""
    state = _state(request)
    return await asyncio.to_thread(run_detail, state.store, state.manager, run_id)


@router.get("/runs/{run_id}/events")
async def get_events(request: Request, run_id: str,
                     after: Annotated[int | None, Query(ge=-1, le=MAX_SEQ)] = None,
                     limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000) -> dict[str, Any]:
    """The run's stored events after ``after``, oldest first."""
    store = _state(request).store
    record = await asyncio.to_thread(store.get_run, run_id)
    events = await asyncio.to_thread(store.events, record.run_id, after=after, limit=limit)
    return {"events": events, "last_seq": events[-1]["seq"] if events else after}


@router.get("/runs/{run_id}/stream")
async def stream(request: Request, run_id: str,
                 after: Annotated[int | None, Query(ge=-1, le=MAX_SEQ)] = None,
                 last_event_id: Annotated[str | None, Header()] = None) -> EventSourceResponse:
    """The run's events as Server-Sent Events (see :mod:`delegate.server.stream`)."""
    state = _state(request)
    record = await asyncio.to_thread(state.store.get_run, run_id)
    if last_event_id is not None:
        try:
            after = int(last_event_id)
        except ValueError:
            after = None
        if after is None or not -1 <= after <= MAX_SEQ:
            raise ApiError(422, "invalid_request",
                           "Last-Event-ID: an event's sequence number") from None
    return EventSourceResponse(
        run_events(state.store, state.manager, record.run_id, after), ping=KEEP_ALIVE,
        ping_message_factory=lambda: ServerSentEvent(comment="keep-alive"),
        headers={"Cache-Control": "no-store"})


@router.post("/runs/{run_id}/cancel", status_code=202)
async def cancel(request: Request, run_id: str) -> dict[str, Any]:
    """Cancel a run this server holds (queued or running)."""
    state = _state(request)
    record = await asyncio.to_thread(state.store.get_run, run_id)
    state.manager.cancel(record.run_id)
    return {"run_id": record.run_id, "status": "cancelling"}


@router.post("/runs/{run_id}/resume", status_code=202)
async def resume(request: Request, run_id: str) -> dict[str, Any]:
    """Carry on a stored run that did not finish, here."""
    run = await _state(request).manager.resume(run_id)
    return {"run_id": run.run_id, "status": run.state, "url": f"/api/runs/{run.run_id}"}


@router.get("/runs/{run_id}/report", response_class=HTMLResponse)
async def report(request: Request, run_id: str) -> HTMLResponse:
    """The run's HTML report, as ``delegate runs report`` writes it."""
    from ..observe.report.html import render_report

    data = await asyncio.to_thread(export, _state(request).store, run_id)
    return HTMLResponse(render_report(data), headers={"Cache-Control": "no-store"})


@router.get("/runs/{run_id}/export")
async def export_run(request: Request, run_id: str) -> JSONResponse:
    """Everything stored about the run."""
    data = await asyncio.to_thread(export, _state(request).store, run_id)
    return JSONResponse(json.loads(json.dumps(data, default=str)))


@router.get("/runs/{run_id}/graph")
async def graph(request: Request, run_id: str) -> dict[str, Any]:
    """The plan drawn by the HTML report's layout code, each node marked with its task id
    (one lane per worker above 300 tasks)."""
    from ..observe.report.svg import graph_svg

    detail = await asyncio.to_thread(run_detail, _state(request).store,
                                     _state(request).manager, run_id)
    tasks = list((detail["plan"] or {}).get("tasks") or ())
    status = {tid: o.get("status", "") for tid, o in detail["outcomes"].items()}
    svg, lanes = graph_svg(tasks, status)
    return {"svg": svg, "lanes": lanes}
