"""How long a run's event takes to reach the dashboard's screen, on a run of 1,000 tasks.

    python bench/server_latency.py [--tasks 1000] [--delay 0.05] [--concurrency 16]

A real server (``create_app`` on a SQLite store, under uvicorn on 127.0.0.1) runs a plan of
``--tasks`` independent ``researcher`` tasks (a worker of the general workflow) on a scripted
model that answers each task after ``--delay`` seconds, ``--concurrency`` at once, while the
dashboard's run page follows it in headless Chromium (Debian's ``chromium`` through
Playwright).

The general workflow's planner writes at most 5 tasks (and its limits allow 20), and the API's
options cannot raise that: a plan of 1,000 is refused and the fallback plan runs instead (the
warm-up run, ``POST /api/runs/wait`` with the same model, shows it). So the 1,000-task plan is
given to :func:`delegate.run` with the general workflow's workers and ``PlanLimits`` raised,
journaled on the server's own store and run on the server's own event loop (the loop its
routes, streams and API runs share), the way the server runs a run, less the API call that
starts it. The page is opened on the run before its first event, so every event reaches it
live through ``GET /api/runs/{id}/stream``.

Measured for each stored event: from the time it carries (``at``, set when it is emitted,
just before the journal commits it) to the end of the first animation frame after the page's
stream handler took it (the frame whose callbacks drew it: the dashboard draws what events
changed once per frame). The page is instrumented from outside (an init script wraps
``EventSource`` listeners and adds a frame probe), the dashboard is not changed. Also: the
first recolouring of each task's node in the plan drawing (a ``MutationObserver`` on
``data-status``) after its ``TaskStarted``/``TaskFinished``, and how responsive the page
stayed: Chromium's ``longtask`` entries (main-thread tasks over 50 ms) and the longest gap
between two animation frames while the run went on. Writes
``bench/results/server_latency.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import time
from typing import Any

from harness import BENCH_DIR, machine, markdown_table, served

RESULTS = BENCH_DIR / "results"
TOKEN = "bench-token-0123456789abcdef"

#: Runs in the page before the dashboard: times each stream message, probes the frame that
#: follows it, and records recolourings, long tasks and frame gaps.
PROBE = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const lat = window.__lat = { got: [], frames: [], marks: [], long: [], open: false,
                               ended: false };
  let waiting = [];  // indexes into got that wait for their frame
  const frame = () => {
    const t = now();
    for (const i of waiting) lat.got[i][3] = t;
    waiting = [];
  };
  const Plain = window.EventSource;
  class Timed extends Plain {
    constructor(...args) {
      super(...args);
      super.addEventListener('open', () => { lat.open = true; });
    }
    addEventListener(type, fn, options) {
      if (typeof fn !== 'function') return super.addEventListener(type, fn, options);
      return super.addEventListener(type, (e) => {
        const t0 = now();
        try { fn.call(this, e); } finally {
          if (type === 'end') lat.ended = true;
          lat.got.push([e.lastEventId, type, t0, null]);
          if (!waiting.length) requestAnimationFrame(frame);  // after the page's own
          waiting.push(lat.got.length - 1);
        }
      }, options);
    }
  }
  window.EventSource = Timed;
  let last = null;
  const tick = () => {
    const t = now();
    if (last !== null) lat.frames.push(t - last);
    last = t;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  new MutationObserver((records) => {
    const t = now();
    for (const r of records) {
      const id = r.target.getAttribute && r.target.getAttribute('data-task');
      if (id !== null) lat.marks.push([id, r.target.getAttribute('data-status'), t]);
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-status'] });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) lat.long.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch (err) { lat.long = null; }
})();
"""


def plan_of(tasks: int) -> dict[str, Any]:
    return {"tasks": [{"id": f"t{i}", "worker": "researcher", "depends_on": [],
                       "instruction": f"Find fact {i}."} for i in range(tasks)]}


