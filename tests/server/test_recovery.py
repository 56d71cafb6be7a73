"""Crash recovery of ``delegate serve`` with real processes: the server is killed with SIGKILL
over and over while it runs, started again on the same store and port, and carries its runs
on by itself.

The model is the OpenAI-compatible server of the durable CLI tests, which logs each call it
receives and answers; here it also waits a small seeded time before each answer, so the kills
(each after a seeded model-server event and a seeded delay) land in planning, while tasks are
in flight, between calls and in synthesis. A reader follows each run's event stream through
the kills, reconnecting with ``Last-Event-ID``. At the end every run succeeded, what the
reader got is exactly the store's events, and no model call that was answered and stored
before a kill was made again after it.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
import httpx

from delegate.client import Client
from delegate.durable.store import open_store
from tests.cli.test_durable_cli import ModelServer, env_for
from tests.server._serve import AUTH, TOKEN, free_port

SEED = 15
KILLS = 20
#: seconds any one wait may take before the test fails (a hang fails, it does not hang)
BOUND = 60.0


class SlowModelServer(ModelServer):
    """The durable tests' model server, answering each call after a seeded delay, and keeping
    its log in memory too, so the test can wait for its events."""

    def __init__(self, log: Path, seed: int) -> None:
        self.seen: list[dict] = []
        self.cond = threading.Condition()
        self.rng = random.Random(seed)
        super().__init__(log)

    def write(self, entry: dict) -> None:
        super().write(entry)
        with self.cond:
            self.seen.append(entry)
            self.cond.notify_all()
            delay = self.rng.uniform(0.02, 0.12) if entry["event"] == "received" else 0.0
        time.sleep(delay)  # before the answer is sent

    def wait_for(self, event: str, count: int, done: threading.Event) -> bool:
        """Wait until ``count`` entries of ``event`` are logged (True) or ``done`` is set."""
        deadline = time.monotonic() + BOUND
        with self.cond:
            while sum(e["event"] == event for e in self.seen) < count:
                if done.is_set():
                    return False
                assert time.monotonic() < deadline, f"no model call {event} in {BOUND} s"
                self.cond.wait(0.05)
        return True


class Serve:
    """``delegate serve`` as a subprocess on a fixed port and store, killed and started again."""

    def __init__(self, port: int, store: Path, env: dict[str, str], log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.args = [sys.executable, "-m", "delegate", "serve", "--port", str(port),
                     "--store", str(store), "--token", TOKEN]
        self.env, self.log = env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("a") as err:
            self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=err,
                                         env=self.env)
        deadline = time.monotonic() + BOUND
        while True:  # the lifespan (recovery included) is done before it listens
            assert self.proc.poll() is None, f"delegate serve exited: {self.log.read_text()}"
            assert time.monotonic() < deadline, "delegate serve did not start"
            try:
                if httpx.get(f"{self.url}/api/health", headers=AUTH, timeout=5).status_code \
                        == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(BOUND) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(BOUND)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(BOUND)


def sse(lines):
    """``(id, event, data)`` per server-sent event of ``lines``, as each arrives."""
    current: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            continue
        if not line:
            if current:
                yield current.get("id"), current.get("event"), current.get("data")
            current = {}
            continue
        name, _, value = line.partition(":")
        current[name] = value[1:] if value.startswith(" ") else value


class Reader(threading.Thread):
    """Follows one run's stream until its ``end``, through any number of lost connections,
    each time asking for the events after the last one it got (``Last-Event-ID``). It keeps
    every event exactly as sent: a duplicate or a gap shows in the comparison with the store."""

    def __init__(self, url: str, run_id: str) -> None:
        super().__init__(daemon=True)
        self.url, self.run_id = url, run_id
        self.events: list[tuple[int, str, object]] = []
        self.end: dict | None = None
        self.error: str | None = None
        self.connections = 0
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self._read()
        except Exception as exc:  # reported by the test
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.done.set()

    def _read(self) -> None:
        deadline = time.monotonic() + 4 * BOUND
        timeout = httpx.Timeout(10.0, read=BOUND)
        with httpx.Client(base_url=self.url, headers=AUTH, timeout=timeout) as http:
            while self.end is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("the run's stream did not end")
                headers = {"Last-Event-ID": str(self.events[-1][0])} if self.events else {}
                try:
                    with http.stream("GET", f"/api/runs/{self.run_id}/stream",
                                     headers=headers) as response:
                        assert response.status_code == 200, response.read()
                        self.connections += 1
                        for ident, kind, data in sse(response.iter_lines()):
                            if kind == "end":
                                self.end = json.loads(data)
                                break
                            self.events.append((int(ident), kind, json.loads(data)))
                except httpx.TransportError:  # the server was killed: connect again
                    time.sleep(0.05)


def wire_key(request: dict) -> str:
    """The model server's key of a stored request: its messages as they were sent."""
    messages = [{"role": m["role"], "content": m["content"]} for m in request["messages"]]
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]


