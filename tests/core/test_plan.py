import pytest
from pydantic import ValidationError

from delegate import Plan, PlanError, PlanLimits, Task, validate_plan
from delegate.core.plan import HARD_MAX_TASKS

WORKERS = {"a", "b"}


def plan(*tasks: tuple) -> Plan:
    """Each tuple is (id, worker) or (id, worker, depends_on)."""
    return Plan(tasks=tuple(
        Task(id=t[0], worker=t[1], depends_on=t[2] if len(t) > 2 else ()) for t in tasks
    ))


def problems(p: Plan, **kw) -> list[str]:
    with pytest.raises(PlanError) as info:
        validate_plan(p, WORKERS, **kw)
    return info.value.problems


def test_valid_plan_is_returned_unchanged():
    p = plan(("x", "a"), ("y", "b", ("x",)))
    assert validate_plan(p, WORKERS) is p


def test_duplicate_ids():
    assert problems(plan(("x", "a"), ("x", "b"))) == ["duplicate task id 'x'"]


def test_unknown_worker_names_known_ones():
    (msg,) = problems(plan(("x", "zed")))
    assert "unknown worker 'zed'" in msg and "a, b" in msg


def test_unknown_dependency():
    assert problems(plan(("x", "a", ("nope",)))) == ["task 'x' depends on unknown task 'nope'"]


def test_cycle_names_every_task_in_it():
    p = plan(("x", "a", ("z",)), ("y", "a", ("x",)), ("z", "b", ("y",)), ("free", "a"))
    (msg,) = problems(p)
    assert msg.startswith("dependency cycle: ")
    names = msg.removeprefix("dependency cycle: ").split(" -> ")
    assert set(names) == {"x", "y", "z"} and names[0] == names[-1]


def test_two_separate_cycles_are_both_reported():
    p = plan(("a1", "a", ("a2",)), ("a2", "a", ("a1",)), ("b1", "b", ("b2",)), ("b2", "b", ("b1",)))
    assert len(problems(p)) == 2


def test_self_dependency():
    assert "task 'x' depends on itself" in problems(plan(("x", "a", ("x",))))


def test_limits_on_size_and_depth():
    wide = Plan(tasks=tuple(Task(id=f"t{i}", worker="a") for i in range(21)))
    assert problems(wide) == ["the plan has 21 tasks; the limit is 20"]
    chain = Plan(tasks=tuple(
        Task(id=f"t{i}", worker="a", depends_on=(f"t{i-1}",) if i else ()) for i in range(6)
    ))
    assert problems(chain) == ["the plan is 6 tasks deep; the limit is 5"]
    assert validate_plan(chain, WORKERS, PlanLimits(max_depth=6)) is chain


def test_limits_cannot_pass_the_hard_maximum():
    with pytest.raises(ValueError):
        PlanLimits(max_tasks=HARD_MAX_TASKS + 1)


def test_every_problem_is_listed_at_once():
    p = plan(("x", "zed", ("ghost",)), ("x", "a"), ("y", "a", ("y",)))
    found = problems(p)
    assert len(found) == 4, found
    assert str(PlanError(found)).count(";") == 3


def test_empty_plan_is_an_error():
    assert problems(Plan(tasks=())) == ["the plan has no tasks"]


def test_plans_and_tasks_are_frozen():
    p = plan(("x", "a"))
    with pytest.raises(ValidationError):
        p.tasks[0].priority = 3
    with pytest.raises(ValidationError):
        p.version = 2


def test_task_id_shape_is_checked():
    with pytest.raises(ValidationError):
        Task(id="has space", worker="a")


def test_topological_order_takes_ready_tasks_in_plan_order():
    p = plan(("c", "a", ("a",)), ("a", "a"), ("b", "a"), ("d", "a", ("b", "c")))
    assert p.topological_order() == ["a", "c", "b", "d"]  # c precedes b in the plan


def test_ready_set():
    p = plan(("x", "a"), ("y", "a", ("x",)), ("z", "a"))
    assert p.ready(set()) == ["x", "z"]
    assert p.ready({"x"}) == ["y", "z"]


def test_remaining_critical_path():
    p = plan(("x", "a"), ("y", "a", ("x",)), ("z", "a", ("y",)), ("w", "a"))
    assert p.critical_path() == {"x": 3, "y": 2, "z": 1, "w": 1}
    assert p.critical_path({"w": 5})["w"] == 5
    assert p.depth() == 3


def test_a_repeated_dependency_counts_once():
    assert Task(id="x", worker="a", depends_on=["y", "y", "z"]).depends_on == ("y", "z")
