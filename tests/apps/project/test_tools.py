"""Project tools: breakdown validation, CPM by hand, resource-constrained schedules."""

import itertools
import json
import random

import pytest
from pydantic import ValidationError

from delegate.apps.project.tools import (
    Resource,
    TimelineEntry,
    WorkItem,
    critical_path,
    schedule,
    to_markdown,
    validate_breakdown,
)
from delegate.errors import PlanError


def _item(tid, days, deps=(), skill="general"):
    return WorkItem(id=tid, name=f"Item {tid}", estimate_days=days, depends_on=deps, skill=skill)


def _textbook():
    # A(3)  -> C(2) -> E(3) -> F(4)
    #       -> D(5) ---------> F
    # B(4) ---------> E
    return [
        _item("A", 3),
        _item("B", 4),
        _item("C", 2, ["A"]),
        _item("D", 5, ["A"]),
        _item("E", 3, ["B", "C"]),
        _item("F", 4, ["D", "E"]),
    ]


def test_textbook_cpm_by_hand():
    cp = critical_path(_textbook())
    # Forward pass: ES(E) = max(EF B 4, EF C 5) = 5; ES(F) = max(EF D 8, EF E 8) = 8.
    assert cp.earliest_start == {"A": 0, "B": 0, "C": 3, "D": 3, "E": 5, "F": 8}
    assert cp.earliest_finish == {"A": 3, "B": 4, "C": 5, "D": 8, "E": 8, "F": 12}
    assert cp.length_days == 12
    # Backward pass: LF(F) = 12; LF(D) = LF(E) = LS(F) = 8; LF(B) = LF(C) = LS(E) = 5;
    # LF(A) = min(LS C 3, LS D 3) = 3.
    assert cp.latest_finish == {"A": 3, "B": 5, "C": 5, "D": 8, "E": 8, "F": 12}
    assert cp.latest_start == {"A": 0, "B": 1, "C": 3, "D": 3, "E": 5, "F": 8}
    assert cp.slack == {"A": 0, "B": 1, "C": 0, "D": 0, "E": 0, "F": 0}
    # Two critical chains, A-C-E-F and A-D-F: the tie goes to C, earlier in the input than D.
    assert cp.path == ("A", "C", "E", "F")


def test_path_tie_follows_input_order_not_ids():
    first_z = [_item("z", 2), _item("a", 2), _item("end", 1, ["a", "z"])]
    first_a = [_item("a", 2), _item("z", 2), _item("end", 1, ["z", "a"])]
    assert critical_path(first_z).path == ("z", "end")
    assert critical_path(first_a).path == ("a", "end")


def test_fractional_estimates_and_unordered_input():
    items = [_item("d", 4, ["b", "c"]), _item("c", 2.5, ["a"]), _item("b", 1, ["a"]), _item("a", 6)]
    cp = critical_path(items)
    assert cp.path == ("a", "c", "d")
    assert cp.length_days == 12.5
    assert cp.slack == {"d": 0, "c": 0, "b": 1.5, "a": 0}
    assert list(cp.slack) == ["d", "c", "b", "a"]  # keyed in input order


def test_every_validation_problem_at_once():
    items = [
        _item("task", 1),
        _item("task", 2),
        _item("b", 1, ["ghost"]),
        _item("c", 1, ["d"]),
        _item("d", 1, ["c"]),
        _item("e", 1, skill="legal"),
        _item("f", 1, ["f"]),
    ]
    resources = [Resource(name="r"), Resource(name="r", skills=("dev",))]
    with pytest.raises(PlanError) as info:
        validate_breakdown(items, resources)
    assert info.value.problems == [
        "duplicate item id 'task'",  # an id that is the word 'task' is not reworded
        "item 'b' depends on unknown item 'ghost'",
        "item 'f' depends on itself",
        "dependency cycle: c -> d -> c",
        "duplicate resource name 'r'",
        "item 'e' needs skill 'legal', which no resource has (skills: dev, general)",
    ]


def test_skills_are_checked_only_against_given_resources():
    items = [_item("a", 1, skill="legal")]
    assert validate_breakdown(items) is None
    with pytest.raises(PlanError, match="needs skill 'legal'"):
        schedule(items, [Resource(name="r", skills=("dev",))])


