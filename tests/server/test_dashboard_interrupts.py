"""The dashboard's plan approval in a real headless Chromium (Debian's ``chromium``, driven by
Playwright) against a real server under uvicorn: a run started from the form with
``approve_plan`` ends ``waiting`` (its badge in the runs list); on its page the plan editor
checks the plan as it is typed (a repeated id, an empty instruction, a cycle, a dependency on a
removed task: shown on the row, "Approve edited" disabled); a task removed and a dependency
changed are approved, and the page follows plan version 2 to success live.

The test fails on a request to any host but the server and on any console error."""

from __future__ import annotations

import threading
from typing import Any

import pytest

pytest.importorskip("uvicorn")

from delegate import ScriptedModel
from delegate.runtime import Runtime
from delegate.server import create_app
from tests.observe.test_run_report import chromium_path
from tests.server._serve import TOKEN, free_port, uvicorn_server
from tests.server.test_dashboard_browser import PLAN, Dashboard, Served

OUTPUT = {"t1": "Owls eat mice.", "t2": "Owls hunt at night.", "t3": "Owls: a guide.",
          "t4": "No errors."}


def planner(asked: list[str]) -> ScriptedModel:
    """Plans the four tasks of :data:`PLAN`; each worker call is noted in ``asked`` by the
    task it is for."""
    lock = threading.Lock()

    def answer(call: Any) -> Any:
        if isinstance(call.output, dict):
            return PLAN
        for task in PLAN["tasks"]:
            if f"Your task: {task['instruction']}" in call.last_user:
                with lock:
                    asked.append(task["id"])
                return OUTPUT[task["id"]]
        return "Owls hunt at night and eat small animals."

    return ScriptedModel(function=answer)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("approve") / "runs.db")
    asked: list[str] = []
    runtime = Runtime()
    runtime.add_model("scripted:plan", planner(asked))
    port = free_port()
    app = create_app(path, token=TOKEN, port=port, recover=False, runtime=runtime)
    with uvicorn_server(app, port):
        served = Served(f"http://127.0.0.1:{port}", {}, "")
        served.asked = asked
        yield served


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def test_a_plan_is_edited_in_the_dashboard_and_version_2_runs_to_success(browser, server):
    dash = Dashboard(browser, server)
    page = dash.page
    page.click("nav >> text=New run")
    page.wait_for_selector('[name="objective"]')
    page.select_option('[name="workflow"]', "general")
    page.fill('[name="objective"]', "A short guide to owls")
    page.fill('[name="model"]', "scripted:plan")
    page.check('[name="options.approve_plan"]')
    page.click("button[type=submit]")
    page.wait_for_url("**/#/runs/*")
    run_id = page.url.rsplit("/", 1)[-1]

    page.locator(".run-head .pill.st-waiting").wait_for()
    editor = page.locator('section.interrupt[data-interrupt="plan:1"]')
    editor.wait_for()
    assert server.asked == []  # no worker starts before the answer
    rows = editor.locator("tbody tr")
    assert rows.count() == 4
    assert editor.locator('tbody input[name="id"]').evaluate_all(
        "els => els.map(e => e.value)") == ["t1", "t2", "t3", "t4"]
    workers = editor.locator('tbody tr').nth(2).locator('select[name="worker"] option')
    assert workers.all_inner_texts() == ["researcher", "writer", "critic"]  # those of the plan
    approve_edited = editor.get_by_role("button", name="Approve edited")
    assert approve_edited.is_disabled()  # nothing changed yet
    assert editor.get_by_role("button", name="Approve as is").is_enabled()

    # checked as it is typed: a repeated id and an empty instruction on a new task
    editor.get_by_role("button", name="+ Add a task").click()
    assert rows.count() == 5
    new = rows.nth(4)
    new.locator('input[name="id"]').fill("t1")
    assert "t1 is used by another task" in new.locator(".row-problems").inner_text()
    assert "instruction: empty" in new.locator(".row-problems").inner_text()
    assert "used by another task" in rows.nth(0).locator(".row-problems").inner_text()
    assert approve_edited.is_disabled()
    new.get_by_role("button", name="Remove").click()
    assert rows.count() == 4 and rows.nth(0).locator(".row-problems").inner_text() == ""
    assert approve_edited.get_attribute("title") == "nothing was changed"

    # a cycle: t1 depends on t4, which depends (through t3) on t1
    t1 = rows.nth(0)
    t1.locator('label.dep', has_text="t4").locator("input").check()
    assert "a cycle" in t1.locator(".row-problems").inner_text()
    assert "a cycle: " in editor.locator(".plan-problems").inner_text()
    assert approve_edited.is_disabled()
    t1.locator('label.dep', has_text="t4").locator("input").uncheck()
    assert t1.locator(".row-problems").inner_text() == ""

    # remove t2: t3 still names it, shown on t3's row until its dependency is changed
    rows.nth(1).get_by_role("button", name="Remove").click()
    t3 = rows.nth(1)
    assert "depends on t2, which is not in the plan" in t3.locator(".row-problems").inner_text()
    assert approve_edited.is_disabled()
    t3.locator("label.dep.lost", has_text="t2").locator("input").uncheck()
    assert t3.locator(".row-problems").inner_text() == ""
    t4 = rows.nth(2)
    t4.locator("label.dep", has_text="t1").locator("input").check()  # t4 needs t1 as well
    editor.locator('input[name="reason"]').fill("one finding is enough")
    editor.locator('input[name="by"]').fill("ana")
    assert approve_edited.is_enabled()
    approve_edited.click()

    # the server carries the run on; the page follows plan version 2 live
    for task in ("t1", "t3", "t4"):
        dash.node(task).and_(page.locator(".st-succeeded")).wait_for()
    page.locator(".run-head .pill.st-succeeded").wait_for()
    assert dash.node("t2").count() == 0
    assert page.locator("section.interrupt").count() == 0
    versions = page.locator("h2:has-text('Plan versions') + div tbody tr")
    versions.nth(1).wait_for()
    assert versions.nth(1).locator("td").nth(0).inner_text() == "2"
    assert sorted(server.asked) == ["t1", "t3", "t4"]  # t2 never ran
    streams = [p for p in dash.asked if p.startswith(f"/api/runs/{run_id}/stream")]
    assert len(streams) >= 2  # the waiting run's stream ended; the page followed the resume
    assert f"/api/runs/{run_id}/interrupts/plan%3A1" in dash.asked
    stored = page.evaluate(f"async () => (await fetch('/api/runs/{run_id}')).json()")
    assert stored["plan"]["version"] == 2
    assert [(t["id"], t["worker"], t["depends_on"]) for t in stored["plan"]["tasks"]] == [
        ("t1", "researcher", []), ("t3", "writer", ["t1"]), ("t4", "critic", ["t3", "t1"])]
    assert stored["plan_versions"][-1]["reason"].endswith("one finding is enough")
    (answered,) = page.evaluate(
        f"async () => (await (await fetch('/api/runs/{run_id}/interrupts')).json()).interrupts")
    assert answered["answered_by"] == "ana" and answered["answer"]["action"] == "edit"

    page.click("nav >> text=Runs")
    page.locator(f'tr[data-run="{run_id}"] td').first.locator(".st-succeeded").wait_for()
    dash.check()


def test_a_waiting_run_has_its_badge_in_the_runs_list_and_a_rejection_ends_it(browser, server):
    dash = Dashboard(browser, server)
    page = dash.page
    started = page.evaluate("""async () => {
        const r = await fetch('/api/runs', {method: 'POST', headers: {'Content-Type':
          'application/json'}, body: JSON.stringify({workflow: 'general', objective:
          'Owls, to be rejected', model: 'scripted:plan', options: {approve_plan: true}})});
        return (await r.json()).run_id; }""")
    page.click("nav >> text=Runs")
    page.locator(f'tr[data-run="{started}"] td').first.locator(".st-waiting").wait_for()
    page.locator(f'tr[data-run="{started}"] a').click()
    editor = page.locator('section.interrupt[data-interrupt="plan:1"]')
    editor.wait_for()
    editor.locator('input[name="reason"]').fill("not owls today")
    editor.get_by_role("button", name="Reject").click()
    page.locator(".run-head .pill.st-cancelled").wait_for()
    assert "not owls today" in page.locator("#view").inner_text()
    dash.check()
