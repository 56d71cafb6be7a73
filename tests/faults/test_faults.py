"""Fault injection: the real CLI against an OpenAI-compatible server that misbehaves.

Each scenario starts a :class:`~tests.faults.server.FaultServer` on 127.0.0.1 (seeded, with a
fault rate of 0.3 or 0.5) and runs ``delegate run --json`` (the general workflow) or
``delegate recommend --json`` against it, a dozen at a time: a third of them as
``python -m delegate`` in a new process, the others as children forked from one process that
imported delegate once (the same ``main``, exit code and output streams, without paying the
imports each time). For every run:

- exit code 0 or 1 (never 2 for these valid commands, never 70), no ``Traceback``;
- standard output is exactly one JSON object;
- every task of the plan has exactly one outcome, and statuses are honest: a task is
  ``succeeded`` only if the server gave one of its requests a good answer, the run is
  ``succeeded`` only if every task is, and then its text is an answer the server gave;
- every prompt that carries earlier results (a dependent worker's, the synthesizer's) carries
  only good answers the server sent, one per dependency, never an empty section or an error;
- from the server's own log: a body that got a 429 with ``Retry-After: N`` does not arrive
  again sooner than N seconds later (600 s, over the ceiling: not at all), and a body that got
  a 400 never arrives again (a call the client gave up on at its ``--timeout`` before it read
  the answer is the one exception, see :func:`_log_problems`).

Scenario ids say the command, the fault menu, the rate and the seed, so a failure names its
reproduction: the same seed and rate give the same faults for the same request bodies.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from delegate.core.retry import DEFAULT_MAX_RETRY_AFTER
from delegate.errors import (
    IncompleteResponseError,
    ModelConnectionError,
    ModelRequestError,
    ModelServerError,
    ModelTimeoutError,
    OutputValidationError,
    RateLimitError,
    is_transient,
)
from delegate.llm.openai_compat import OpenAICompatModel
from tests.llm.fakeserver import ASK, request_once

from .server import FAULTS, PLAN_FAULTS, TRANSPORT_FAULTS, FaultServer, Record

RATES = (0.3, 0.5)
TIMEOUT = 2  # the runs' --timeout; a hang holds a request longer than this
RUN_LIMIT = 180  # seconds before a run is killed and reported as hung
PARALLEL = 12  # runs at once: most of a run's time is spent waiting on the faults
GENERAL_WORKERS = {"researcher", "analyst", "writer", "critic"}
OBJECTIVES = (
    "Explain how tides work",
    "Compare two ways to back up a laptop",
    "Write a short guide to brewing green tea",
    "Summarise the causes of inflation",
    "Plan a weekend trip to a national park",
)
QUERIES = (
    "a warm jacket for winter hiking under $200",
    "my jacket tore at the seam, can you repair it?",
    "who makes your clothes and where?",
    "hello, what would you suggest for me?",
)
# words of an error message; none may reach a prompt as a result
ERROR_WORDS = ("HTTP 4", "HTTP 5", "rate limited", "Traceback", "Error:", "did not answer within",
               "could not reach", "cut off", "empty answer", "timed out", "server error")

# what Python prints when a run leaves a connection, a task or a loop behind
SHUTDOWN_NOISE = ("Exception ignored", "Task was destroyed", "Event loop is closed",
                  "Unclosed", "ResourceWarning", "coroutine was never awaited")


@dataclass(frozen=True)
class Scenario:
    """One CLI run against one fault server."""

    command: str  # "run" or "recommend"
    menu: str  # the name of the fault menu
    faults: tuple[str, ...]
    rate: float
    seed: int
    retry_after: float = 1.0

    @property
    def via(self) -> str:
        """``process``: ``python -m delegate`` in a new process; ``fork``: a child of the fork
        server (the same CLI, without paying the imports again)."""
        return "process" if self.seed % 3 == 0 else "fork"

    @property
    def id(self) -> str:
        return f"{self.command}-{self.menu}-rate{self.rate}-seed{self.seed}-{self.via}"

    def argv(self) -> list[str]:
        if self.command == "run":
            objective = f"{OBJECTIVES[self.seed % len(OBJECTIVES)]} (case {self.seed})"
            return ["run", "--json", "--no-store", "--model", "openai:fault", "--timeout",
                    str(TIMEOUT), "--workflow", "general", objective]
        query = f"{QUERIES[self.seed % len(QUERIES)]} (case {self.seed})"
        return ["recommend", "--json", "--no-store", "--model", "openai:fault", query]


def _scenarios() -> list[Scenario]:
    out: list[Scenario] = []
    for rate in RATES:
        out += [Scenario("run", "mixed", FAULTS, rate, seed) for seed in range(40)]
        out += [Scenario("run", "plans", PLAN_FAULTS, rate, seed) for seed in range(3)]
        out += [Scenario("run", "http400", ("bad_request",), rate, seed) for seed in range(3)]
        out += [Scenario("run", "retryafter600", ("rate_limit",), rate, seed, retry_after=600)
                for seed in range(3)]
        out += [Scenario("recommend", "mixed", FAULTS, rate, seed) for seed in range(8)]
    return out


SCENARIOS = _scenarios()


@dataclass
class Outcome:
    """What one run left: the process's exit code and output, and the server's log."""

    scenario: Scenario
    rc: int | None
    stdout: str
    stderr: str
    records: list[Record] = field(default_factory=list)
    good: set[str] = field(default_factory=set)
    seconds: float = 0.0  # how long the process ran (reported, never asserted)

    def reproduction(self) -> str:
        return (f"{self.scenario.id}: FaultServer(seed={self.scenario.seed}, "
                f"rate={self.scenario.rate}, faults={self.scenario.faults}, "
                f"retry_after={self.scenario.retry_after}); OPENAI_BASE_URL=<its url> "
                "OPENAI_API_KEY=test-key DELEGATE_BLOCK_MODEL_REQUESTS=0 delegate "
                + shlex.join(self.scenario.argv()))


# A process that has imported delegate once and forks a child per run: each child runs the
# CLI's main() as ``python -m delegate`` does (an exception escaping it prints its traceback
# and exits 1), with its own standard output and error, and exits through the interpreter's
# normal shutdown. Runs pay the run, not the imports, so many fit in the module's time.
FORK_SERVER = r"""
import json, os, sys, threading, time, traceback
import delegate.cli.commands, delegate.apps.general, delegate.apps.workflows
import delegate.apps.recommend.workflow
import delegate.llm.openai_compat, openai
import asyncio, h11, jiter