def test_cycle_is_named_and_blocks_every_computation():
    items = [_item("a", 1, ["c"]), _item("b", 1, ["a"]), _item("c", 1, ["b"]), _item("x", 1)]
    for call in (validate_breakdown, critical_path, schedule):
        with pytest.raises(PlanError) as info:
            call(items)
        assert info.value.problems == ["dependency cycle: a -> b -> c -> a"]


def test_empty_breakdown_is_an_error():
    with pytest.raises(PlanError) as info:
        critical_path([])
    assert info.value.problems == ["the breakdown has no items"]


@pytest.mark.parametrize(
    "bad",
    [{"estimate_days": 0}, {"estimate_days": 365.5}, {"id": "no spaces"}, {"skill": ""}],
)
def test_work_item_fields_are_checked(bad):
    with pytest.raises(ValidationError):
        WorkItem(**{"id": "a", "name": "A", "estimate_days": 1, **bad})


@pytest.mark.parametrize("capacity", [0, -0.5, 1.5])
def test_resource_capacity_is_checked(capacity):
    with pytest.raises(ValidationError):
        Resource(name="r", capacity=capacity)


def test_models_are_frozen_and_accept_single_strings():
    item = _item("b", 1, "a")
    assert item.depends_on == ("a",)
    assert Resource(name="r", skills="dev").skills == ("dev",)
    with pytest.raises(ValidationError):
        item.estimate_days = 2


def test_ample_resources_reach_the_critical_path_exactly():
    items = _textbook()
    resources = [Resource(name=f"r{n}") for n in range(len(items))]
    timeline = schedule(items, resources)
    cp = timeline.critical_path
    assert timeline.makespan_days == cp.length_days == 12
    assert timeline.resource_bound is False
    for entry in timeline.entries:
        assert entry.start_day == cp.earliest_start[entry.item_id]


def test_no_resources_means_unlimited_lanes():
    timeline = schedule(_textbook())
    assert timeline.makespan_days == timeline.critical_path.length_days == 12
    assert timeline.resource_bound is False
    assert {e.resource for e in timeline.entries} == {None}


def test_one_resource_serialises_parallel_items():
    # a(2) and b(3) in parallel, then c(1): critical path b -> c = 4 days.
    items = [_item("a", 2), _item("b", 3), _item("c", 1, ["a", "b"])]
    timeline = schedule(items, [Resource(name="solo")])
    # b has no slack (a has 1 day), so b goes first: b 0-3, a 3-5, c 5-6.
    assert timeline.entries == (
        TimelineEntry("b", "solo", 0, 3),
        TimelineEntry("a", "solo", 3, 5),
        TimelineEntry("c", "solo", 5, 6),
    )
    assert timeline.critical_path.length_days == 4
    assert timeline.makespan_days == 6
    assert timeline.resource_bound is True


def test_half_capacity_doubles_durations():
    items = [_item("a", 3), _item("b", 2, ["a"])]
    timeline = schedule(items, [Resource(name="part-time", capacity=0.5)])
    assert timeline.entries == (
        TimelineEntry("a", "part-time", 0, 6),
        TimelineEntry("b", "part-time", 6, 10),
    )
    assert timeline.makespan_days == 10
    assert timeline.resource_bound is True


def test_items_go_to_a_resource_with_their_skill_finishing_first():
    items = [_item("ui", 2, skill="design"), _item("api", 4, skill="dev"),
             _item("glue", 1, ["ui", "api"], skill="dev")]
    resources = [Resource(name="slow", skills=("dev",), capacity=0.5),
                 Resource(name="ann", skills=("dev", "design")),
                 Resource(name="bo", skills=("design",))]
    timeline = schedule(items, resources)
    # api (no slack) is placed before ui (2 days of slack); entries list by start, input order.
    assert timeline.entries == (
        TimelineEntry("ui", "bo", 0, 2),  # ann already holds api until 4; bo is free
        TimelineEntry("api", "ann", 0, 4),  # ann finishes at 4, slow would at 8
        TimelineEntry("glue", "ann", 4, 5),  # ann at 5 beats slow at 6
    )
    assert timeline.makespan_days == timeline.critical_path.length_days == 5


def test_resource_ties_go_to_the_earlier_resource():
    items = [_item("a", 1), _item("b", 1, ["a"])]
    timeline = schedule(items, [Resource(name="first"), Resource(name="second")])
    assert [e.resource for e in timeline.entries] == ["first", "first"]


