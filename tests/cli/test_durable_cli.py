"""Durable runs through real ``delegate`` processes: SIGKILL, resume, cache, secrets.

The model is an OpenAI-compatible server this test starts on 127.0.0.1. It answers from the
request's content, so any two runs get the same answers, and it logs every call it receives
and every answer it completes to a file, outside the ``delegate`` process. A gate holds back
the answer to the last task, so the test can kill the process while that task is in flight.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from delegate.durable.store import open_store
from tests.llm.fakeserver import openai_chat

ROOT = Path(__file__).resolve().parents[2]
CANARY = "sk-canary-0d1e2a3d4b5e6e7f"
OBJECTIVE = "Write a short note about knots"
PLAN = {"tasks": [
    {"id": "t1", "worker": "researcher", "instruction": "Gather facts about knots",
     "depends_on": []},
    {"id": "t2", "worker": "researcher", "instruction": "Gather uses of knots",
     "depends_on": []},
    {"id": "t3", "worker": "writer", "instruction": "Join the findings into a note",
     "depends_on": ["t1", "t2"]},
]}


class ModelServer:
    """Answers chat completions from their content; logs to ``log`` as JSON lines."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.usage = {"prompt_tokens": 11, "completion_tokens": 7}
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()  # set when the gated request has arrived
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                key = hashlib.sha256(json.dumps(body["messages"], sort_keys=True)
                                     .encode()).hexdigest()[:16]
                server.write({"event": "received", "key": key})
                user = body["messages"][-1]["content"]
                if "response_format" in body:
                    content = json.dumps(PLAN)
                elif "Your task: " in user:
                    task = user.split("Your task: ")[1].split("\n")[0]
                    if task.startswith("Join"):
                        server.held.set()
                        server.gate.wait(60)
                    content = f"Answer to '{task}' ({len(user)} characters read)."
                else:
                    content = f"Final note from {len(user)} characters of results."
                data = json.dumps(openai_chat(content, **server.usage)).encode()
                try:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:  # the client was killed while we waited
                    return
                server.write({"event": "answered", "key": key})

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def write(self, entry: dict) -> None:
        with self.lock, self.log.open("a") as f:
            f.write(json.dumps(entry) + "\n")

    def entries(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def close(self) -> None:
        self.gate.set()
        self.httpd.shutdown()


@pytest.fixture
def server(tmp_path):
    s = ModelServer(tmp_path / "calls.jsonl")
    yield s
    s.close()


def env_for(server: ModelServer) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OPENAI_BASE_URL": server.url,
           "OPENAI_API_KEY": CANARY, "DELEGATE_BLOCK_MODEL_REQUESTS": "0"}
    env.pop("DELEGATE_MODEL", None)
    return env


def delegate(*args: str, env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "delegate", *args], capture_output=True,
                          text=True, env=env, timeout=300, **kw)


RUN = ("run", "--workflow", "general", "--model", "openai:test-model", "--json", "--quiet",
       OBJECTIVE)


