"""The benchmarks compute the right things: every system runs the whole fan-out and every
DAG in dependency order within its concurrency limit, the bounds and the random DAGs are what
the README says, and the results are written as median (min-max). No timing is asserted:
the tasks sleep a millisecond or two only so that they overlap."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))  # the bench is a folder of scripts, not a package

import dags  # noqa: E402
import end_to_end  # noqa: E402
import goals  # noqa: E402
import harness  # noqa: E402
import journal_overhead  # noqa: E402
import run_all  # noqa: E402
import systems  # noqa: E402

from delegate import Plan, Task  # noqa: E402
from delegate.core.events import ModelCalled  # noqa: E402


def _needs(module: str):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{module} is a bench extra: pip install -e '.[bench]'")


FANOUT_SYSTEMS = [
    "delegate", "asyncio", "fifo",
    pytest.param("langgraph", marks=_needs("langgraph")),
    pytest.param("pocketflow", marks=_needs("pocketflow")),
]
DAG_SYSTEMS = ["delegate", "delegate-counts", "fifo",
               pytest.param("langgraph", marks=_needs("langgraph"))]


def _overlap(trace: list[tuple[str, float, float]]) -> int:
    """Most intervals running at one instant."""
    return max(sum(s <= start < e for _, s, e in trace) for _, start, _ in trace)


def _respects_dependencies(dag: dags.Dag, trace: list[tuple[str, float, float]]) -> bool:
    span = {t: (s, e) for t, s, e in trace}
    return all(span[d][1] <= span[t][0] for t in dag.tasks for d in dag.deps[t])


# -- the systems ------------------------------------------------------------------------------

@pytest.mark.parametrize("system", FANOUT_SYSTEMS)
@pytest.mark.parametrize("n", [1, 7])
@pytest.mark.parametrize("work", [0.0, 0.001])
def test_the_fan_out_runs_n_tasks_and_gathers_n_results(system, n, work):
    assert asyncio.run(systems.load(system).fanout(n, work)) == n


def test_delegate_fan_out_plan_is_n_tasks_and_one_aggregator():
    from systems.delegate_system import fanout_plan

    plan = fanout_plan(5)
    assert [t.id for t in plan.tasks] == ["t0", "t1", "t2", "t3", "t4", "gather"]
    assert plan.tasks[-1].depends_on == ("t0", "t1", "t2", "t3", "t4")


@pytest.mark.parametrize("system", DAG_SYSTEMS)
@pytest.mark.parametrize("concurrency", [2, None])
def test_a_dag_runs_every_task_after_its_dependencies_within_the_limit(system, concurrency):
    dag = dags.random_dag(7, n=14, scale=0.05)
    trace: list[tuple[str, float, float]] = []
    assert asyncio.run(systems.load(system).build(dag, concurrency, trace)()) == len(dag)
    assert sorted(t for t, _, _ in trace) == sorted(dag.tasks)
    assert _respects_dependencies(dag, trace)
    if concurrency is not None:
        assert _overlap(trace) <= concurrency


@pytest.mark.parametrize("system", ["delegate", "asyncio",
                                    pytest.param("pocketflow", marks=_needs("pocketflow"))])
def test_the_layered_dag_runs_layer_by_layer(system):
    dag = dags.layered(3, 4, 0.001)
    trace: list[tuple[str, float, float]] = []
    assert asyncio.run(systems.load(system).build(dag, None, trace)()) == 12
    assert _respects_dependencies(dag, trace)


@_needs("pocketflow")
def test_pocketflow_expresses_layered_dags_only():
    from systems.pocketflow_flow import build, layers_of

    assert layers_of(dags.layered(3, 2)) == [("L0.0", "L0.1"), ("L1.0", "L1.1"),
                                             ("L2.0", "L2.1")]
    assert layers_of(dags.random_dag(1, n=10)) is None
    assert build(dags.random_dag(1, n=10), None) is None


def _trap() -> dags.Dag:
    """Two short independent tasks listed first, then the head of a chain of four."""
    tasks = ("x1", "x2", "h", "t1", "t2", "t3")
    deps = {"x1": (), "x2": (), "h": (), "t1": ("h",), "t2": ("t1",), "t3": ("t2",)}
    return dags.Dag(tasks, deps, dict.fromkeys(tasks, 0.002))


def test_fifo_starts_ready_tasks_in_arrival_order_and_delegate_the_longest_chain_first():
    first: dict[str, set[str]] = {}
    for system in ("fifo", "delegate", "delegate-counts"):
        trace: list[tuple[str, float, float]] = []
        asyncio.run(systems.load(system).build(_trap(), 2, trace)())
        first[system] = {t for t, _, _ in sorted(trace, key=lambda r: r[1])[:2]}
    assert first["fifo"] == {"x1", "x2"}
    assert "h" in first["delegate"] and "h" in first["delegate-counts"]


def test_expected_seconds_make_delegate_follow_the_longest_chain_by_time():
    # 'a' leads a chain of two short tasks, 'b' is one long task: by count 'a' goes first,
    # by duration 'b' does
    dag = dags.Dag(("a", "a2", "b"), {"a": (), "a2": ("a",), "b": ()},
                   {"a": 0.001, "a2": 0.001, "b": 0.004})
    for system, first in (("delegate-counts", "a"), ("delegate", "b")):
        trace: list[tuple[str, float, float]] = []
        asyncio.run(systems.load(system).build(dag, 1, trace)())
        assert min(trace, key=lambda r: r[1])[0] == first


# -- graphs and bounds ------------------------------------------------------------------------

def test_the_layered_dag_and_its_ideal_critical_path():
    dag = dags.layered(5, 20, 0.02)
    assert len(dag) == 100 and dag.depth() == 5
    assert dag.deps["L0.3"] == ()
    assert dag.deps["L3.7"] == tuple(f"L2.{i}" for i in range(20))
    assert dag.critical_path() == pytest.approx(0.1)
    assert dag.total_work() == pytest.approx(2.0)


def test_random_dags_are_seeded_and_well_formed():
    a, b = dags.random_dag(3), dags.random_dag(3)
    assert a == b and a.durations == b.durations
    assert dags.random_dag(4) != a
    assert len(a) == 60
    for n, t in enumerate(a.tasks):
        assert all(a.tasks.index(d) < n for d in a.deps[t])
        assert len(a.deps[t]) <= 3
        assert 0.010 <= a.durations[t] <= 0.150
    assert dags.Dag.from_json(a.to_json()) == a


def test_the_lower_bound_is_the_larger_of_critical_path_and_work_over_concurrency():
    dag = dags.Dag(("a", "b", "c", "d"), {"a": (), "b": ("a",), "c": (), "d": ()},
                   {"a": 0.1, "b": 0.1, "c": 0.3, "d": 0.3})
    assert dag.critical_path() == pytest.approx(0.3)
    assert dag.total_work() == pytest.approx(0.8)
    assert dag.lower_bound(2) == pytest.approx(0.4)  # work / 2
    assert dag.lower_bound(4) == pytest.approx(0.3)  # critical path


def test_a_dag_refuses_a_dependency_listed_after_its_dependent():
    with pytest.raises(ValueError, match="does not come before"):
        dags.Dag(("a", "b"), {"a": ("b",), "b": ()}, {"a": 1.0, "b": 1.0})


def test_the_simulated_policies():
    dag = dags.Dag(_trap().tasks, _trap().deps, dict.fromkeys(_trap().tasks, 1.0))
    assert dag.lower_bound(2) == 4.0
    assert dags.simulate(dag, 2, "fifo") == 5.0  # x1 and x2 first delay the chain
    assert dags.simulate(dag, 2, "tasks") == 4.0  # the chain's head goes first
    assert dags.simulate(dag, 2, "seconds") == 4.0
    assert dags.simulate(dag, 2, "supersteps") == 5.0  # x1, x2, h; t1; t2; t3
    assert dags.simulate(dag, 6, "supersteps") == 4.0
    with pytest.raises(ValueError):
        dags.simulate(dag, 2, "random")


# -- end to end: the critical path of the model calls -----------------------------------------

def _call(purpose: str, latency: float, task_id: str = "", at: float = 0.0) -> ModelCalled:
    return ModelCalled(run_id="r", task_id=task_id, purpose=purpose, model="m",
                       prompt_tokens=1, completion_tokens=1, latency_seconds=latency, at=at)


def test_the_critical_path_of_the_model_calls_follows_the_phases_and_the_plan():
    plan = Plan(tasks=(Task(id="a", worker="w"), Task(id="b", worker="w", depends_on="a"),
                       Task(id="c", worker="w"), Task(id="d", worker="w", depends_on="b")))
    calls = [
        _call("plan", 1.0), _call("plan", 0.5),          # a repair: sequential, 1.5
        _call("task", 2.0, "a"), _call("task", 4.0, "c"),
        _call("task", 3.0, "b"), _call("task", 0.5, "b"),  # b and its retry
        # d has no call: it weighs nothing        tasks: max(a + b = 5.5, c = 4) = 5.5
        _call("review", 1.0), _call("review", 2.0),      # one round, concurrent: 2
        _call("task", 1.5, "b"),                          # rewrite of b: 1.5
        _call("synthesis", 1.0),                          # 1
    ]
    phases = end_to_end.phases_of(calls)
    assert [p.kind for p in phases] == ["plan", "task", "review", "task", "synthesis"]
    assert end_to_end.call_critical_path(calls, plan) == pytest.approx(11.5)
    assert end_to_end.call_critical_path(calls, plan, lambda c: 1.0) == pytest.approx(
        2 + 3 + 1 + 1 + 1)  # plan, a then b (two calls), review, rewrite, synthesis


def test_service_spans_pair_with_the_call_that_ended_after_them():
    calls = [_call("task", 3.0, "a", at=10.0), _call("task", 5.0, "b", at=12.0)]
    spans = [(9.0, 11.9), (7.5, 9.99)]  # b's call waited for a free instance
    paired = end_to_end.match_service(calls, spans)
    assert paired[id(calls[0])] == pytest.approx(2.49)
    assert paired[id(calls[1])] == pytest.approx(2.9)


# -- harness and results ----------------------------------------------------------------------

def test_statistics_and_their_format():
    s = harness.stat([3.0, 1.0, 2.0, 10.0])
    assert s == {"median": 2.5, "min": 1.0, "max": 10.0, "n": 4}
    assert harness.fmt_stat(s) == "2.5 (1.0-10.0)"
    assert harness.fmt_stat(harness.stat([1.2345]), ".2f", " ms") == "1.23 ms"
    assert harness.fmt_stat(None) == "-"
    with pytest.raises(ValueError):
        harness.stat([])


def test_a_case_runs_in_its_own_subprocess():
    record = harness.run_case("overhead", {"system": "asyncio", "n": 10, "runs": 1})
    assert record["system"] == "asyncio" and record["n"] == 10 and record["runs"] == 1
    assert record["peak_rss_mib"] >= record["baseline_rss_mib"] > 0
    with pytest.raises(harness.CaseFailed, match="unknown system"):
        harness.run_case("overhead", {"system": "nope", "n": 1})


def _overhead(system: str, n: int, us: float, rss: float) -> dict:
    return {"bench": "overhead", "system": system, "n": n, "runs": 1, "wall_s": us * n / 1e6,
            "us_per_task": us, "peak_rss_mib": rss, "import_rss_mib": rss - 1,
            "baseline_rss_mib": rss - 1, "run_rss_mib": 1.0}


def test_results_give_median_min_max_and_judge_the_goals():
    records = [_overhead("delegate", 1_000, us, 40.0) for us in (12.0, 10.0, 30.0)]
    records += [_overhead("asyncio", 1_000, us, 25.0) for us in (6.0, 5.0, 7.0)]
    records += [_overhead("delegate", 1, 600.0, 35.0)]
    data = {"machine": harness.machine() | {"elapsed_s": 60.0, "load_average_end": [0.1]},
            "quick": False, "repeats": {"overhead": 3}, "records": {"overhead": records},
            "failures": []}
    text = run_all.render(data)
    assert "| 1,000 | delegate | 12.0 (10.0-30.0) | 12.0 (10.0-30.0) | 2.0x |" in text
    rows = {r["key"]: r for r in goals.evaluate(run_all.summaries_and_sections(
        data["records"])[0])}
    # the engine's overhead is judged against asyncio's from the same run: 12.0 / 6.0
    assert rows["per_task"]["status"] == "met" and rows["per_task"]["value"] == 2.0
    assert "delegate 12.0 µs (2.00x), asyncio 6.0 µs" in rows["per_task"]["context"]
    assert rows["memory"]["status"] == "met"
    assert rows["fixed_cost"]["status"] == "missed"
    assert rows["fixed_cost"]["margin"] == "20% over the limit"
    assert rows["embedded"]["status"] == "not measured"
    assert "Fixed cost per plan" in text.split("### Missed goals")[1]


def test_a_partial_run_carries_the_other_benches_over_and_says_from_which_run():
    now = {"machine": harness.machine() | {"elapsed_s": 60.0, "load_average_end": [0.1]},
           "quick": False, "repeats": {"overhead": 1},
           "records": {"overhead": [_overhead("delegate", 1, 400.0, 35.0)]}, "failures": []}
    earlier_records = [_overhead("delegate", 1, 600.0, 35.0),
                       _overhead("asyncio", 1_000, 6.0, 25.0)]
    earlier = {"machine": {"date": "2026-01-02 03:04 UTC", "git_commit": "abc1234",
                           "command": "bench/run_all.py"},
               "repeats": {"overhead": 5, "makespan": 3},
               "records": {"overhead": earlier_records,
                           "makespan": [{"bench": "makespan"}]}}
    run_all.carry_over(now, earlier)
    assert now["records"]["overhead"] == [_overhead("delegate", 1, 400.0, 35.0)]  # measured
    assert now["records"]["makespan"] == [{"bench": "makespan"}]
    assert now["carried"] == {"makespan": {"date": "2026-01-02 03:04 UTC",
                                           "git_commit": "abc1234",
                                           "command": "bench/run_all.py"}}
    assert now["repeats"]["makespan"] == 3
    again = {**now, "records": {"overhead": now["records"]["overhead"]},
             "repeats": {"overhead": 1}}
    again.pop("carried")
    run_all.carry_over(again, now)  # carried twice, it keeps the run that measured it
    assert again["carried"]["makespan"]["git_commit"] == "abc1234"


def test_the_journal_overhead_bench_runs_both_and_judges_the_goal():
    record = journal_overhead.measure(tasks=5, repeats=2, concurrency=2)  # checks each run
    assert len(record["none_s"]) == len(record["journal_s"]) == len(record["ratios"]) == 2
    assert record["ratios"] == [j / n for j, n in zip(record["journal_s"], record["none_s"],
                                                      strict=True)]
    info = harness.machine()
    assert "| SQLite journal |" in journal_overhead.render(record, info)
    timed = {**record, "none_s": [0.01, 0.01], "journal_s": [0.02, 0.04], "ratios": [2.0, 4.0]}
    assert "Measured: 3.00x, met." in journal_overhead.render(timed, info)
    timed["ratios"] = [3.0, 3.2]
    assert "Measured: 3.10x, missed." in journal_overhead.render(timed, info)
