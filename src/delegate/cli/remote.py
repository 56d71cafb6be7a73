"""``delegate runs list|show|cancel|follow --server URL``: the runs of a ``delegate serve``
server, through :class:`delegate.client.Client`.

``list`` and ``show`` print what they print from a store (:mod:`delegate.cli.listing`), from
the server's answers. ``cancel`` asks the server to stop a run it is running. ``follow``
prints one line per event of the run as it happens (replayed from the start, then live) and
exits 0 if the run succeeded, 3 if it stopped to wait for an answer (the line on stderr says
where to give it), 1 if it ended any other way. A lost stream is one line on stderr, and one
more when the server is back; ``follow`` gives up (exit 1) when no server has answered for
:data:`PATIENCE` seconds. The token is ``--token``, else ``DELEGATE_TOKEN``.

``--server`` is the server's address alone (``http://HOST:PORT``, or the address ``delegate
serve`` prints with its ``?token=``): a URL with a path is refused before any request, and so
is a run id that cannot be one (empty, or a path). An error answer from the server is one
line: exit code 2 for a request the server refused (a 4xx: an unknown run, a wrong token, a
run not active), 1 otherwise (unreachable, 5xx).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from ..errors import ServerError, UsageError
from .listing import print_run, print_runs
from .workflows import WAITING

__all__ = ["PATIENCE", "event_line", "remote_command"]

#: Seconds ``follow`` goes on trying to reach a server that went away before it gives up.
PATIENCE = 30.0


def remote_command(args: argparse.Namespace) -> int:
    """Run ``args.verb`` against the server of ``args.server``."""
    from ..client import Client

    if args.server is None:
        raise UsageError(f"delegate runs {args.verb} needs --server URL: only the server "
                         "running a run can act on it")
    if getattr(args, "store", None) is not None:
        raise UsageError("--store and --server do not go together: the server reads its own "
                         "store")
    parts = urlsplit(args.server.strip())
    if parts.scheme in ("http", "https") and parts.netloc and parts.path not in ("", "/"):
        raise UsageError(f"--server takes the server's address, like http://127.0.0.1:8765, "
                         f"not a page of it: {args.server!r}")
    token = args.token or os.environ.get("DELEGATE_TOKEN") or None
    with Client(args.server, token) as client:
        if args.verb == "list":
            if args.limit < 1:
                raise UsageError("--limit must be at least 1")
            print_runs(_newest(client, args.limit), as_json=args.json)
            return 0
        if args.verb == "show":
            print_run(client.export(args.run_id), as_json=args.json)
            return 0
        if args.verb == "cancel":
            answer = client.cancel(args.run_id)
            if args.json:
                print(json.dumps(answer, indent=2, ensure_ascii=False))
            else:
                print(f"delegate: run {answer.get('run_id', args.run_id)} is "
                      f"{answer.get('status', 'cancelling')}", file=sys.stderr)
            return 0
        return _follow(client, args.run_id)


def _newest(client: Any, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` runs, over as many pages as the server hands them out in."""
    runs: list[dict[str, Any]] = []
    cursor = None
    while len(runs) < limit:
        page = client.runs(limit=limit - len(runs), cursor=cursor)
        runs += page.get("runs", [])
        cursor = page.get("next_cursor")
        if not cursor or not page.get("runs"):
            break
    return runs[:limit]


def _follow(client: Any, run_id: str) -> int:
    again = f"delegate runs follow {run_id} --server {client.url}"
    status = None
    try:
        for event in client.follow(
                run_id, patience=PATIENCE,
                on_lost=lambda reason: _say("the server went away; reconnecting (Ctrl-C to "
                                            "stop)"),
                on_back=lambda: _say(f"the server is back; following run {run_id} again")):
            if event["kind"] == "end":
                status = event["data"].get("status")
                break
            print(event_line(event), flush=True)
    except KeyboardInterrupt:
        print(f"delegate: stopped following run {run_id}; it goes on on the server",
              file=sys.stderr)
        return 130
    except ServerError as exc:
        if exc.code != "connection_lost":
            raise
        raise ServerError(f"{exc}; when the server is back: {again}", code=exc.code,
                          status=exc.status) from None
    if status == "waiting":
        _say(_waiting(client, run_id, again))
        return WAITING
    print(f"delegate: run {run_id} ended: {status}", file=sys.stderr)
    return 0 if status == "succeeded" else 1


def _say(line: str) -> None:
    print(f"delegate: {line}", file=sys.stderr, flush=True)


def _waiting(client: Any, run_id: str, again: str) -> str:
    """The line for a run that waits for an answer: its questions (when the server lists
    them) and where to answer them; the server carries the run on once they are answered."""
    try:
        pending = [r for r in client.interrupts(run_id).get("interrupts", [])
                   if isinstance(r, dict) and r.get("status") == "pending"]
    except ServerError:
        pending = []
    run_id = next((str(r["run_id"]) for r in pending if r.get("run_id")), run_id)
    ids = [str(r.get("interrupt_id")) for r in pending]
    api = f"{client.url}/api/runs/{quote(run_id, safe='')}/interrupts"
    asked = ", ".join(f"{i} ({str(r.get('kind', 'question')).replace('_', ' ')})"
                      for i, r in zip(ids, pending, strict=True))
    where = f"POST {api}/{quote(ids[0], safe=':')}" if len(ids) == 1 else \
        f"POST {api}/ID (GET {api} lists them)"
    body = "" if not pending or any(r.get("kind") == "question" for r in pending) else \
        ' with {"action": "approve"} (or "reject" and a "reason")'
    return (f"run {run_id} is waiting for an answer" + (f" to {asked}" if asked else "")
            + f"; answer on the dashboard, {client.url}/#/runs/{run_id}, or with {where}"
            + f"{body}; the server carries the run on once it is answered (follow it: "
            + f"{again})")


def event_line(event: dict[str, Any]) -> str:
    """One progress line for a stored event: its time, kind, task and worker, and its status
    and error where it has them (a task's outcome, a run's result)."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    outcome = data.get("outcome") if isinstance(data.get("outcome"), dict) else {}
    result = data.get("result") if isinstance(data.get("result"), dict) else {}
    at = data.get("at")
    clock = (datetime.fromtimestamp(at).strftime("%H:%M:%S")
             if isinstance(at, int | float) else "--:--:--")
    task = data.get("task_id") or outcome.get("task_id")
    worker = data.get("worker") or outcome.get("worker")
    status = outcome.get("status") or result.get("status") or data.get("status")
    error = data.get("error") or outcome.get("error") or result.get("error")
    parts = [clock, f"{event.get('kind', '?'):<17}"]
    if task:
        parts.append(str(task) + (f" [{worker}]" if worker else ""))
    elif worker:
        parts.append(f"[{worker}]")
    if status:
        parts.append(str(status))
    line = " ".join(parts)
    if error:
        text = " ".join(str(error).split())
        line += ": " + (text if len(text) <= 200 else text[:199] + "…")
    return line.rstrip()