def test_markdown_and_dict_render_the_timeline():
    items = [_item("a", 2), _item("b", 3), _item("c", 1.5, ["a", "b"])]
    timeline = schedule(items, [Resource(name="solo")])
    text = to_markdown(timeline, items)
    lines = text.splitlines()
    assert lines[0] == "| Item | Name | Resource | Start day | Finish day | Days | Slack |"
    assert lines[2] == "| b | Item b | solo | 0 | 3 | 3 | 0 |"
    assert lines[3] == "| a | Item a | solo | 3 | 5 | 2 | 1 |"
    assert lines[4] == "| c | Item c | solo | 5 | 6.5 | 1.5 | 0 |"
    assert lines[-1] == "Critical path: b -> c, 4.5 days; makespan 6.5 days (resource-bound)"
    unbound = to_markdown(schedule(items), items)
    assert unbound.splitlines()[-1] == "Critical path: b -> c, 4.5 days; makespan 4.5 days"

    data = json.loads(json.dumps(timeline.to_dict()))
    assert data["makespan_days"] == 6.5
    assert data["resource_bound"] is True
    assert data["entries"][0] == {"item_id": "b", "resource": "solo", "start_day": 0,
                                  "finish_day": 3}
    assert data["critical_path"]["path"] == ["b", "c"]
    assert data["critical_path"]["items"]["a"] == {
        "earliest_start": 0, "earliest_finish": 2, "latest_start": 1, "latest_finish": 3,
        "slack": 1,
    }


def test_markdown_escapes_pipes_in_names():
    items = [WorkItem(id="a", name="Read | write", estimate_days=1)]
    assert "| a | Read \\| write | - | 0 | 1 | 1 | 0 |" in to_markdown(schedule(items), items)


def _random_breakdown(rng):
    skills = ["dev", "design", "qa"]
    items = []
    for n in range(rng.randint(5, 30)):
        deps = [f"t{k}" for k in range(n) if rng.random() < 0.25]
        items.append(_item(f"t{n}", rng.choice([0.5, 1, 2, 3.25, 5, 8]), deps, rng.choice(skills)))
    rng.shuffle(items)
    resources = [
        Resource(name=f"r{n}", skills=tuple(rng.sample(skills, rng.randint(1, 2))),
                 capacity=rng.choice([0.25, 0.5, 1.0]))
        for n in range(rng.randint(0, 3))
    ]
    resources.append(Resource(name="any", skills=tuple(skills), capacity=rng.choice([0.5, 1.0])))
    return items, resources


@pytest.mark.parametrize("seed", range(12))
def test_random_schedules_respect_resources_and_dependencies(seed):
    items, resources = _random_breakdown(random.Random(seed))
    by_id = {i.id: i for i in items}
    by_name = {r.name: r for r in resources}
    timeline = schedule(items, resources)
    cp = timeline.critical_path
    entries = {e.item_id: e for e in timeline.entries}
    assert sorted(entries) == sorted(by_id) and len(timeline.entries) == len(items)

    for entry in timeline.entries:
        item, resource = by_id[entry.item_id], by_name[entry.resource]
        assert item.skill in resource.skills
        duration = entry.finish_day - entry.start_day
        assert duration == pytest.approx(item.estimate_days / resource.capacity)
        for dep in item.depends_on:
            assert entry.start_day >= entries[dep].finish_day
    for name in by_name:
        spans = sorted((e.start_day, e.finish_day) for e in timeline.entries if e.resource == name)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end
    assert timeline.makespan_days == max(e.finish_day for e in timeline.entries)
    assert timeline.makespan_days >= cp.length_days
    assert timeline.resource_bound == (timeline.makespan_days > cp.length_days + 1e-9)

    # The critical path is a dependency chain with no slack whose estimates sum to its length.
    assert all(cp.slack[i] == 0 for i in cp.path)
    assert min(cp.slack.values()) >= 0
    assert not by_id[cp.path[0]].depends_on
    for before, after in itertools.pairwise(cp.path):
        assert before in by_id[after].depends_on
    assert sum(by_id[i].estimate_days for i in cp.path) == pytest.approx(cp.length_days)
    assert cp.length_days == max(cp.earliest_finish.values())

    # With one full-time generalist per item, the resources never lengthen the project.
    ample = [Resource(name=f"g{n}", skills=("dev", "design", "qa")) for n in range(len(items))]
    assert schedule(items, ample).makespan_days == cp.length_days
    assert schedule(items).makespan_days == cp.length_days
