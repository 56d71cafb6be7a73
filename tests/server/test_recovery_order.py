"""The runs a server carries on at start (their owner died) join its queue oldest first, the
order they were submitted in, as the live queue serves its runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from delegate.durable.store import open_store
from delegate.durable.store.base import RunRecord
from delegate.llm.scripted import ScriptedModel
from delegate.server import create_app
from tests.server._serve import AUTH, TOKEN, runtime_with
from tests.server.test_routes import _dead_owner, _ended

NAMES = ("alpha", "bravo", "charlie")  # submitted in this order


def test_runs_whose_owner_died_start_oldest_first(tmp_path):
    store_url = str(tmp_path / "runs.db")
    store = open_store(store_url)
    owner = _dead_owner()
    submitted = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    ids = {}
    for i, name in enumerate(NAMES):
        # the ids sort the other way round, so that neither id order nor the store's
        # newest-first listing gives the submission order
        ids[name] = f"{9 - i:x}{uuid.uuid4().hex[1:]}"
        store.create_run(RunRecord(
            run_id=ids[name], kind="general", objective=f"Owls-{name}",
            request={"command": "run", "objective": f"Owls-{name}", "workflow": "general",
                     "model": "scripted:owls"},
            created_at=submitted + timedelta(minutes=i)), owner)
    store.close()
    planned: list[str] = []

    def answer(call):
        if isinstance(call.output, dict):  # a run's first call: its plan
            planned.append(next(n for n in NAMES if f"Owls-{n}" in call.last_user))
            return {"tasks": [{"id": "t1", "worker": "researcher", "depends_on": [],
                               "instruction": "Find one fact."}]}
        return "Owls hunt at night."

    runtime = runtime_with(owls=ScriptedModel(function=answer))
    app = create_app(store_url, token=TOKEN, max_runs=1, runtime=runtime)
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=AUTH) as client:
        for name in NAMES:
            assert _ended(client, ids[name])["status"] == "succeeded"
    assert planned == list(NAMES)  # one run at a time (max_runs=1): the order they started
