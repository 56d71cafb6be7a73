"""The HTML run report: every task drawn twice, hostile text shown as text, and the page
checked in a real headless Chromium (Debian's ``chromium``, driven by Playwright)."""

import asyncio
import copy
import dataclasses
import importlib.util
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import pytest

from delegate import Plan, RetryPolicy, Reviewer, Rubric, ScriptedModel, Task, Worker, run
from delegate.durable.export import export
from delegate.durable.journal import Journal
from delegate.durable.store.memory import MemoryStore
from delegate.errors import RateLimitError
from delegate.llm import ScriptedCall
from delegate.llm.base import WrapperModel, elapsed_since
from delegate.observe.report.html import MAX_TEXT, render_report
from delegate.observe.report.svg import layers

GUIDE = Plan(tasks=(
    Task(id="research", worker="researcher",
         instruction="Collect the facts that matter when choosing trail-running shoes."),
    Task(id="prices", worker="researcher",
         instruction="Survey current prices of five leading trail-shoe brands."),
    Task(id="outline", worker="writer", instruction="Outline the buyer's guide.",
         depends_on=("research",)),
    Task(id="table", worker="analyst", instruction="Build a price comparison table.",
         depends_on=("prices",)),
    Task(id="draft", worker="writer", instruction="Draft the guide from the outline and table.",
         depends_on=("outline", "table")),
    Task(id="faq", worker="writer", instruction="Write five FAQ entries for the guide.",
         depends_on=("draft",)),
))
SECONDS = {"research": 0.30, "prices": 0.22, "outline": 0.18, "table": 0.2, "draft": 0.3,
           "faq": 0.2}
WORKERS = [Worker("researcher", "finds facts", "You research products."),
           Worker("writer", "writes", "You write clear consumer guides."),
           Worker("analyst", "compares numbers", "You build comparison tables.")]
PAYLOAD = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


class Timed(WrapperModel):
    """Measures each call's latency, as a real provider does (the scripted model says 0)."""

    async def request(self, messages, *, output=None, settings=None):
        began = time.perf_counter()
        answer = await self.wrapped.request(messages, output=output, settings=settings)
        usage = dataclasses.replace(answer.usage, latency_seconds=elapsed_since(began))
        return dataclasses.replace(answer, usage=usage)


def guide_model(scale: float) -> Timed:
    """Prices are rate-limited once; the reviewer sends the first draft back once. Each call
    takes ``scale`` times the seconds in :data:`SECONDS`."""
    state = {"limited": False, "rejected": False}
    drafts: dict[str, int] = {}

    async def answer(call: ScriptedCall):
        if call.output is not None and "coverage" in call.output.get("properties", {}):
            await asyncio.sleep(0.03 * scale)
            if "Draft the guide" in call.last_user and not state["rejected"]:
                state["rejected"] = True
                return {"coverage": 2, "tone": 4, "notes": "No advice on sizing or fit."}
            return {"coverage": 4, "tone": 5, "notes": "Covers the task."}
        task = next((t for t in GUIDE.tasks if f"Your task: {t.instruction}" in call.last_user),
                    None)
        if task is None:
            await asyncio.sleep(0.1 * scale)
            return "Trail-running shoes: a buyer's guide, with prices, sizing and FAQ."
        if task.id == "prices" and not state["limited"]:
            state["limited"] = True
            await asyncio.sleep(0.08 * scale)
            return RateLimitError("429 Too Many Requests", retry_after=0.06 * scale)
        await asyncio.sleep(SECONDS[task.id] * scale)
        drafts[task.id] = drafts.get(task.id, 0) + 1
        return f"{task.id}, version {drafts[task.id]}: grip, drop, cushioning — ünïcødé ✓"

    return Timed(ScriptedModel(function=answer))


