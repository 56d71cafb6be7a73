"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright)
against a real server under uvicorn: a run started from the form turns green live, its task
drawer shows the output as text, a blocked run is cancelled from its page, and a stored run of
1,000 tasks is drawn as lanes with a task list that renders only the rows in view.

Every test fails on a request to any host but the server and on any console error."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip("uvicorn")

from delegate import Plan, PlanLimits, RunConfig, ScriptedModel, Task, Worker, run
from delegate.durable.journal import Journal
from delegate.durable.store import open_store
from delegate.runtime import Runtime
from delegate.server import create_app
from tests.observe.test_run_report import chromium_path
from tests.server._serve import TOKEN, free_port, uvicorn_server

PAYLOAD = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'
PLAN = {"tasks": [  # the planner's schema names tasks t1, t2, ...
    {"id": "t1", "worker": "researcher", "instruction": "Find what owls eat.",
     "depends_on": []},
    {"id": "t2", "worker": "researcher", "instruction": "Find when owls hunt.",
     "depends_on": []},
    {"id": "t3", "worker": "writer", "instruction": "Write the guide from both findings.",
     "depends_on": ["t1", "t2"]},
    {"id": "t4", "worker": "critic", "instruction": "Check the draft for errors.",
     "depends_on": ["t3"]},
]}
OUTPUT = {"t1": "Owls eat mice, voles and insects.", "t2": "Most owls hunt at night.",
          "t3": f"Owls: a short guide. {PAYLOAD}", "t4": "No errors found."}
STUCK = {"tasks": [{"id": "t1", "worker": "researcher", "instruction": "Wait for the gate.",
                    "depends_on": []}]}
BIG = 1000


class Gate:
    """A step that awaits an ``asyncio.Event`` on the server's loop until :meth:`open` (from
    the test's thread); :attr:`reached` says a task came to it. Once open it stays open."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._opened = threading.Event()
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def wait(self) -> None:
        self.reached.set()
        event = asyncio.Event()
        self._waiting.append((asyncio.get_running_loop(), event))
        if not self._opened.is_set():  # set after the append: open() sees this event
            await event.wait()

    def open(self) -> None:
        self._opened.set()
        for loop, event in list(self._waiting):
            loop.call_soon_threadsafe(event.set)


def scripted(plan: dict, outputs: dict[str, str], gated: str, gate: Gate,
             seconds: float = 0.0) -> ScriptedModel:
    """Plans ``plan``; each task answers its text of ``outputs``, task ``gated`` only once
    ``gate`` opens; ``seconds`` stands in for a real model's latency (screenshots only)."""

    async def answer(call: Any) -> Any:
        if isinstance(call.output, dict):
            return plan
        task = next((t for t in plan["tasks"] if f"Your task: {t['instruction']}"
                     in call.last_user), None)
        if seconds:
            await asyncio.sleep(seconds)
        if task is None:
            return "Owls hunt at night and eat small animals."
        if task["id"] == gated:
            await gate.wait()
        return outputs.get(task["id"], "Done.")

    return ScriptedModel(function=answer)


def store_big_run(path: str) -> str:
    """A finished run of :data:`BIG` tasks over four workers, in the store at ``path``."""
    store = open_store(path)
    plan = Plan(tasks=tuple(
        Task(id=f"t{i}", worker=f"w{i % 4}", instruction=f"Step {i} of the survey.",
             depends_on=(f"t{i - 10}",) if i >= 10 else ()) for i in range(BIG)))
    journal = Journal.start(store, request={"argv": ["run", "A survey in 1,000 steps"]})

    async def main() -> None:
        async with journal.running():
            await run("A survey in 1,000 steps", plan=plan, journal=journal,
                      workers=[Worker(f"w{i}", "does a step", "You do one step.")
                               for i in range(4)],
                      model=ScriptedModel(function=lambda call: "done"),
                      config=RunConfig(synthesize=False, max_concurrency=64,
                                       limits=PlanLimits(max_tasks=BIG, max_depth=BIG)))

    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API holds this thread's loop
        thread.submit(lambda: asyncio.run(main())).result()
    store.close()
    return journal.run_id