class Bench:
    """The scripted model: it plans ``tasks`` researcher tasks and answers each call after
    ``delay`` seconds; it keeps the event loop it was called on (the server's)."""

    def __init__(self, tasks: int, delay: float) -> None:
        self.plan, self.delay = plan_of(tasks), delay
        self.loop: asyncio.AbstractEventLoop | None = None

    def model(self) -> Any:
        from delegate.llm.scripted import ScriptedModel

        async def answer(call: Any) -> Any:
            self.loop = asyncio.get_running_loop()
            if isinstance(call.output, dict):
                return self.plan
            await asyncio.sleep(self.delay)
            return "Owls hunt at night and see well in the dark."

        return ScriptedModel(function=answer)


def pct(values: list[float], q: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, max(0, round(q * (len(data) - 1))))]


def figures(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": statistics.median(values), "p95": pct(values, 0.95),
            "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    chromium = os.environ.get("DELEGATE_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        raise SystemExit("no chromium binary (apt-get install chromium)")
    import httpx
    from playwright.sync_api import sync_playwright

    from delegate import PlanLimits, RunConfig, run
    from delegate.apps.general import general_workers
    from delegate.core.plan import Plan, Task
    from delegate.durable.journal import Journal
    from delegate.runtime import Runtime

    bench = Bench(args.tasks, args.delay)
    runtime = Runtime()
    runtime.add_model("scripted:bench", bench.model())
    with served(runtime, TOKEN) as (url, app):
        info = machine()
        with httpx.Client(base_url=url, timeout=120,
                          headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            warm = client.post("/api/runs/wait", json={
                "workflow": "general", "objective": "Warm up", "model": "scripted:bench"}).json()
        warm_tasks = len((warm.get("plan") or {}).get("tasks") or [])
        store, loop = app.state.store, bench.loop
        objective = f"A survey in {args.tasks} steps"
        journal = Journal.start(store, kind="general", request={"argv": ["run", objective]})
        journal.create(objective)
        plan = Plan(tasks=tuple(Task(id=t["id"], worker=t["worker"], instruction=t["instruction"])
                                for t in bench.plan["tasks"]))

        async def big() -> str:
            async with journal.running():
                result = await run(objective, plan=plan, journal=journal, model=bench.model(),
                                   workers=general_workers(),
                                   config=RunConfig(max_concurrency=args.concurrency,
                                                    limits=PlanLimits(max_tasks=args.tasks)))
            return result.status

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script(PROBE)
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.goto(f"{url}/?token={TOKEN}")
            page.wait_for_selector("table.runs tbody tr")
            page.goto(f"{url}/#/runs/{journal.run_id}")
            page.wait_for_function("() => window.__lat && window.__lat.open")
            page.evaluate("() => { window.__lat.frames = [];\n"
                          "  window.__lat.long = window.__lat.long && []; }")
            started = time.perf_counter()
            status = asyncio.run_coroutine_threadsafe(big(), loop).result(600)
            wall = time.perf_counter() - started
            page.wait_for_function("() => window.__lat.ended", timeout=120_000)
            page.wait_for_timeout(300)  # the last frames
            lat = page.evaluate("() => window.__lat")
            browser.close()
        stored = store.events(journal.run_id)
    return report(args, info, stored, lat, problems, status, wall, warm_tasks)


def report(args: Any, info: dict[str, Any], stored: list[dict[str, Any]], lat: dict[str, Any],
           problems: list[str], status: str, wall: float, warm_tasks: int) -> int:
    at = {str(e["seq"]): (e["kind"], e["data"].get("at")) for e in stored}
    seen = {seq: (t0, t1) for seq, kind, t0, t1 in lat["got"] if seq in at}
    every, wire, page_side, by_kind = [], [], [], {}
    for seq, (kind, when) in at.items():
        if seq not in seen or when is None or seen[seq][1] is None:
            continue
        t0, t1 = seen[seq]
        every.append(t1 - when * 1e3)
        wire.append(t0 - when * 1e3)
        page_side.append(t1 - t0)
        by_kind.setdefault(kind, []).append(t1 - when * 1e3)
    later = {"running": ("running", "succeeded", "failed"), "succeeded": ("succeeded",)}
    first: dict[tuple[str, str], float] = {}
    for task, state, t in lat["marks"]:
        for want, shown in later.items():
            if state in shown:
                first.setdefault((task, want), t)
    nodes = []
    for e in stored:
        want = {"TaskStarted": "running", "TaskFinished": "succeeded"}.get(e["kind"])
        key = (str(e["data"].get("task_id")), want or "")
        if want and key in first:
            nodes.append(first[key] - e["data"]["at"] * 1e3)
    long = lat["long"]
    frames = lat["frames"]
    result = {
        "events_stored": len(stored), "events_measured": len(every),
        "event_to_frame_ms": figures(every), "event_to_handler_ms": figures(wire),
        "handler_to_frame_ms": figures(page_side),
        "by_kind_ms": {k: figures(v) for k, v in sorted(by_kind.items())},
        "node_recoloured_ms": figures(nodes) if nodes else None,
        "longtasks": None if long is None else {
            "count": len(long), "longest_ms": max((d for _, d in long), default=0.0),
            "total_ms": sum(d for _, d in long)},
        "frames": {"count": len(frames), "longest_gap_ms": max(frames, default=0.0),
                   "median_gap_ms": statistics.median(frames) if frames else None},
        "run_status": status, "run_wall_s": wall, "page_errors": problems,
        "warm_up_plan_tasks": warm_tasks}
    command = (f"python bench/server_latency.py --tasks {args.tasks} --delay {args.delay:g} "
               f"--concurrency {args.concurrency}")
    where = (f"{info['date']}, commit {info.get('git_commit')}, {info.get('cores')} cores "
             f"({info.get('cpu')}), Python {info.get('python')}, one-minute load average "
             f"{info['load_average'][0]:.1f} at the start")

    def row(name: str, f: dict[str, float] | None) -> list[str]:
        if f is None:
            return [name, "-", "-", "-", "-"]
        return [name, str(f["n"]), f"{f['p50']:.1f}", f"{f['p95']:.1f}", f"{f['max']:.1f}"]

    rows = [row("event emitted -> frame that drew it (all events)", result["event_to_frame_ms"]),
            row("  of which: emitted -> page's stream handler", result["event_to_handler_ms"]),
            row("  of which: handler -> end of that frame", result["handler_to_frame_ms"]),
            row("task node recoloured (TaskStarted, TaskFinished)",
                result["node_recoloured_ms"])]
    rows += [row(f"  {k}", v) for k, v in result["by_kind_ms"].items()]
    lt = result["longtasks"]
    lt_text = ("Chromium gave no longtask entries (unsupported)" if lt is None else
               f"{lt['count']} main-thread tasks over 50 ms, the longest {lt['longest_ms']:.0f}"
               f" ms, {lt['total_ms']:.0f} ms in all")
    text = "\n".join([
        "# Event-to-screen latency of the dashboard", "",
        f"`{command}`: {args.tasks} independent researcher tasks, each answered after "
        f"{args.delay * 1e3:.0f} ms, {args.concurrency} at once, run {status} in "
        f"{wall:.1f} s on the server's loop and store (SQLite) while the run page followed it "
        f"in headless Chromium; {where}.", "",
        f"{result['events_measured']} of {result['events_stored']} stored events measured.", "",
        markdown_table(["from the event's `at` to", "events", "p50 ms", "p95 ms", "max ms"],
                       rows), "",
        f"Responsiveness while the run went on: {lt_text}; the longest gap between two "
        f"animation frames {result['frames']['longest_gap_ms']:.0f} ms (median "
        f"{result['frames']['median_gap_ms'] or 0:.1f} ms over {result['frames']['count']} "
        f"frames). Page errors: {len(problems)}.", "",
        f"The general workflow's planner refused the {args.tasks}-task plan (its warm-up run "
        f"through `POST /api/runs/wait` ran the fallback plan of {warm_tasks} tasks), so the "
        "plan is given to `delegate.run` with the general workers and `PlanLimits` raised, "
        "journaled on the server's store and run on the server's event loop (see the "
        "script's docstring).", ""])
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "server_latency.md").write_text(text, encoding="utf-8")
    (RESULTS / "server_latency.json").write_text(json.dumps(
        {"command": command, "machine": info, **result}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
