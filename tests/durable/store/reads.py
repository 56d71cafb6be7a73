"""The contract of the store's reads for a server: events paged by ``seq``, the last event's
``seq``, runs paged newest first with a cursor and filtered by status, and the task and usage
figures of many runs at once.

Mixed into every store's test class beside :class:`~tests.durable.store.contract.StoreContract`,
whose ``store`` fixture it uses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from delegate.durable.store.base import Batch, decode_cursor, encode_cursor
from delegate.errors import UsageError

from .contract import ALICE, BOB, TRICKY, call_record, run_record

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def seqs(events: list[dict]) -> list[int]:
    return [event["seq"] for event in events]


def ids(runs) -> list[str]:
    return [run.run_id for run in runs]


def pages(store, limit: int, **filters) -> list[list[str]]:
    """Every page of ``list_runs``, following the cursor until a page comes back short."""
    found, before = [], None
    while len(found) < 20:  # a cursor that does not move on would page forever
        page = store.list_runs(limit, before=before, **filters)
        found.append(ids(page))
        if len(page) < limit:
            break
        before = decode_cursor(encode_cursor(page[-1]))
    return found


class ReadContract:
    """Reads every store shares; needs the ``store`` fixture of ``StoreContract``."""

    # events
    def test_events_after_a_seq_oldest_first_and_limited(self, store):
        for run_id in ("run-page", "run-else"):
            store.create_run(run_record(run_id), ALICE)
        for seq in (3, 0, 4, 1, 2):
            store.add_event("run-page", seq, f"k{seq}", {"n": seq})
        store.add_event("run-else", 5, "other", {})
        assert seqs(store.events("run-page")) == [0, 1, 2, 3, 4]
        assert store.events("run-page", after=1) == [
            {"seq": s, "kind": f"k{s}", "data": {"n": s}} for s in (2, 3, 4)]
        assert seqs(store.events("run-page", after=1, limit=2)) == [2, 3]
        assert seqs(store.events("run-page", limit=2)) == [0, 1]
        assert seqs(store.events("run-page", after=-1)) == [0, 1, 2, 3, 4]
        assert store.events("run-page", after=4) == []
        assert store.events("run-page", after=0, limit=0) == []
        assert store.events("run-page", 2, 1) == [{"seq": 3, "kind": "k3", "data": {"n": 3}}]
        assert store.events("no-such-run", after=0) == []

    def test_paging_events_reads_each_once(self, store):
        store.create_run(run_record("run-walk"), ALICE)
        store.write("run-walk", ALICE, Batch(events=[
            {"seq": s, "kind": "k", "data": TRICKY if s == 6 else {}} for s in range(7)]))
        read, after = [], None
        while page := store.events("run-walk", after=after, limit=3):
            read += page
            after = page[-1]["seq"]
        assert seqs(read) == list(range(7)) and read[6]["data"] == TRICKY

    def test_a_negative_event_limit_is_a_usage_error(self, store):
        store.create_run(run_record("run-neg"), ALICE)
        with pytest.raises(UsageError, match="-1"):
            store.events("run-neg", limit=-1)

    def test_last_event_seq(self, store):
        for run_id in ("run-last", "run-quiet"):
            store.create_run(run_record(run_id), ALICE)
        assert store.last_event_seq("run-last") is None
        for seq in (0, 5, 2):
            store.add_event("run-last", seq, "k", {})
        store.add_event("run-quiet", 0, "k", {})  # another run's events do not count
        store.write("run-quiet", ALICE, Batch(events=[{"seq": 9, "kind": "k", "data": {}}]))
        assert store.last_event_seq("run-last") == 5
        assert store.last_event_seq("run-quiet") == 9
        assert store.last_event_seq("no-such-run") is None

    # runs
    def test_list_runs_keeps_its_positional_limit(self, store):
        for n in range(3):
            store.create_run(run_record(f"run-pos{n}", created_at=T0 + timedelta(seconds=n)),
                             ALICE)
        assert ids(store.list_runs(2)) == ["run-pos2", "run-pos1"]
        assert store.list_runs(0) == []
        with pytest.raises(UsageError):
            store.list_runs(-1)

    def test_pages_of_runs_follow_the_cursor_newest_first(self, store):
        # three runs share a created_at: their ids order them (descending)
        times = {"run-a": T0, "run-b": T0 + timedelta(microseconds=1), "run-c": T0,
                 "run-d": T0 - timedelta(days=1), "run-e": T0, "run-f": T0 + timedelta(hours=1)}
        for run_id, created in times.items():
            store.create_run(run_record(run_id, created_at=created), ALICE)
        newest = ["run-f", "run-b", "run-e", "run-c", "run-a", "run-d"]
        assert ids(store.list_runs(10)) == newest
        assert store.list_runs(10)[1].created_at == times["run-b"]
        assert pages(store, 2) == [newest[0:2], newest[2:4], newest[4:6], []]
        assert pages(store, 4) == [newest[0:4], newest[4:6]]
        assert pages(store, 1) == [[run_id] for run_id in newest] + [[]]

    def test_a_page_is_not_shifted_by_newer_runs(self, store):
        for n in range(4):
            store.create_run(run_record(f"run-old{n}", created_at=T0 + timedelta(seconds=n)),
                             ALICE)
        first = store.list_runs(2)
        store.create_run(run_record("run-newer", created_at=T0 + timedelta(days=1)), BOB)
        rest = store.list_runs(2, before=decode_cursor(encode_cursor(first[-1])))
        assert ids(first) + ids(rest) == ["run-old3", "run-old2", "run-old1", "run-old0"]

    def test_runs_filtered_by_their_stored_status(self, store):
        ended = {"run-s1": "succeeded", "run-p1": "partial", "run-s2": "succeeded",
                 "run-f1": "failed"}
        for n, run_id in enumerate([*ended, "run-r1", "run-r2"]):
            store.create_run(run_record(run_id, created_at=T0 + timedelta(seconds=n)), ALICE)
        for run_id, status in ended.items():
            store.release(run_id, ALICE, status=status)
        assert ids(store.list_runs(status="succeeded")) == ["run-s2", "run-s1"]
        assert ids(store.list_runs(status="running")) == ["run-r2", "run-r1"]
        assert ids(store.list_runs(status="failed")) == ["run-f1"]
        assert store.list_runs(status="interrupted") == []  # never stored: worked out later
        assert pages(store, 1, status="succeeded") == [["run-s2"], ["run-s1"], []]
        everything = store.list_runs(status=None)
        assert len(everything) == 6 and all(r.status in ("succeeded", "partial", "failed",
                                                         "running") for r in everything)

    def test_a_cursor_holds_the_run_it_was_made_from(self, store):
        store.create_run(run_record("run-cursor", created_at=T0), ALICE)
        run = store.get_run("run-cursor")
        assert decode_cursor(encode_cursor(run)) == (T0, "run-cursor")

    # usage figures
    def test_run_stats_count_tasks_and_real_calls(self, store):
        for run_id in ("run-st1", "run-st2", "run-st3"):
            store.create_run(run_record(run_id), ALICE)
        for task, status in [("a", "succeeded"), ("b", "failed"), ("c", "succeeded"),
                             ("d", "skipped")]:
            store.save_outcome("run-st1", task, {"status": status, "attempts": 1})
        store.save_outcome("run-st1", "b", {"status": "succeeded", "attempts": 2})  # latest
        store.save_outcome("run-st1", "odd", 1.0)  # no status: not counted
        store.write("run-st1", ALICE, Batch(calls=[
            call_record(0, prompt_tokens=100, completion_tokens=10, cost=0.25),
            call_record(1, prompt_tokens=200, completion_tokens=20, cost=0.5),
            call_record(2, prompt_tokens=400, completion_tokens=40, cost=1.0, source="cache"),
            call_record(3, prompt_tokens=800, completion_tokens=80, cost=2.0,
                        source="journal")]))
        store.save_outcome("run-st2", "x", {"status": "timed_out"})
        store.add_model_call("run-st2", call_record(0, prompt_tokens=5, completion_tokens=6,
                                                    cost=None))
        store.add_model_call("run-st2", call_record(1, prompt_tokens=1, completion_tokens=1,
                                                    cost=0.25))
        stats = store.run_stats(["run-st1", "run-st2", "run-st3", "no-such-run", "run-st1"])
        assert stats == {
            "run-st1": {"tasks": {"succeeded": 3, "skipped": 1}, "prompt_tokens": 300,
                        "completion_tokens": 30, "cost": 0.75, "model_calls": 2},
            "run-st2": {"tasks": {"timed_out": 1}, "prompt_tokens": 6, "completion_tokens": 7,
                        "cost": None, "model_calls": 2},  # one price unknown: no total
            "run-st3": {"tasks": {}, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0,
                        "model_calls": 0},
            "no-such-run": {"tasks": {}, "prompt_tokens": 0, "completion_tokens": 0,
                            "cost": 0.0, "model_calls": 0},
        }
        assert isinstance(stats["run-st1"]["cost"], float) and store.run_stats([]) == {}

    def test_run_stats_of_many_runs(self, store):
        wanted = [f"run-many{n:04d}" for n in range(3)]
        for run_id in wanted:
            store.create_run(run_record(run_id), ALICE)
            store.save_outcome(run_id, "t", {"status": "succeeded"})
            store.add_model_call(run_id, call_record(0, prompt_tokens=7, cost=0.5))
        asked = [f"ghost{n:04d}" for n in range(1200)] + wanted  # more than one query's worth
        stats = store.run_stats(asked)
        assert list(stats) == asked
        for run_id in wanted:
            assert stats[run_id]["tasks"] == {"succeeded": 1}
            assert (stats[run_id]["prompt_tokens"], stats[run_id]["cost"]) == (7, 0.5)
        assert stats["ghost0000"]["tasks"] == {} and stats["ghost1199"]["model_calls"] == 0

