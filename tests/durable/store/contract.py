"""The contract every :class:`~delegate.durable.store.base.RunStore` passes.

Subclass :class:`StoreContract` (as ``TestSomething``) and provide a ``store_url`` fixture: the
URL of a fresh, empty database that :func:`delegate.durable.store.open_store` opens. A store that
cannot be opened twice (an in-memory one) overrides the ``store`` fixture and returns ``None``
from ``store_url``; the tests that need a second instance or a second process then skip.
:class:`SqlStoreChecks` adds what only the SQL store promises (schema revisions, the tables,
the hit counter), reading the database through SQLAlchemy.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import traceback
from datetime import UTC
from urllib.parse import urlsplit

import pytest

from delegate.durable.store import ModelCallRecord, Owner, RunRecord, open_store
from delegate.durable.store.base import Batch
from delegate.errors import RunLocked, RunNotFound, StoreError

ALICE = Owner(token="tok-alice", host="alpha.example", pid=1111)
BOB = Owner(token="tok-bob", host="bravo.example", pid=2222)
CAROL = Owner(token="tok-carol", host="charlie.example", pid=3333)
HOUR = 3600.0
TRICKY = {  # JSON that a careless store changes on the way through
    "text": "héllo wörld ✓ 日本語 😀 \"quoted\" back\\slash\nnew line",
    "nested": {"list": [1, 2.5, None, True, False, "", [], {}], "deep": {"a": {"b": [{"c": 1}]}}},
    "float_one": 1.0,
    "big": 10**30,
    "negative": -7,
    "numeric_string": "5",
    "nul": "a\x00b",
}


def run_record(run_id: str, **fields) -> RunRecord:
    defaults = dict(kind="run", objective=f"objective of {run_id}",
                    request={"argv": ["run", run_id], "options": {"workers": 3}})
    return RunRecord(run_id=run_id, **{**defaults, **fields})


def call_record(seq: int, **fields) -> ModelCallRecord:
    defaults = dict(task_id=f"t{seq}", purpose="task", provider="scripted", model="m-1",
                    request_hash=f"{seq:064x}", request={"messages": [{"role": "user",
                                                                      "content": f"q{seq}"}]},
                    response={"text": f"a{seq}"}, prompt_tokens=10 + seq,
                    completion_tokens=20 + seq, latency_seconds=0.25 * seq, cost=0.001 * seq,
                    source="model")
    return ModelCallRecord(seq=seq, **{**defaults, **fields})


class StoreContract:
    """Behaviour every run store shares; subclasses provide ``store_url``."""

    @pytest.fixture
    def store(self, store_url):
        store = open_store(store_url)
        yield store
        store.close()

    @pytest.fixture
    def another(self, store_url):
        """Opens more stores on the same database (closed after the test)."""
        if store_url is None:
            pytest.skip("this store cannot be opened twice")
        opened = []

        def open_another():
            opened.append(open_store(store_url))
            return opened[-1]

        yield open_another
        for store in opened:
            store.close()

    # runs
    def test_create_then_get_round_trips(self, store):
        store.create_run(run_record("run-0001", kind="blog", objective="Write ✍️ about 日本",
                                    request=TRICKY, status="succeeded"), ALICE)
        run = store.get_run("run-0001")
        assert (run.run_id, run.kind, run.objective) == ("run-0001", "blog", "Write ✍️ about 日本")
        assert run.request == TRICKY and isinstance(run.request["float_one"], float)
        assert run.status == "running"  # a new run is running, whatever the record said
        assert run.owner == ALICE and run.result is None
        for moment in (run.created_at, run.updated_at, run.heartbeat_at):
            assert moment is not None and moment.utcoffset() == UTC.utcoffset(None)

    def test_unknown_run_is_not_found(self, store):
        with pytest.raises(RunNotFound):
            store.get_run("does-not-exist")

    def test_list_is_newest_first_and_limited(self, store):
        assert store.list_runs() == []
        for run_id in ("aaaa0001", "cccc0002", "bbbb0003"):
            store.create_run(run_record(run_id), ALICE)
        assert [r.run_id for r in store.list_runs()] == ["bbbb0003", "cccc0002", "aaaa0001"]
        assert [r.run_id for r in store.list_runs(limit=2)] == ["bbbb0003", "cccc0002"]
        assert store.list_runs()[0] == store.get_run("bbbb0003")

    def test_a_unique_prefix_finds_the_run(self, store):
        for run_id in ("abcd1234ef", "abcd5678ef", "f00dcafe99"):
            store.create_run(run_record(run_id), ALICE)
        assert store.get_run("f00d").run_id == "f00dcafe99"
        assert store.get_run("abcd12").run_id == "abcd1234ef"
        assert store.get_run("abcd5678ef").run_id == "abcd5678ef"

    def test_an_ambiguous_unknown_or_short_prefix_is_not_found(self, store):
        for run_id in ("abcd1234ef", "abcd5678ef", "f00dcafe99"):
            store.create_run(run_record(run_id), ALICE)
        with pytest.raises(RunNotFound, match="abcd"):
            store.get_run("abcd")
        with pytest.raises(RunNotFound):
            store.get_run("9999")
        with pytest.raises(RunNotFound):
            store.get_run("f00")  # unique, but shorter than 4 characters
        with pytest.raises(RunNotFound):
            store.get_run("f00dcafe99x")

    # ownership
    def test_claim_takes_a_free_run_and_returns_it_as_it_was(self, store):
        store.create_run(run_record("run-free"), ALICE)
        store.release("run-free", ALICE, status="cancelled")
        before = store.claim("run-free", BOB, stale_after=HOUR)
        assert before.owner is None and before.status == "cancelled"
        assert store.get_run("run-free").owner == BOB
        assert store.get_run("run-free").status == "running"  # owned again: running again

    def test_the_owner_may_claim_again(self, store):
        store.create_run(run_record("run-mine"), ALICE)
        assert store.claim("run-mine", ALICE, stale_after=HOUR).owner == ALICE
        assert store.get_run("run-mine").owner == ALICE

    def test_claim_is_refused_while_a_live_owner_holds_the_run(self, store):
        store.create_run(run_record("run-held"), ALICE)
        with pytest.raises(RunLocked) as refused:
            store.claim("run-held", BOB, stale_after=HOUR)
        assert "alpha.example" in str(refused.value) and "1111" in str(refused.value)
        assert "\n" not in str(refused.value)
        with pytest.raises(RunLocked):
            store.claim("run-held", BOB, stale_after=HOUR, dead=CAROL)  # not the owner
        assert store.get_run("run-held").owner == ALICE

    def test_claim_takes_over_from_a_dead_owner(self, store):
        store.create_run(run_record("run-dead"), ALICE)
        before = store.claim("run-dead", BOB, stale_after=HOUR, dead=ALICE)
        assert before.owner == ALICE
        assert store.get_run("run-dead").owner == BOB
        with pytest.raises(RunLocked):  # Bob is fresh and alive
            store.claim("run-dead", CAROL, stale_after=HOUR)

    def test_claim_takes_over_a_stale_heartbeat(self, store):
        store.create_run(run_record("run-stale"), ALICE)
        store.claim("run-stale", BOB, stale_after=0)  # any heartbeat is older than 0 s
        assert store.get_run("run-stale").owner == BOB
        with pytest.raises(RunLocked):
            store.claim("run-stale", CAROL, stale_after=HOUR)

    def test_claim_of_an_unknown_run_is_not_found(self, store):
        with pytest.raises(RunNotFound):
            store.claim("nope-nope", ALICE, stale_after=HOUR)

    def test_heartbeat_counts_for_the_owner_only(self, store):
        store.create_run(run_record("run-beat"), ALICE)
        first = store.get_run("run-beat").heartbeat_at
        store.heartbeat("run-beat", BOB)
        assert store.get_run("run-beat").heartbeat_at == first
        store.heartbeat("run-beat", ALICE)
        later = store.get_run("run-beat")
        assert later.heartbeat_at > first and later.owner == ALICE

    def test_release_sets_the_outcome_and_frees_the_run(self, store):
        store.create_run(run_record("run-done"), ALICE)
        store.release("run-done", BOB, status="failed", result={"by": "bob"})  # not the owner
        run = store.get_run("run-done")
        assert (run.status, run.result, run.owner) == ("running", None, ALICE)
        store.release("run-done", ALICE, status="partial", result=TRICKY)
        run = store.get_run("run-done")
        assert (run.status, run.result, run.owner) == ("partial", TRICKY, None)
        store.claim("run-done", BOB, stale_after=HOUR)
        store.release("run-done", BOB, status="succeeded")  # no result: the last one stays
        assert (store.get_run("run-done").status, store.get_run("run-done").result) == (
            "succeeded", TRICKY)

    # what a run is made of
    def test_plan_versions_in_order_and_replaced(self, store):
        store.create_run(run_record("run-plan"), ALICE)
        store.add_plan_version("run-plan", 2, {"tasks": ["b"]}, "replan", "task a failed")
        store.add_plan_version("run-plan", 1, {"tasks": ["a"]}, "initial", "")
        store.add_plan_version("run-plan", 2, {"tasks": ["b", "c"]}, "replan", "second try é")
        assert store.plan_versions("run-plan") == [
            {"version": 1, "plan": {"tasks": ["a"]}, "change": "initial", "reason": ""},
            {"version": 2, "plan": {"tasks": ["b", "c"]}, "change": "replan",
             "reason": "second try é"},
        ]

    def test_the_latest_outcome_of_each_task(self, store):
        store.create_run(run_record("run-out"), ALICE)
        store.save_outcome("run-out", "b", {"status": "failed", "attempts": 1})
        store.save_outcome("run-out", "a", TRICKY)
        store.save_outcome("run-out", "b", {"status": "succeeded", "attempts": 2})
        assert store.outcomes("run-out") == {"a": TRICKY,
                                             "b": {"status": "succeeded", "attempts": 2}}
        for scalar in (1.0, 10**30, "5", None):
            store.save_outcome("run-out", "scalar", scalar)
            stored = store.outcomes("run-out")["scalar"]
            assert stored == scalar and type(stored) is type(scalar)

    def test_model_calls_in_seq_order_with_every_field(self, store):
        store.create_run(run_record("run-calls"), ALICE)
        calls = [call_record(2, cost=None, source="cache"),
                 call_record(0, task_id="", purpose="plan", request=TRICKY, response=TRICKY),
                 call_record(1, provider="ローカル", model="smollm2 ✓", source="journal",
                             latency_seconds=1.5e-3, prompt_tokens=0, completion_tokens=0)]
        for call in calls:
            store.add_model_call("run-calls", call)
        stored = store.model_calls("run-calls")
        assert stored == sorted(calls, key=lambda c: c.seq)
        assert stored[2].cost is None and isinstance(stored[1].cost, float)
        assert isinstance(stored[0].response["float_one"], float)

    def test_events_in_seq_order(self, store):
        store.create_run(run_record("run-ev"), ALICE)
        store.add_event("run-ev", 1, "task_ended", {"task": "a", "ok": True})
        store.add_event("run-ev", 0, "run_started", TRICKY)
        store.add_event("run-ev", 2, "run_finished", {})
        assert store.events("run-ev") == [
            {"seq": 0, "kind": "run_started", "data": TRICKY},
            {"seq": 1, "kind": "task_ended", "data": {"task": "a", "ok": True}},
            {"seq": 2, "kind": "run_finished", "data": {}},
        ]

    def test_runs_keep_their_parts_apart(self, store):
        for run_id in ("run-one", "run-two"):
            store.create_run(run_record(run_id), ALICE)
        store.add_plan_version("run-one", 1, {}, "initial", "")
        store.save_outcome("run-one", "a", 1)
        store.add_model_call("run-one", call_record(0))
        store.add_event("run-one", 0, "run_started", {})
        assert store.plan_versions("run-two") == [] and store.outcomes("run-two") == {}
        assert store.model_calls("run-two") == [] and store.events("run-two") == []
        assert store.outcomes("run-one") == {"a": 1}

    # across runs
    def test_the_response_cache_keeps_the_first_entry(self, store):
        assert store.cache_get("k1") is None
        store.cache_put("k1", "local", "smollm2", TRICKY)
        store.cache_put("k1", "local", "smollm2", {"text": "a later answer"})
        assert store.cache_get("k1") == TRICKY
        assert store.cache_get("k1") == TRICKY
        assert store.cache_get("k2") is None

    # the owner's writes
    def test_a_batch_is_written_whole(self, store):
        store.create_run(run_record("run-batch"), ALICE)
        store.cache_put("seen", "p", "m", {"text": "old"})
        store.write("run-batch", ALICE, Batch(
            plans=[{"version": 1, "plan": {"tasks": ["a"]}, "change": "initial", "reason": ""}],
            outcomes=[("a", {"status": "failed"}), ("b", TRICKY), ("a", {"status": "ok"})],
            calls=[call_record(1), call_record(0)],
            events=[{"seq": 0, "kind": "run_started", "data": TRICKY},
                    {"seq": 1, "kind": "task_ended", "data": {}}],
            cache=[{"key": "new", "provider": "p", "model": "m", "response": TRICKY},
                   {"key": "seen", "provider": "p", "model": "m", "response": {"text": "x"}}],
            cache_hits=["seen"]))
        assert store.plan_versions("run-batch")[0]["plan"] == {"tasks": ["a"]}
        assert store.outcomes("run-batch") == {"a": {"status": "ok"}, "b": TRICKY}
        assert store.model_calls("run-batch") == [call_record(0), call_record(1)]
        assert [e["seq"] for e in store.events("run-batch")] == [0, 1]
        assert store.events("run-batch")[0]["data"] == TRICKY
        assert store.cache_get("new") == TRICKY
        assert store.cache_get("seen") == {"text": "old"}  # the first entry is kept
        run = store.get_run("run-batch")
        assert run.owner == ALICE and run.status == "running"

    def test_a_batch_can_create_the_run_and_release_it(self, store):
        store.write("run-whole", ALICE, Batch(
            create=run_record("run-whole"), events=[{"seq": 0, "kind": "k", "data": {}}],
            release={"status": "partial", "result": {"n": 2}}))
        run = store.get_run("run-whole")
        assert (run.status, run.result, run.owner) == ("partial", {"n": 2}, None)
        assert store.events("run-whole") == [{"seq": 0, "kind": "k", "data": {}}]

    def test_an_empty_batch_is_a_heartbeat(self, store):
        store.create_run(run_record("run-alive"), ALICE)
        first = store.get_run("run-alive").heartbeat_at
        store.write("run-alive", ALICE, Batch())
        assert store.get_run("run-alive").heartbeat_at > first

    def test_a_taken_over_run_refuses_the_old_owners_writes(self, store):
        store.create_run(run_record("run-fenced"), ALICE)
        store.write("run-fenced", ALICE, Batch(events=[{"seq": 0, "kind": "k", "data": {}}]))
        store.claim("run-fenced", BOB, stale_after=0)  # Alice's heartbeat went stale
        for batch in (Batch(), Batch(events=[{"seq": 1, "kind": "k", "data": {}}],
                                     outcomes=[("a", {"by": "alice"})], calls=[call_record(0)],
                                     release={"status": "succeeded", "result": None})):
            with pytest.raises(StoreError, match="taken over by process 2222 on bravo") as err:
                store.write("run-fenced", ALICE, batch)
            assert "\n" not in str(err.value)
        assert [e["seq"] for e in store.events("run-fenced")] == [0]
        assert store.outcomes("run-fenced") == {} and store.model_calls("run-fenced") == []
        run = store.get_run("run-fenced")
        assert (run.owner, run.status) == (BOB, "running")
        store.write("run-fenced", BOB, Batch(release={"status": "failed", "result": None}))
        with pytest.raises(StoreError, match="no longer owned"):
            store.write("run-fenced", BOB, Batch())

    def test_a_batch_for_an_unknown_run_is_not_found(self, store):
        with pytest.raises(RunNotFound):
            store.write("ghost-run", ALICE, Batch(events=[{"seq": 0, "kind": "k", "data": {}}]))

    def test_a_cache_read_that_is_not_counted(self, store):
        store.cache_put("k", "p", "m", {"text": "x"})
        assert store.cache_get("k", count=False) == {"text": "x"}
        assert store.cache_get("missing", count=False) is None

    # several instances and processes
    def test_a_second_instance_sees_the_first_ones_writes(self, store, another):
        store.create_run(run_record("run-shared"), ALICE)
        store.add_plan_version("run-shared", 1, {"tasks": []}, "initial", "")
        store.save_outcome("run-shared", "a", {"ok": True})
        store.add_model_call("run-shared", call_record(0))
        store.add_event("run-shared", 0, "run_started", {})
        store.cache_put("key", "p", "m", {"text": "cached"})
        other = another()
        assert other.get_run("run-shared") == store.get_run("run-shared")
        assert other.plan_versions("run-shared")[0]["change"] == "initial"
        assert other.outcomes("run-shared") == {"a": {"ok": True}}
        assert other.model_calls("run-shared") == [call_record(0)]
        assert other.events("run-shared") == [{"seq": 0, "kind": "run_started", "data": {}}]
        assert other.cache_get("key") == {"text": "cached"}
        with pytest.raises(RunLocked):
            other.claim("run-shared", BOB, stale_after=HOUR)
        other.release("run-shared", ALICE, status="succeeded", result={"n": 1})
        assert store.get_run("run-shared").result == {"n": 1}

    def test_concurrent_claims_from_processes_have_one_winner(self, store, store_url):
        if store_url is None:
            pytest.skip("this store cannot be shared between processes")
        run_ids = [f"race{i:04d}" for i in range(6)]
        for run_id in run_ids:
            store.create_run(run_record(run_id), ALICE)
            store.release(run_id, ALICE, status="cancelled")  # free for anyone
        contenders = 3
        context = multiprocessing.get_context("spawn")
        barrier, results = context.Barrier(contenders), context.Queue()
        workers = [context.Process(target=claim_in_a_process,
                                   args=(store_url, run_ids, f"tok-{n}", barrier, results))
                   for n in range(contenders)]
        for worker in workers:
            worker.start()
        try:
            outcomes = [results.get(timeout=120) for _ in range(contenders * len(run_ids))]
        except queue.Empty:
            pytest.fail("a claiming process did not report")
        finally:
            for worker in workers:
                worker.join(timeout=60)
        errors = [o for o in outcomes if o[2] not in ("won", "locked")]
        assert errors == []
        for run_id in run_ids:
            winners = [token for rid, token, verdict in outcomes
                       if rid == run_id and verdict == "won"]
            assert len(winners) == 1, (run_id, outcomes)
            assert store.get_run(run_id).owner.token == winners[0]

    def test_processes_opening_a_new_database_at_once_all_succeed(self, store_url, another):
        contenders = 3
        context = multiprocessing.get_context("spawn")
        barrier, results = context.Barrier(contenders), context.Queue()
        workers = [context.Process(target=open_in_a_process,
                                   args=(store_url, f"run-opened-{n}", barrier, results))
                   for n in range(contenders)]
        for worker in workers:
            worker.start()
        try:
            reports = sorted(results.get(timeout=120) for _ in range(contenders))
        except queue.Empty:
            pytest.fail("an opening process did not report")
        finally:
            for worker in workers:
                worker.join(timeout=60)
        assert reports == [f"run-opened-{n}" for n in range(contenders)]
        assert sorted(r.run_id for r in another().list_runs()) == reports


def open_in_a_process(url, run_id, barrier, results) -> None:
    """Open a store the moment every contender is ready, and write one run."""
    try:
        barrier.wait(timeout=60)
        store = open_store(url)
        try:
            store.create_run(run_record(run_id), Owner(run_id, "opener", os.getpid()))
        finally:
            store.close()
        results.put(run_id)
    except Exception:
        results.put(traceback.format_exc())


def claim_in_a_process(url, run_ids, token, barrier, results) -> None:
    """One contender: open the store, then claim each run the moment all contenders are ready."""
    try:
        store = open_store(url)
    except Exception:
        barrier.abort()
        results.put(("open", token, traceback.format_exc()))
        return
    try:
        for run_id in run_ids:
            barrier.wait(timeout=60)
            try:
                store.claim(run_id, Owner(token, "racer", os.getpid()), stale_after=HOUR)
                results.put((run_id, token, "won"))
            except RunLocked:
                results.put((run_id, token, "locked"))
            except Exception:
                results.put((run_id, token, traceback.format_exc()))
    finally:
        store.close()


class SqlStoreChecks:
    """What the SQL store adds to the contract; needs ``store_url`` (a SQLAlchemy-able URL)."""

    @pytest.fixture
    def database(self, store_url):
        """A plain SQLAlchemy engine on the store's database."""
        import sqlalchemy

        from delegate.durable.store import normalize_url

        engine = sqlalchemy.create_engine(normalize_url(store_url))
        yield engine
        engine.dispose()

    @staticmethod
    def head() -> str:
        from pathlib import Path

        from alembic.script import ScriptDirectory

        import delegate.durable.store

        migrations = Path(delegate.durable.store.__file__).with_name("migrations")
        return ScriptDirectory(str(migrations)).get_current_head()

    def test_schema_version_is_the_newest_migration(self, store):
        assert self.head() == "0002"
        assert store.schema_version() == self.head()

    def test_the_tables_match_the_migrations(self, store, database):
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        from delegate.durable.store._tables import metadata

        def compare_type(_context, _column, _meta_column, inspected, declared):
            if database.dialect.name == "sqlite" and type(declared).__name__ == "JSON":
                return type(inspected).__name__ != "TEXT"  # JSON is stored as TEXT there
            return None

        with database.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": compare_type})
            assert compare_metadata(context, metadata) == []

    def test_a_database_from_a_newer_delegate_is_refused(self, store, store_url, database):
        import sqlalchemy

        with database.begin() as conn:
            conn.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(StoreError, match="newer delegate"):
            open_store(store_url)

    def test_cache_hits_are_counted(self, store, database):
        import sqlalchemy

        store.cache_put("hit-me", "p", "m", {"text": "x"})
        assert store.cache_get("missing") is None
        for _ in range(3):
            store.cache_get("hit-me")
        with database.connect() as conn:
            rows = conn.execute(sqlalchemy.text("SELECT key, hits FROM response_cache")).all()
        assert [tuple(row) for row in rows] == [("hit-me", 3)]

    def test_uncounted_reads_are_not_hits(self, store, database):
        import sqlalchemy

        store.cache_put("quiet", "p", "m", {"text": "x"})
        store.cache_get("quiet", count=False)
        store.cache_get("quiet")
        with database.connect() as conn:
            hits = conn.execute(sqlalchemy.text("SELECT hits FROM response_cache")).scalar()
        assert hits == 1

    def test_a_failing_batch_writes_nothing(self, store):
        store.create_run(run_record("run-atomic"), ALICE)
        store.add_event("run-atomic", 0, "k", {})
        with pytest.raises(StoreError, match="run-atomic"):
            store.write("run-atomic", ALICE, Batch(
                outcomes=[("a", {"status": "ok"})], calls=[call_record(0)],
                events=[{"seq": 1, "kind": "k", "data": {}}, {"seq": 0, "kind": "dup", "data": {}}],
                release={"status": "succeeded", "result": None}))
        assert store.outcomes("run-atomic") == {} and store.model_calls("run-atomic") == []
        assert [e["kind"] for e in store.events("run-atomic")] == ["k"]
        assert store.get_run("run-atomic").owner == ALICE

    def test_parts_of_an_unknown_run_are_refused(self, store):
        with pytest.raises(RunNotFound):
            store.add_event("ghost-run", 0, "run_started", {})
        with pytest.raises(RunNotFound):
            store.save_outcome("ghost-run", "a", {})
        with pytest.raises(RunNotFound):
            store.add_model_call("ghost-run", call_record(0))

    def test_duplicates_are_store_errors(self, store):
        store.create_run(run_record("run-dup"), ALICE)
        with pytest.raises(StoreError, match="run-dup"):
            store.create_run(run_record("run-dup"), BOB)
        store.add_event("run-dup", 0, "run_started", {})
        with pytest.raises(StoreError):
            store.add_event("run-dup", 0, "run_started", {})
        assert store.get_run("run-dup").owner == ALICE

    def test_repr_hides_the_password(self, store, store_url):
        password = urlsplit(store_url).password
        assert repr(store).startswith("SqlStore(")
        if password:
            assert password not in repr(store) and ":***@" in repr(store)