def test_a_run_killed_with_sigkill_resumes_without_repeating_finished_calls(server, tmp_path):
    env = env_for(server)
    clean = delegate(*RUN, "--store", str(tmp_path / "clean.db"), env=env)
    assert clean.returncode == 0, clean.stderr
    uninterrupted = json.loads(clean.stdout)
    server.log.unlink()

    store_path = tmp_path / "store.db"
    server.gate.clear()
    server.held.clear()
    proc = subprocess.Popen([sys.executable, "-m", "delegate", *RUN, "--store", str(store_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.held.wait(120), "the last task never reached the model"
    finally:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    before = server.entries()
    answered_before = {e["key"] for e in before if e["event"] == "answered"}
    assert len(answered_before) == 3  # the plan and the two gathering tasks

    listing = delegate("runs", "list", "--store", str(store_path), env=env)
    assert listing.returncode == 0 and "interrupted" in listing.stdout  # its owner died
    run_id = listing.stdout.splitlines()[1].split()[0]

    server.gate.set()
    resumed = delegate("runs", "resume", run_id, "--json", "--store", str(store_path), env=env)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout)
    assert final["text"] == uninterrupted["text"]
    assert [o["status"] for o in final["outcomes"]] == ["succeeded"] * 3
    assert "2 task(s) restored, 1 model call(s) replayed" in resumed.stderr

    entries = server.entries()
    answered = [e["key"] for e in entries if e["event"] == "answered"]
    for key in answered_before:  # each call that had completed happened exactly once
        assert answered.count(key) == 1
    received_again = [e["key"] for e in entries[len(before):] if e["event"] == "received"]
    assert len(received_again) == 2  # the task in flight, once, and the synthesis

    store = open_store(str(store_path))
    record = store.get_run(run_id)
    assert record.status == "succeeded" and record.owner is None
    outcomes = store.outcomes(record.run_id)
    assert sorted(outcomes) == ["t1", "t2", "t3"]
    assert {o["status"] for o in outcomes.values()} == {"succeeded"}
    store.close()

    # nowhere a key: not in the store file, its journal, nor anything the processes printed
    for path in tmp_path.glob("*.db*"):
        assert CANARY.encode() not in path.read_bytes(), path.name
    for text in (clean.stdout, clean.stderr, out, err, listing.stdout, resumed.stdout,
                 resumed.stderr):
        assert CANARY not in text


def test_a_second_resume_of_a_run_being_resumed_is_refused(server, tmp_path):
    env = env_for(server)
    store_path = tmp_path / "store.db"
    server.gate.clear()
    killed = subprocess.Popen([sys.executable, "-m", "delegate", *RUN, "--store",
                               str(store_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    assert server.held.wait(120)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    run_id = open_store(str(store_path)).list_runs()[0].run_id

    server.held.clear()
    first = subprocess.Popen([sys.executable, "-m", "delegate", "runs", "resume", run_id,
                              "--store", str(store_path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.held.wait(120)  # the first resume is waiting on the last task
        second = delegate("runs", "resume", run_id, "--store", str(store_path), env=env)
    finally:
        server.gate.set()
        first.communicate(timeout=120)
    assert first.returncode == 0
    assert second.returncode == 2
    assert "is owned by process" in second.stderr and "Traceback" not in second.stderr
    assert second.stderr.count("\n") == 1
    again = delegate("runs", "resume", run_id, "--store", str(store_path), env=env)
    assert again.returncode == 2 and "already succeeded" in again.stderr


def test_the_same_temperature_zero_run_costs_no_model_calls_the_second_time(server, tmp_path):
    env = env_for(server)
    store = str(tmp_path / "store.db")
    first = delegate(*RUN, "--store", store, env=env)
    calls = len(server.entries())
    second = delegate(*RUN, "--store", store, env=env)
    assert first.returncode == second.returncode == 0
    assert len(server.entries()) == calls  # the server heard nothing new
    usage = json.loads(second.stdout)["usage"]
    assert usage["model_calls"] == 0 and usage["cache_hits"] == 5
    assert json.loads(second.stdout)["text"] == json.loads(first.stdout)["text"]
    third = delegate(*RUN, "--store", store, "--no-cache", env=env)
    assert json.loads(third.stdout)["usage"]["model_calls"] == 5


def test_history_lists_shows_and_exports_runs(server, tmp_path):
    env = env_for(server)
    store = str(tmp_path / "store.db")
    assert delegate(*RUN, "--store", store, env=env).returncode == 0
    run_id = open_store(store).list_runs()[0].run_id
    show = delegate("runs", "show", run_id[:6], "--store", store, env=env)
    assert show.returncode == 0
    for expected in (run_id, "plan v1", "t3 [writer] after t1, t2", "t1: succeeded",
                     "usage: 5 model calls"):
        assert expected in show.stdout
    export = json.loads(delegate("runs", "export", run_id, "--store", store, env=env).stdout)
    assert export["run_id"] == run_id and export["status"] == "succeeded"
    assert len(export["model_calls"]) == 5 and export["events"][0]["kind"] == "RunStarted"
    assert export["result"]["text"]
    missing = delegate("runs", "show", "ffffffff", "--store", store, env=env)
    assert missing.returncode == 2 and "no run has an id" in missing.stderr


def test_a_token_budget_stops_the_run_and_the_report_shows_it(server, tmp_path):
    env = env_for(server)
    server.usage = {"prompt_tokens": 200, "completion_tokens": 100}  # 300 a call
    store, report = str(tmp_path / "store.db"), tmp_path / "out" / "run.html"
    # planning and the two gathering tasks fit in 1,200; the writer (up to 600 more) does not
    stopped = delegate(*RUN, "--store", store, "--budget-tokens", "1200", "--report",
                       str(report), env=env)
    assert stopped.returncode == 1, stopped.stderr
    data = json.loads(stopped.stdout)
    assert data["budget_reached"].startswith("token budget of 1,200 reached: 900 used")
    assert [o["status"] for o in data["outcomes"]] == ["succeeded", "succeeded", "failed"]
    assert data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"] == 900
    assert "## Missing" in data["text"] and "t3 (writer): failed" in data["text"]
    html = report.read_text(encoding="utf-8")
    assert data["run_id"] in html and "t3" in html
    again = tmp_path / "again.html"
    made = delegate("runs", "report", data["run_id"][:8], "--out", str(again), "--store", store,
                    env=env)
    assert made.returncode == 0 and again.read_text(encoding="utf-8") == html


@pytest.mark.parametrize("args, message", [
    (("--rate-limit", "openai=fast"), "rate limit"),
    (("--trace-content",), "--trace-content needs --trace"),
    (("--budget-tokens", "0"), "tokens budget must be a positive number"),
    (("--report", "out.html", "--no-store"), "--report needs the run store"),
])
def test_bad_run_options_are_one_clear_line(server, args, message, capsys):
    from delegate.cli.commands import main

    assert main([*RUN, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