def run_guide(scale: float = 1.0) -> dict:
    """The export of a real run: two branches at once, a retry, a review rewrite."""
    store = MemoryStore()
    objective = "Write a guide to choosing trail-running shoes"
    journal = Journal.start(store, request={"argv": ["run", objective]})

    async def main():
        async with journal.running():
            await run(objective, workers=WORKERS, model=guide_model(scale), plan=GUIDE,
                      journal=journal,
                      reviewer=Reviewer(Rubric(criteria=("coverage", "tone"), pass_mark=3)),
                      retry=RetryPolicy(max_attempts=3, base_delay=0, jitter=0))

    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API holds this thread's loop
        thread.submit(lambda: asyncio.run(main())).result()
    return export(store, journal.run_id)


@pytest.fixture(scope="module")
def guide() -> dict:
    return run_guide()


class Tags(HTMLParser):
    """Every start tag with its attributes and the ``data-task`` of its nearest owner."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr"})

    def __init__(self, html: str) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.found: list[tuple[str, dict, dict]] = []  # tag, attributes, owner's attributes
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        owner = next((a for _, a in reversed(self.stack) if "data-task" in a), {})
        self.found.append((tag, attrs, owner))
        if tag not in self.VOID:
            self.stack.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.found.append((tag, dict(attrs), {}))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def tasks_of(self, cls: str, tag: str = "g") -> set[str]:
        return {a["data-task"] for t, a, _ in self.found
                if t == tag and cls in a.get("class", "").split() and "data-task" in a}

    def bars(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for tag, attrs, owner in self.found:
            if tag == "rect" and attrs.get("class") == "seg":
                out.setdefault(owner["data-task"], []).append(attrs)
        return out


def test_every_task_has_a_node_a_bar_and_a_section(guide):
    tags = Tags(render_report(guide))
    ids = {t.id for t in GUIDE.tasks}
    assert tags.tasks_of("node") == ids
    assert tags.tasks_of("row") == ids
    assert set(tags.bars()) == ids
    assert tags.tasks_of("task", "section") == ids
    assert {a["data-status"] for t, a, _ in tags.found if "data-status" in a} == {"succeeded"}


def test_the_timeline_shows_concurrency_the_retry_and_the_review_rewrite(guide):
    tags = Tags(render_report(guide))
    bars = tags.bars()

    def span(attrs):
        return float(attrs["x"]), float(attrs["x"]) + float(attrs["width"])

    (r0, r1), (p0, p1) = span(bars["research"][0]), span(bars["prices"][0])
    assert max(r0, p0) < min(r1, p1)  # the two branches ran at the same time
    assert [b["fill"] for b in bars["prices"]] == ["#f0b429", "#2f9e5b"]  # retried, then ok
    assert [("stroke-dasharray" in b) for b in bars["draft"]] == [False, True]  # a rewrite
    verdicts = [a["class"] for t, a, o in tags.found if "verdict" in a.get("class", "")
                and o.get("data-task") == "draft"]
    assert verdicts == ["verdict rejected", "verdict passed"]
    calls = [(o["data-task"], a["class"]) for t, a, o in tags.found
             if t == "rect" and a.get("class") in ("call task", "call revision")]
    assert sorted(calls) == sorted((c["task_id"], f"call {c['purpose']}")
                                   for c in guide["model_calls"] if c["task_id"])
    assert ("draft", "call revision") in calls  # the rewrite the review asked for


def test_prompts_outputs_reviews_versions_and_usage_are_on_the_page(guide):
    page = render_report(guide)
    task_call = next(c for c in guide["model_calls"] if c["task_id"] == "outline")
    assert render_escaped(task_call["request"]["messages"][-1]["content"]) in page
    assert render_escaped(guide["outcomes"]["faq"]["output"]) in page
    assert "No advice on sizing or fit." in page and "<b>rejected</b>" in page
    assert re.search(r"<td class=n>1</td><td>given</td><td class=n>6</td>", page)
    real = [c for c in guide["model_calls"] if c["source"] == "model"]
    assert f"<td class=n>{len(real)}</td>" in page
    assert f"{sum(c['prompt_tokens'] for c in real):,}" in page
    assert "Trail-running shoes: a buyer&#x27;s guide" in page  # the synthesised answer


def render_escaped(text: str) -> str:
    from html import escape
    return escape(text, quote=True)


def hostile(export_: dict) -> dict:
    """``export_`` with a script and an image with an event handler in every text field."""
    bad = copy.deepcopy(export_)
    bad["objective"] = PAYLOAD
    bad["outcomes"]["draft"]["output"] = PAYLOAD
    bad["outcomes"]["faq"]["output"] = {"$type": "x:Y", "$data": {"html": PAYLOAD}}
    bad["model_calls"][0]["request"]["messages"][-1]["content"] = PAYLOAD
    bad["model_calls"][0]["response"]["text"] = PAYLOAD
    bad["plan_versions"][-1]["reason"] = PAYLOAD
    for event in bad["events"]:
        if event["kind"] == "TaskReviewed":
            event["data"]["review"]["notes"] = PAYLOAD
    return bad


def test_text_from_users_and_models_is_escaped(guide):
    page = render_report(hostile(guide))
    tags = Tags(page)
    assert [t for t, _, _ in tags.found if t in ("script", "img")] == ["script"]  # the page's
    assert not any(name.startswith("on") for _, attrs, _ in tags.found for name in attrs)
    assert render_escaped(PAYLOAD) in page


def test_a_hostile_task_id_stays_inside_its_attributes():
    evil = 'x" onmouseover="alert(1)'
    page = render_report({"run_id": "r", "plan_versions": [{"version": 1, "plan": {"tasks": [
        {"id": evil, "worker": "<w>", "instruction": "</pre><script>alert(2)</script>",
         "depends_on": [evil]}]}}]})
    tags = Tags(page)
    assert tags.tasks_of("node") == {evil}  # the id is one attribute value, nothing more
    assert not any("onmouseover" in a for _, a, _ in tags.found)
    assert page.count("<script>") == 1


def test_long_texts_are_cut_with_a_note(guide):
    big = copy.deepcopy(guide)
    big["outcomes"]["faq"]["output"] = "é" * (MAX_TEXT + 30_000)
    page = render_report(big)
    assert "é" * MAX_TEXT in page and "é" * (MAX_TEXT + 1) not in page
    assert "30,000 more characters not shown" in page


def test_a_run_with_nothing_stored_yet_still_renders():
    page = render_report({"run_id": "new", "status": "running", "objective": "Later"})
    assert "No plan stored yet" in page and "No task has started yet" in page
    assert "no model calls" not in page and "<svg" not in page


def in_progress(export_: dict) -> dict:
    """``export_`` as it stood when ``outline`` was about to start."""
    partial = copy.deepcopy(export_)
    cut = next(e["seq"] for e in partial["events"] if e["kind"] == "TaskStarted"
               and e["data"]["task_id"] == "outline")
    partial["events"] = [e for e in partial["events"] if e["seq"] < cut]
    partial["outcomes"] = {k: v for k, v in partial["outcomes"].items() if k == "research"}
    partial["model_calls"] = [c for c in partial["model_calls"] if c["task_id"] == "research"]
    partial.update(status="running", result=None)
    return partial


def test_tasks_that_never_started_have_a_row_and_no_bar(guide):
    tags = Tags(render_report(in_progress(guide)))
    assert tags.tasks_of("row") == {t.id for t in GUIDE.tasks}
    assert set(tags.bars()) == {"research", "prices"}  # prices is still running
    status = {a["data-task"]: a["data-status"] for t, a, _ in tags.found if "data-status" in a}
    assert status == {"research": "succeeded", "prices": "running", "outline": "not started",
                      "table": "not started", "draft": "not started", "faq": "not started"}


def test_cost_is_summed_where_known_and_unknown_where_not(guide):
    priced = copy.deepcopy(guide)
    real = [c for c in priced["model_calls"] if c["source"] == "model"]
    for c in real:
        c["cost"] = 0.01
    real[0]["cost"] = None
    page = render_report(priced)
    assert f"${0.01 * (len(real) - 1):.4f} + unknown (1 calls)" in page
    for c in real:
        c["cost"] = None
    assert "<td class=n>unknown</td>" in render_report(priced)


def test_layers_are_the_longest_path_from_a_source():
    tasks = [{"id": "a"}, {"id": "b", "depends_on": ["a"]}, {"id": "c", "depends_on": ["a", "b"]},
             {"id": "d", "depends_on": ["zz"]}, {"id": "e", "depends_on": ["e", "f"]},
             {"id": "f", "depends_on": ["e"]}]
    found = layers(tasks)
    assert (found["a"], found["b"], found["c"], found["d"]) == (0, 1, 2, 0)
    assert sorted((found["e"], found["f"])) == [0, 1]  # a cycle is cut, not followed forever


# --- in a real browser -----------------------------------------------------------------
def chromium_path() -> str:
    """Debian's chromium, or skip (fail with DELEGATE_REQUIRE_CHROMIUM=1)."""
    path = (os.environ.get("DELEGATE_CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))
    why = ("Playwright is not installed (pip install -e '.[test]')"
           if importlib.util.find_spec("playwright") is None
           else None if path else "no chromium binary (apt-get install chromium)")
    if why:
        if os.environ.get("DELEGATE_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"DELEGATE_REQUIRE_CHROMIUM=1 but {why}")
        pytest.skip(why)
    return path


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def open_report(browser, html: str, where: Path, **context):
    file = where / "report.html"
    file.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1120, "height": 900}, **context)
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(file.as_uri())
    page.wait_for_load_state("load")
    return page, problems, requests


def test_the_report_renders_in_chromium(browser, guide, tmp_path):
    page, problems, requests = open_report(browser, render_report(hostile(guide)), tmp_path)
    for task in GUIDE.tasks:
        node = page.locator(f'svg.graph g.node[data-task="{task.id}"]')
        bar = page.locator(f'svg.timeline g.row[data-task="{task.id}"] rect.seg').first
        for drawn in (node, bar):
            box = drawn.bounding_box()
            assert box and box["width"] > 0 and box["height"] > 0, (task.id, drawn)
    assert page.evaluate("() => window.__pwned") is None  # the payload did not run
    assert page.get_by_text("window.__pwned = 1").count() > 0  # it is shown as text
    assert requests == [(tmp_path / "report.html").as_uri()]  # nothing fetched
    page.get_by_role("button", name="expand all").click()  # the inline script runs
    assert page.evaluate("() => [...document.querySelectorAll('details')].every(d => d.open)")
    assert problems == []
    page.close()


def test_a_run_in_progress_and_an_empty_run_render_in_chromium(browser, guide, tmp_path):
    page, problems, _ = open_report(browser, render_report(in_progress(guide)), tmp_path)
    for task in GUIDE.tasks:
        assert page.locator(f'svg.graph g.node[data-task="{task.id}"]').bounding_box()
        assert page.locator(f'svg.timeline g.row[data-task="{task.id}"]').bounding_box()
    assert page.locator("svg.timeline rect.seg").count() == 3  # research; prices: 2 attempts
    empty = tmp_path / "empty.html"
    empty.write_text(render_report({"run_id": "new", "status": "running"}), encoding="utf-8")
    page.goto(empty.as_uri())
    assert page.get_by_text("No task has started yet.").is_visible()
    assert problems == []
    page.close()


def test_screenshot_for_the_docs(browser, tmp_path):
    """Writes docs/run-report.png with DELEGATE_WRITE_SCREENSHOTS=1, from a run with calls
    of LLM-like length (about 20 seconds)."""
    if os.environ.get("DELEGATE_WRITE_SCREENSHOTS") != "1":
        pytest.skip("set DELEGATE_WRITE_SCREENSHOTS=1 to write docs/run-report.png")
    page, problems, _ = open_report(browser, render_report(run_guide(scale=12)), tmp_path,
                                    device_scale_factor=2)
    bottom = page.locator("#tasks").bounding_box()["y"] - 8
    target = Path(__file__).resolve().parents[2] / "docs" / "run-report.png"
    target.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": 1120, "height": bottom},
                    full_page=True)
    assert problems == []
    page.close()