class Served:
    def __init__(self, url: str, gates: dict[str, Gate], big: str) -> None:
        self.url, self.gates, self.big = url, gates, big


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("dashboard") / "runs.db")
    big = store_big_run(path)
    gates = {name: Gate() for name in ("demo", "stuck", "shot")}
    runtime = Runtime()
    runtime.add_model("scripted:demo", scripted(PLAN, OUTPUT, "t3", gates["demo"]))
    runtime.add_model("scripted:stuck", scripted(STUCK, {}, "t1", gates["stuck"]))
    runtime.add_model("scripted:shot", scripted(PLAN, OUTPUT, "t4", gates["shot"], 0.8))
    port = free_port()
    app = create_app(path, token=TOKEN, port=port, recover=False, runtime=runtime)
    with uvicorn_server(app, port):
        yield Served(f"http://127.0.0.1:{port}", gates, big)
        for gate in gates.values():
            gate.open()


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Dashboard:
    """A page on the dashboard that records requests to other hosts (refused), console
    errors and every URL the page asked the server for."""

    def __init__(self, browser: Any, server: Served, **context: Any) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900}, **context)
        self.foreign: list[str] = []
        self.problems: list[str] = []
        self.asked: list[str] = []
        self.keys: list[str | None] = []  # the Idempotency-Key of each POST /api/runs
        here = urlsplit(server.url).netloc
        self.page.route("**/*", self._guard(here))
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.goto(f"{server.url}/?token={TOKEN}")  # sets the cookie, then / itself
        self.page.wait_for_selector("table.runs tbody tr")

    def _guard(self, here: str):
        def guard(route: Any) -> None:
            url = route.request.url
            if urlsplit(url).netloc != here:
                self.foreign.append(url)
                route.abort()
            else:
                self.asked.append(urlsplit(url).path)
                if route.request.method == "POST" and urlsplit(url).path == "/api/runs":
                    self.keys.append(route.request.headers.get("idempotency-key"))
                route.continue_()
        return guard

    def start(self, objective: str, model: str) -> str:
        """Fills in and sends the new-run form; the id of the run the page went to."""
        page = self.page
        page.click("nav >> text=New run")
        page.wait_for_selector('[name="objective"]')
        page.select_option('[name="workflow"]', "general")
        page.fill('[name="objective"]', objective)
        page.fill('[name="model"]', model)
        page.click("button[type=submit]")
        page.wait_for_url("**/#/runs/*")
        return page.url.rsplit("/", 1)[-1]

    def node(self, task: str) -> Any:
        return self.page.locator(f'svg.graph [data-task="{task}"]')

    def check(self) -> None:
        assert self.foreign == [], "requests to other hosts"
        assert self.problems == [], "console errors"
        self.page.close()


@pytest.fixture
def dash(browser, server):
    return Dashboard(browser, server)


def test_a_run_from_the_form_turns_green_live_and_its_drawer_shows_the_output(dash, server):
    page = dash.page
    run_id = dash.start(f"A short guide to owls {PAYLOAD}", "scripted:demo")
    assert server.gates["demo"].reached.wait(60)
    dash.node("t1").and_(page.locator(".st-succeeded")).wait_for()
    dash.node("t3").and_(page.locator(".st-running")).wait_for()
    assert "st-not-started" in dash.node("t4").get_attribute("class")
    drawn = dash.asked.count(f"/api/runs/{run_id}/graph")
    server.gates["demo"].open()
    for task in OUTPUT:
        dash.node(task).and_(page.locator(".st-succeeded")).wait_for()
    page.locator(".run-head .pill.st-succeeded").wait_for()
    assert dash.asked.count(f"/api/runs/{run_id}/graph") == drawn  # recoloured from events
    assert any(p.startswith(f"/api/runs/{run_id}/stream") for p in dash.asked)
    (key,) = dash.keys
    assert key and len(key) == 32 and int(key, 16) >= 0  # one key for the one submission

    dash.node("t3").click()
    drawer = page.locator("#drawer")
    drawer.locator(".output pre").wait_for()
    assert drawer.locator(".output pre").inner_text() == OUTPUT["t3"]  # text, not markup
    assert drawer.locator("h2").inner_text() == "t3"
    assert "Write the guide from both findings." in drawer.inner_text()
    drawer.locator(".call").first.wait_for()  # the prompt, fetched when the drawer opened
    assert "Your task: Write the guide" in drawer.locator(".call").first.text_content()
    page.locator(".tviewport .trow[data-task='t2']").click()  # a row opens its task too
    assert drawer.locator(".output pre").inner_text() == OUTPUT["t2"]

    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("img, main script").count() == 0
    assert PAYLOAD in page.locator(".run-head h1").inner_text()
    page.click("nav >> text=Runs")
    row = page.locator(f'tr[data-run="{run_id}"]')
    row.wait_for()
    assert PAYLOAD in row.inner_text() and "succeeded" in row.inner_text()
    dash.check()