def test_a_server_killed_twenty_times_carries_its_runs_to_the_end_losing_nothing(tmp_path):
    rng = random.Random(SEED)
    model = SlowModelServer(tmp_path / "calls.jsonl", SEED + 1)
    store_path = tmp_path / "runs.db"
    serve = Serve(free_port(), store_path, env_for(model), tmp_path / "serve.log")
    readers: list[Reader] = []
    # per kill: the model log's length then, what it waited for, the calls stored by then
    kills: list[tuple[int, str, set[str]]] = []
    store = open_store(str(store_path))
    try:
        serve.start()
        with Client(serve.url, TOKEN, timeout=BOUND) as client:
            while len(kills) < KILLS:
                started = client.start("general", f"Write a short note about knots, part "
                                       f"{len(readers) + 1}", model="openai:test-model")
                reader = Reader(serve.url, started["run_id"])
                reader.start()
                readers.append(reader)
                while len(kills) < KILLS and not reader.done.is_set():
                    point = rng.choice(("received", "answered", "restarted"))
                    if point != "restarted":
                        with model.cond:
                            count = sum(e["event"] == point for e in model.seen)
                        if not model.wait_for(point, count + rng.randint(1, 2), reader.done):
                            break  # the run ended first
                    # after a call arrived, mostly before its answer; else anywhere
                    time.sleep(rng.uniform(0.0, {"received": 0.06, "answered": 0.1,
                                                 "restarted": 0.3}[point]))
                    serve.kill()
                    with model.cond:
                        at = len(model.seen)
                    kills.append((at, point, stored_calls(store, readers)))
                    serve.start()  # on the same store and port: it recovers the run
                    model.write({"event": "restarted", "key": ""})
        for reader in readers:
            reader.join(4 * BOUND)
            assert not reader.is_alive(), f"the stream of {reader.run_id} never ended"
    finally:
        serve.stop()
        model.close()

    stored_keys: set[str] = set()
    purposes: dict[str, str] = {}
    for reader in readers:
        assert reader.error is None, reader.error
        assert reader.end == {"status": "succeeded"}
        assert store.get_run(reader.run_id).status == "succeeded"
        events = [(e["seq"], e["kind"], e["data"]) for e in store.events(reader.run_id)]
        assert reader.events == events  # joined across reconnections: none lost, none twice
        calls = [c for c in store.model_calls(reader.run_id) if c.source == "model"]
        hashes = Counter(c.request_hash for c in calls)
        assert max(hashes.values()) == 1, hashes  # no stored call was made twice
        for call in calls:
            stored_keys.add(wire_key(call.request))
            purposes[wire_key(call.request)] = call.purpose
    store.close()

    log = model.seen
    answered = {e["key"] for e in log if e["event"] == "answered"}
    assert stored_keys <= answered  # the key is computed as the model server computes it
    checked = 0
    for at, _, stored in kills:
        assert stored <= {e["key"] for e in log[:at] if e["event"] == "received"}
        again = {e["key"] for e in log[at:] if e["event"] == "received"} & stored
        assert not again, f"answered and stored before a kill, asked again after it: {again}"
        checked += len(stored)
    assert len(kills) == KILLS and checked > 0
    phases = Counter(_phase(log[:at], purposes) for at, _, _ in kills)
    print(f"{len(readers)} runs, {KILLS} kills ({phases}), "
          f"{sum(r.connections for r in readers)} stream connections")


def stored_calls(store, readers: list[Reader]) -> set[str]:
    """The model server's keys of the calls the store holds as made (source ``model``)."""
    return {wire_key(c.request) for r in readers for c in store.model_calls(r.run_id)
            if c.source == "model"}


def _phase(log: list[dict], purposes: dict[str, str]) -> str:
    """What the model was doing when the server was killed: the purposes of the calls in
    flight (received since the server last started, not answered), or ``between calls``."""
    starts = [i for i, e in enumerate(log) if e["event"] == "restarted"]
    log = log[starts[-1] + 1:] if starts else log
    flight = Counter(e["key"] for e in log if e["event"] == "received")
    flight.subtract(e["key"] for e in log if e["event"] == "answered")
    busy = sorted({purposes.get(k, "unstored") for k, n in flight.items() if n > 0})
    return "+".join(busy) or "between calls"
