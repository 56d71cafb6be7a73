"""The dashboard's plan drawing (``graph_svg``): the report's graph up to 300 tasks, one lane
per worker above; every task one element with its id and a status class, text escaped."""

from html.parser import HTMLParser

from delegate.observe.report.svg import LANES_ABOVE, graph_svg, plan_graph, status_class


class Nodes(HTMLParser):
    """Every element that carries ``data-task``, and every tag and attribute name seen."""

    def __init__(self, svg: str) -> None:
        super().__init__()
        self.nodes: list[dict[str, str]] = []
        self.tags: list[str] = []
        self.attributes: set[str] = set()
        self.feed(svg)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.attributes.update(attrs)
        if "data-task" in attrs:
            self.nodes.append(attrs)


def chain(n: int, workers: int = 3) -> list[dict]:
    return [{"id": f"t{i}", "worker": f"w{i % workers}", "instruction": f"step {i}",
             "depends_on": [f"t{i - 1}"] if i else []} for i in range(n)]


def test_up_to_300_tasks_it_is_the_reports_graph_with_a_status_class_per_node():
    tasks = chain(LANES_ABOVE)
    status = {"t0": "succeeded", "t1": "running", "t2": "timed_out"}
    svg, lanes = graph_svg(tasks, status)
    assert not lanes and svg == plan_graph(tasks, status)
    nodes = {n["data-task"]: n for n in Nodes(svg).nodes}
    assert set(nodes) == {t["id"] for t in tasks}
    assert nodes["t0"]["class"].split() == ["node", "st-succeeded"]
    assert "st-running" in nodes["t1"]["class"].split()
    assert "st-timed-out" in nodes["t2"]["class"].split()
    assert "st-not-started" in nodes["t3"]["class"].split()
    assert nodes["t3"]["data-status"] == "not started"


def test_above_300_tasks_one_lane_per_worker_one_cell_per_task():
    tasks = chain(1000)[::-1]  # dependents first: the layering must not recurse 1,000 deep
    svg, lanes = graph_svg(tasks, {"t0": "succeeded", "t999": "failed"})
    assert lanes and 'class="graph lanes"' in svg
    parsed = Nodes(svg)
    cells = {n["data-task"]: n for n in parsed.nodes}
    assert len(parsed.nodes) == 1000 and set(cells) == {t["id"] for t in tasks}
    assert cells["t0"]["class"].split() == ["node", "cell", "st-succeeded"]
    assert "st-failed" in cells["t999"]["class"]
    assert "path" not in parsed.tags  # no edges at this size
    assert svg.count('<g class="lane"') == 3
    # within a lane, a task comes after the tasks it depends on (layer order)
    lane = [n["data-task"] for n in parsed.nodes if int(n["data-task"][1:]) % 3 == 0]
    assert lane == [f"t{i}" for i in range(0, 1000, 3)]


def test_a_cycle_in_a_large_plan_is_drawn_not_followed_forever():
    tasks = chain(400)
    tasks[0]["depends_on"] = ["t399"]
    svg, lanes = graph_svg(tasks, {})
    assert lanes and len(Nodes(svg).nodes) == 400


def test_hostile_ids_workers_and_instructions_stay_text():
    evil = 'x" onmouseover="alert(1)'
    tasks = [{"id": f"{evil}{i}", "worker": "<script>w</script>", "depends_on": [],
              "instruction": "</title><script>alert(2)</script>"} for i in range(LANES_ABOVE + 1)]
    for some in (tasks[:2], tasks):
        svg, _ = graph_svg(some, {some[0]["id"]: '"><script>'})
        parsed = Nodes(svg)
        assert "script" not in parsed.tags
        assert not any(a.startswith("on") for a in parsed.attributes)
        assert {n["data-task"] for n in parsed.nodes} == {t["id"] for t in some}


def test_no_tasks_is_a_drawing_that_says_so():
    svg, lanes = graph_svg([], {})
    assert not lanes and svg.startswith("<svg") and "No plan stored yet." in svg
    assert Nodes(svg).nodes == []


def test_status_classes_match_the_pages_rule():
    # app.js computes the same class: lower case, each run of other characters one hyphen
    assert [status_class(s) for s in ("succeeded", "not started", "timed_out", "Odd -- one",
                                      "<>")] == ["st-succeeded", "st-not-started",
                                                 "st-timed-out", "st-odd-one", "st-unknown"]
