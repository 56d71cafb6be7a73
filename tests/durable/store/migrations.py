"""Upgrading a store an older delegate left behind: a database at an earlier revision opens,
migrates to the newest one and keeps its runs. Mixed into the SQL store test classes (it needs
``store_url``, a fresh, empty database)."""

from __future__ import annotations

from datetime import UTC, datetime

from delegate.durable.store import normalize_url, open_store

from .contract import ALICE
from .interrupts import plan_question


def build_at(store_url: str, revision: str) -> None:
    """Migrate the empty database at ``store_url`` to ``revision`` only, and write one run
    with an event into it, as a delegate of that revision would have."""
    import sqlalchemy
    from alembic import command

    from delegate.durable.store import _engine
    from delegate.durable.store._tables import events, runs

    engine = _engine.connect(normalize_url(store_url))
    try:
        with _engine.writer(engine).begin() as conn:
            command.upgrade(_engine._alembic_config(conn), revision)
        at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
        with _engine.writer(engine).begin() as conn:
            conn.execute(runs.insert().values(
                id="run-old", kind="run", objective="from before", request={"argv": ["run"]},
                status="succeeded", created_at=at, updated_at=at, result={"text": "done"}))
            conn.execute(events.insert().values(run_id="run-old", seq=0, kind="run_started",
                                                data={"objective": "from before"}))
            tables = set(sqlalchemy.inspect(conn).get_table_names())
        assert "runs" in tables and "interrupts" not in tables
    finally:
        engine.dispose()


class MigrationChecks:
    def test_a_store_at_0001_migrates_with_its_runs(self, store_url):
        build_at(store_url, "0001")
        store = open_store(store_url)
        try:
            assert store.schema_version() == "0002"
            old = store.get_run("run-old")
            assert (old.objective, old.status, old.result, old.owner) == (
                "from before", "succeeded", {"text": "done"}, None)
            assert old.created_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
            assert store.events("run-old") == [
                {"seq": 0, "kind": "run_started", "data": {"objective": "from before"}}]
            store.claim("run-old", ALICE, stale_after=60.0)
            assert store.add_interrupt("run-old", plan_question())["status"] == "pending"
            assert store.interrupts("run-old")[0]["interrupt_id"] == "plan:1"
        finally:
            store.close()
        reopened = open_store(store_url)  # already at head: opens without migrating
        try:
            assert reopened.get_interrupt("run-old", "plan:1")["kind"] == "plan_approval"
        finally:
            reopened.close()