def test_a_blocked_run_is_cancelled_from_its_page(dash, server):
    page = dash.page
    run_id = dash.start("Wait for a gate that never opens", "scripted:stuck")
    assert server.gates["stuck"].reached.wait(60)
    dash.node("t1").and_(page.locator(".st-running")).wait_for()
    page.get_by_role("button", name="Cancel", exact=True).click()
    page.locator(".run-head .pill.st-cancelled").wait_for()
    dash.node("t1").and_(page.locator(".st-cancelled")).wait_for()
    assert page.get_by_role("button", name="Cancel", exact=True).count() == 0
    started = dash.asked.count(f"/api/runs/{run_id}/stream")
    page.get_by_role("button", name="Resume", exact=True).click()  # it waits at the gate again
    dash.node("t1").and_(page.locator(".st-running")).wait_for()  # from a new stream's events
    assert dash.asked.count(f"/api/runs/{run_id}/stream") > started
    page.get_by_role("button", name="Cancel", exact=True).click()
    page.locator(".run-head .pill.st-cancelled").wait_for()
    page.click("nav >> text=Runs")
    page.locator(f'tr[data-run="{run_id}"] td').first.locator(".st-cancelled").wait_for()
    dash.check()


def test_a_thousand_tasks_are_lanes_and_a_list_of_the_rows_in_view(dash, server):
    page = dash.page
    page.goto(f"{server.url}/#/runs/{server.big}")
    page.wait_for_function(f"() => document.querySelectorAll("
                           f"'svg.graph.lanes [data-task].st-succeeded').length === {BIG}")
    assert page.locator("svg.graph.lanes g.lane").count() == 4
    page.locator(".run-head .pill.st-succeeded").wait_for()
    rows = page.locator(".tviewport .trow")
    shown = rows.count()
    assert 0 < shown < 60  # of 1,000
    page.locator(".tviewport").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    page.locator('.tviewport .trow[data-task="t999"]').wait_for()
    assert page.locator('.tviewport .trow[data-task="t0"]').count() == 0
    assert rows.count() < 60
    dash.node("t500").click()
    assert page.locator("#drawer h2").inner_text() == "t500"
    assert "Step 500 of the survey." in page.locator("#drawer").inner_text()
    dash.check()


def test_screenshot_for_the_docs(browser, server):
    """Writes docs/dashboard.png with DELEGATE_WRITE_SCREENSHOTS=1: a run page while its
    last task runs (each call takes about a second, as a real model's would)."""
    if os.environ.get("DELEGATE_WRITE_SCREENSHOTS") != "1":
        pytest.skip("set DELEGATE_WRITE_SCREENSHOTS=1 to write docs/dashboard.png")
    dash = Dashboard(browser, server, device_scale_factor=2)
    page = dash.page
    dash.start("Write a short guide to owls: what they eat and when they hunt", "scripted:shot")
    assert server.gates["shot"].reached.wait(60)
    dash.node("t4").and_(page.locator(".st-running")).wait_for()
    page.locator("canvas.timeline").scroll_into_view_if_needed()
    page.evaluate("() => window.scrollTo(0, 0)")
    bottom = page.locator("h2", has_text="Tasks").bounding_box()["y"] - 8
    target = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
    page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": 1280, "height": bottom},
                    full_page=True)
    server.gates["shot"].open()
    dash.check()