async def warm():  # what a first request loads: the client, its transport, its resources
    client = openai.AsyncOpenAI(api_key="x", base_url="http://127.0.0.1:9/v1", max_retries=0)
    try:
        await client.chat.completions.create(model="x", messages=[])
    except openai.OpenAIError:
        pass
    await client.close()

asyncio.run(warm())
lock = threading.Lock()
jobs = {}

def say(*words):
    with lock:
        sys.stdout.write(" ".join(map(str, words)) + "\n")
        sys.stdout.flush()

def reap():
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:  # no child right now
            time.sleep(0.05)
            continue
        with lock:
            job = jobs.pop(pid)
        say("done", job, os.waitstatus_to_exitcode(status))

def child(job):
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
    os.dup2(os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
    os.environ.update(job["env"])
    sys.argv = ["delegate", *job["argv"]]
    try:
        return delegate.cli.commands.main(job["argv"])
    except SystemExit as exc:
        return exc.code
    except BaseException:
        traceback.print_exc()
        return 1

threading.Thread(target=reap, daemon=True).start()
for line in sys.stdin:
    job = json.loads(line)
    with lock:
        pid = os.fork()
        if pid == 0:
            sys.exit(child(job))
        jobs[pid] = job["id"]
    say("start", job["id"], pid)
"""


class _ForkServer:
    """The fork server above, driven from the test's threads."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        base = {k: v for k, v in os.environ.items() if k != "DELEGATE_DEBUG"}
        self.proc = subprocess.Popen([sys.executable, "-c", FORK_SERVER], env=base, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._lock = threading.Lock()
        self._pids: dict[str, int] = {}
        self._codes: dict[str, int] = {}
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            what, job, value = line.split()
            with self._changed:
                (self._pids if what == "start" else self._codes)[job] = int(value)
                self._changed.notify_all()

    def run(self, job: str, argv: list[str], env: dict[str, str]) -> tuple[int | None, str, str]:
        out, err = self.tmp / f"{job}.out", self.tmp / f"{job}.err"
        line = json.dumps({"id": job, "argv": argv, "env": env, "stdout": str(out),
                           "stderr": str(err)})
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        with self._changed:
            finished = self._changed.wait_for(lambda: job in self._codes, RUN_LIMIT)
            rc = self._codes.get(job)
            if not finished and job in self._pids:
                os.kill(self._pids[job], signal.SIGKILL)
        return (rc, out.read_text() if out.exists() else "",
                err.read_text() if err.exists() else "")

    def close(self) -> None:
        """End of input: the server's loop ends and it exits (killed if it does not)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _run_one(scenario: Scenario, forks: _ForkServer | None) -> Outcome:
    with FaultServer(seed=scenario.seed, rate=scenario.rate, faults=scenario.faults,
                     retry_after=scenario.retry_after, hang_seconds=TIMEOUT + 1.0) as server:
        env = {"OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "test-key",
               "DELEGATE_BLOCK_MODEL_REQUESTS": "0"}
        started = time.monotonic()
        if forks is not None and scenario.via == "fork":
            rc, out, err = forks.run(scenario.id, scenario.argv(), env)
        else:
            full = {k: v for k, v in os.environ.items() if k != "DELEGATE_DEBUG"} | env
            try:
                proc = subprocess.run([sys.executable, "-m", "delegate", *scenario.argv()],
                                      capture_output=True, text=True, env=full,
                                      timeout=RUN_LIMIT, stdin=subprocess.DEVNULL)
                rc, out, err = proc.returncode, proc.stdout, proc.stderr
            except subprocess.TimeoutExpired as exc:
                rc = None
                out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
                err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return Outcome(scenario, rc, out, err, server.log(), server.good_answers(),
                       time.monotonic() - started)


class _Runs:
    """Runs the scenarios the session selected, all at once, the first time one is asked for."""

    def __init__(self, wanted: list[Scenario], tmp: Path) -> None:
        self.wanted = wanted
        self.tmp = tmp
        self._lock = threading.Lock()
        self._done: dict[str, Outcome] | None = None

    def get(self, scenario: Scenario) -> Outcome:
        return self.all()[scenario.id]

    def all(self) -> dict[str, Outcome]:
        with self._lock:
            if self._done is None:
                forks = (_ForkServer(self.tmp) if any(s.via == "fork" for s in self.wanted)
                         else None)
                try:
                    with ThreadPoolExecutor(PARALLEL) as pool:
                        done = pool.map(lambda s: _run_one(s, forks), self.wanted)
                        self._done = {o.scenario.id: o for o in done}
                finally:
                    if forks is not None:
                        forks.close()
            return self._done


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> _Runs:
    """The runs of the scenarios selected in this session (all of them when a test that
    looks at every run is selected)."""
    chosen: dict[str, Scenario] = {}
    everything = False
    for item in request.session.items:
        if item.module is not request.module:
            continue
        callspec = getattr(item, "callspec", None)
        scenario = callspec.params.get("scenario") if callspec else None
        if isinstance(scenario, Scenario):
            chosen[scenario.id] = scenario
        elif "runs" in getattr(item, "fixturenames", ()):
            everything = True
    return _Runs(SCENARIOS if everything else list(chosen.values()),
                 tmp_path_factory.mktemp("fault-runs"))


# --- the checks ---------------------------------------------------------------------------


def _results_regions(text: str) -> list[str]:
    """The parts of a prompt that carry earlier results: a worker's dependency results, the
    synthesizer's results of the tasks that succeeded."""
    regions = []
    if "Results you can build on:\n" in text:
        part = text.split("Results you can build on:\n", 1)[1]
        regions.append(re.split(r"\n\n(?:Context: |Your previous answer:)", part)[0])
    if text.startswith("Objective: ") and "\n\nResults:\n\n" in text:
        part = text.split("\n\nResults:\n\n", 1)[1]
        regions.append(re.split(r"\n\n(?:Work that did not complete:|The run stopped early)",
                                part)[0])
    return regions


def _sections(region: str) -> list[tuple[str, str]]:
    """``(task id, body)`` for each ``### id (worker)...`` section of a results region."""
    found = []
    for match in re.finditer(r"^### (\S+) \([\w-]+\)[^\n]*\n(.*?)(?=\n\n### |\Z)", region,
                             re.S | re.M):
        found.append((match.group(1), match.group(2)))
    return found


def _prompt_problems(o: Outcome, data: dict[str, Any] | None) -> list[str]:
    """Results passed to a dependent must be good answers the server sent, one per section."""
    problems = []
    tasks = {t["instruction"]: t for t in (data or {}).get("plan", {}).get("tasks", [])}
    succeeded = {x["task_id"] for x in (data or {}).get("outcomes", [])
                 if x["status"] == "succeeded"}
    for r in o.records:
        text = r.user_text
        for region in _results_regions(text):
            sections = _sections(region)
            headers = len(re.findall(r"^### ", region, re.M))
            if headers != len(sections) or not sections:
                problems.append(f"request {r.body_hash} has a results section it cannot read: "
                                f"{region[:200]!r}")
            for task_id, body in sections:
                if not body.strip():
                    problems.append(f"request {r.body_hash}: the result of {task_id} is empty")
                elif body not in o.good:
                    problems.append(f"request {r.body_hash}: the result of {task_id} is not an "
                                    f"answer the server gave: {body[:120]!r}")
                for word in ERROR_WORDS:
                    if word in body:
                        problems.append(f"request {r.body_hash}: the result of {task_id} "
                                        f"carries an error text ({word!r}): {body[:120]!r}")
            if text.startswith("Objective: "):  # the synthesizer: only tasks that succeeded
                for task_id, _ in sections:
                    if data is not None and task_id not in succeeded:
                        problems.append(f"the synthesizer was given {task_id}, which did not "
                                        "succeed")
            else:  # a worker: every dependency, each once
                mine = next((t for i, t in tasks.items() if f"Your task: {i}\n" in text
                             or text.endswith(f"Your task: {i}")), None)
                if mine is not None and sorted(t for t, _ in sections) != sorted(
                        mine["depends_on"]):
                    problems.append(f"{mine['id']} was given results of "
                                    f"{[t for t, _ in sections]}, not of {mine['depends_on']}")
        if o.scenario.command == "recommend":
            for word in ERROR_WORDS:
                if word in text:
                    problems.append(f"request {r.body_hash} carries an error text ({word!r})")
    return problems


def _log_problems(records: list[Record]) -> list[str]:
    """From the server's log: no retry before Retry-After, no retry of a permanent refusal.

    A 429 with ``Retry-After: N`` must not be followed by the same body sooner than N seconds
    after it arrived. A 400, or a 429 asking for more than the client's ceiling on
    ``Retry-After``, must not be followed by the same body at all, except for one case the
    server cannot tell apart from a retry by the body alone: the client gave up on the call
    after its ``--timeout`` (a starved machine can be that slow to read an answer) and rightly
    tried again. Such a retry comes ``--timeout`` seconds or more after the first arrival; one
    sooner is a retry of the refusal itself (the policy's back-off is shorter than that).
    """
    problems = []
    for n, r in enumerate(records):
        again = [later.at - r.at for later in records[n + 1:] if later.body_hash == r.body_hash]
        final = r.fault == "bad_request" or (
            r.fault == "rate_limit" and (r.retry_after or 0) > DEFAULT_MAX_RETRY_AFTER)
        if r.fault == "rate_limit" and r.retry_after is not None:
            early = [gap for gap in again if gap < r.retry_after - 0.05]
            if early and not (final and min(early) >= TIMEOUT):
                problems.append(f"body {r.body_hash} got 429 with Retry-After {r.retry_after:g}s "
                                f"and came again {min(early):.2f}s later")
        if r.fault == "bad_request" and any(gap < TIMEOUT for gap in again):
            problems.append(f"body {r.body_hash} got HTTP 400 and came again "
                            f"{min(again):.2f}s later")
    return problems


def _task_asked(records: list[Record], instruction: str) -> list[Record]:
    return [r for r in records if f"Your task: {instruction}\n" in r.user_text
            or r.user_text.endswith(f"Your task: {instruction}")]


def _json_problems(o: Outcome, data: dict[str, Any]) -> list[str]:
    problems = []
    run = o.scenario.command == "run"
    if "plan" not in data:  # the run ended before it had a plan: the error object
        if not data.get("error") or data.get("status") != "failed" or o.rc != 1:
            problems.append(f"no plan, and not a failed run with its error: {data!r:.300}")
        return problems
    tasks = data["plan"]["tasks"]
    outcomes = data.get("outcomes", [])
    ids = [t["id"] for t in tasks]
    for task_id in ids:
        n = sum(x["task_id"] == task_id for x in outcomes)
        if n != 1:
            problems.append(f"task {task_id} has {n} outcomes")
    extra = sorted({x["task_id"] for x in outcomes} - set(ids))
    if extra:
        problems.append(f"outcomes for tasks not in the plan: {extra}")
    ok = all(x["status"] == "succeeded" for x in outcomes)
    for x in outcomes:
        if x["status"] != "succeeded" and not (x.get("error") or "").strip():
            problems.append(f"task {x['task_id']} is {x['status']} with no error")
        if "\n" in (x.get("error") or ""):
            problems.append(f"task {x['task_id']}'s error is not one line")
    if o.rc == 0 and not ok:
        problems.append("exit 0 although some tasks did not succeed")
    if not run:
        return problems
    if (data.get("status") == "succeeded") != (o.rc == 0):
        problems.append(f"status {data.get('status')!r} with exit code {o.rc}")
    if data.get("status") == "succeeded" and not ok:
        problems.append("the run is succeeded although some tasks did not succeed")
    if data.get("status") == "succeeded" and data.get("text") not in o.good:
        problems.append(f"the run succeeded with a text the server never gave: "
                        f"{str(data.get('text'))[:120]!r}")
    if data["planning"]["source"] in ("model", "repaired"):
        plans = [json.loads(a) for a in o.good if a.startswith('{"tasks"')]
        if {"tasks": [{k: t[k] for k in ("id", "worker", "instruction", "depends_on")}
                      for t in tasks]} not in plans:
            problems.append("the plan that ran is not a plan the server gave")
    by_id = {t["id"]: t for t in tasks}
    for x in outcomes:
        if x["status"] != "succeeded" or x["worker"] not in GENERAL_WORKERS:
            continue
        asked = _task_asked(o.records, by_id[x["task_id"]]["instruction"])
        if not any(r.answer is not None for r in asked):
            problems.append(f"task {x['task_id']} is succeeded, but none of its "
                            f"{len(asked)} model call(s) got a good answer")
    return problems


def problems_of(o: Outcome) -> list[str]:
    """Everything wrong with one run; empty when it kept every promise."""
    problems = []
    if o.rc is None:
        problems.append(f"the run did not finish within {RUN_LIMIT}s")
    elif o.rc not in (0, 1):
        problems.append(f"exit code {o.rc}")
    if "Traceback" in o.stderr or "Traceback" in o.stdout:
        problems.append("a traceback was printed")
    for noise in SHUTDOWN_NOISE:
        if noise in o.stderr:
            problems.append(f"standard error shows {noise!r} (something left open or running)")
    data: dict[str, Any] | None = None
    try:
        value = json.loads(o.stdout)
    except ValueError:
        problems.append(f"standard output is not one JSON value: {o.stdout[:200]!r}")
    else:
        if isinstance(value, dict):
            data = value
            problems += _json_problems(o, data)
        else:
            problems.append(f"standard output is JSON but not an object: {o.stdout[:200]!r}")
    problems += _prompt_problems(o, data)
    problems += _log_problems(o.records)
    return problems


def _report(o: Outcome, problems: list[str]) -> str:
    faults = [r.fault for r in o.records if r.fault]
    return ("\n".join([o.reproduction(), f"exit code {o.rc}; faults injected: {faults}",
                       *(f"- {p}" for p in problems), "stderr (tail):", o.stderr[-3000:]]))


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_run_keeps_its_promises_under_faults(scenario: Scenario, runs: _Runs) -> None:
    outcome = runs.get(scenario)
    problems = problems_of(outcome)
    assert not problems, _report(outcome, problems)


def test_the_runs_met_every_fault(runs: _Runs) -> None:
    """At least 100 runs; every kind of fault was injected, at about the rate asked, and the
    runs ended in every status, so that the promises above were tested against each."""
    done = runs.all()
    assert len(done) >= 100
    injected = {r.fault for o in done.values() for r in o.records}
    assert set(FAULTS) <= injected, sorted(set(FAULTS) - injected)
    statuses = set()
    for o in done.values():
        with contextlib.suppress(ValueError):
            statuses.add(json.loads(o.stdout).get("status"))
    assert {"succeeded", "partial", "failed"} <= statuses, statuses
    for rate in RATES:
        records = [r for o in done.values() if o.scenario.rate == rate
                   and o.scenario.menu == "mixed" for r in o.records]
        share = sum(r.fault is not None for r in records) / len(records)
        assert abs(share - rate) < 0.1, (rate, share)


def test_a_retry_after_over_the_ceiling_is_not_waited_for(runs: _Runs) -> None:
    """A 429 asking for 600 s, over the ceiling, ends that call at once: the body does not
    come back (see :func:`_log_problems` for a timed-out call), and the run ends with its
    JSON (a run is killed after RUN_LIMIT seconds otherwise)."""
    done = [o for o in runs.all().values() if o.scenario.menu == "retryafter600"]
    hit = [r for o in done for r in o.records if r.fault == "rate_limit"]
    assert hit and all(r.retry_after == 600 for r in hit)
    for o in done:
        assert o.rc in (0, 1), _report(o, [])
        assert not _log_problems(o.records), _report(o, _log_problems(o.records))


# --- the server's faults are the real thing -------------------------------------------------

@pytest.mark.parametrize(("fault", "error"), [
    ("rate_limit", RateLimitError),
    ("server_500", ModelServerError),
    ("server_503", ModelServerError),
    ("reset", ModelConnectionError),
    ("hang", ModelTimeoutError),
    ("truncated", IncompleteResponseError),
    ("cut_json", IncompleteResponseError),
    ("empty", IncompleteResponseError),
    ("bad_request", ModelRequestError),
])
def test_each_fault_reaches_the_provider_as_its_error(fault: str, error: type) -> None:
    with FaultServer(seed=0, rate=1.0, faults=(fault,), hang_seconds=3.0) as server:
        model = OpenAICompatModel("fault", base_url=server.url, api_key="test-key", timeout=0.5)
        with pytest.raises(error) as caught:
            request_once(model, ASK)
    assert is_transient(caught.value) is (fault != "bad_request")
    assert "\n" not in str(caught.value)
    if fault == "rate_limit":
        assert caught.value.retry_after == 1.0
    assert [r.fault for r in server.log()] == [fault]


@pytest.mark.parametrize("fault", PLAN_FAULTS)
def test_a_bad_plan_is_refused_by_the_plan_schema(fault: str) -> None:
    from delegate.apps.general import general_workers
    from delegate.core.orchestrator import Orchestrator

    schema = Orchestrator(max_plan_tasks=5).schema(general_workers())
    with FaultServer(seed=0, rate=1.0, faults=(fault,)) as server:
        model = OpenAICompatModel("fault", base_url=server.url, api_key="test-key",
                                  max_repairs=0)
        with pytest.raises(OutputValidationError):
            request_once(model, ASK, output=schema)
    assert [r.kind for r in server.log()] == ["plan"]


def test_without_faults_every_answer_is_good() -> None:
    with FaultServer(seed=0, rate=0.0) as server:
        model = OpenAICompatModel("fault", base_url=server.url, api_key="test-key")
        text = request_once(model, ASK).text
    assert text.startswith("ANSWER-") and text in server.good_answers()
    assert set(TRANSPORT_FAULTS) <= set(FAULTS)


# --- the checks catch what they look for ----------------------------------------------------

_RUN = Scenario("run", "mixed", FAULTS, 0.3, 1)


def _record(at: float, body_hash: str, fault: str | None = None, *,
            retry_after: float | None = None, answer: str | None = None,
            user: str = "") -> Record:
    body = {"messages": [{"role": "user", "content": user}]}
    return Record(at, body_hash, "text", fault, retry_after, 200, answer, body)


def _summary(status: str, *outcomes: tuple[str, str], text: str = "") -> dict[str, Any]:
    tasks = [{"id": t, "worker": "writer", "instruction": f"Do {t}.", "depends_on": []}
             for t, _ in outcomes]
    return {
        "status": status, "planning": {"source": "fallback_plan"}, "text": text,
        "plan": {"tasks": tasks},
        "outcomes": [{"task_id": t, "worker": "writer", "status": s,
                      "error": None if s == "succeeded" else "ModelServerError: HTTP 500"}
                     for t, s in outcomes],
    }


def test_the_checks_catch_a_crash() -> None:
    crashed = Outcome(_RUN, 70, "", "Traceback (most recent call last):\n  ...")
    problems = problems_of(crashed)
    assert any("exit code 70" in p for p in problems)
    assert any("traceback" in p for p in problems)
    assert any("not one JSON value" in p for p in problems)
    two = Outcome(_RUN, 1, '{"status": "failed"}\n{"status": "failed"}', "")
    assert any("not one JSON value" in p for p in problems_of(two))
    leaked = Outcome(_RUN, 1, '{"status": "failed", "error": "x"}',
                     "Exception ignored in: <function _SelectorTransport.__del__>")
    assert any("left open" in p for p in problems_of(leaked))


def test_the_checks_catch_dishonest_outcomes() -> None:
    good = "ANSWER-1: fine."
    asked = [_record(0.0, "a", "empty", user="Your task: Do t1.")]
    lying = Outcome(_RUN, 0, json.dumps(_summary("succeeded", ("t1", "succeeded"))), "", asked,
                    {good})
    problems = problems_of(lying)
    assert any("none of its 1 model call(s) got a good answer" in p for p in problems)
    assert any("text the server never gave" in p for p in problems)
    summary = _summary("partial", ("t1", "succeeded"), ("t2", "failed"))
    summary["outcomes"].append(dict(summary["outcomes"][1], task_id="t3"))
    del summary["outcomes"][1]
    answered = [_record(0.0, "a", answer=good, user="Your task: Do t1.")]
    problems = problems_of(Outcome(_RUN, 1, json.dumps(summary), "", answered, {good}))
    assert "task t2 has 0 outcomes" in problems
    assert "outcomes for tasks not in the plan: ['t3']" in problems


def test_the_checks_catch_bad_results_in_a_prompt() -> None:
    good = "ANSWER-1: fine."

    def prompt(result: str) -> str:
        return (f"Overall objective: o\n\nYour task: Do t2.\n\nResults you can build on:\n"
                f"### t1 (researcher)\n{result}")

    for result, why in (("", "is empty"), ("openai:fault had a server error (HTTP 500)",
                                           "not an answer the server gave")):
        o = Outcome(_RUN, 0, "{}", "", [_record(0.0, "b", user=prompt(result))], {good})
        assert any(why in p for p in _prompt_problems(o, None)), (result, why)
    fine = Outcome(_RUN, 0, "{}", "", [_record(0.0, "b", user=prompt(good))], {good})
    assert _prompt_problems(fine, None) == []


def test_the_checks_catch_early_and_permanent_retries() -> None:
    assert _log_problems([_record(0.0, "c", "rate_limit", retry_after=1.0), _record(0.4, "c")])
    assert not _log_problems([_record(0.0, "c", "rate_limit", retry_after=1.0),
                              _record(1.1, "c")])
    assert _log_problems([_record(0.0, "d", "bad_request"), _record(0.6, "d")])
    assert _log_problems([_record(0.0, "e", "rate_limit", retry_after=600), _record(1.5, "e")])
    # a call the client gave up on after its timeout is rightly tried again
    assert not _log_problems([_record(0.0, "d", "bad_request"), _record(TIMEOUT + 0.4, "d")])
