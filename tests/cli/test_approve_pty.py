"""``delegate run --approve-plan`` at a real terminal (a pseudo-terminal), against an
OpenAI-compatible model server on 127.0.0.1: the plan is shown as a tree, edited in
``$EDITOR`` (a small script that rewrites the file), and the edited plan runs.

Every wait on the terminal is bounded (``PtySession.expect``); nothing is timed.
"""

import fcntl
import os
import pty
import re
import select
import shlex
import signal
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from delegate.durable.store import open_store
from tests.cli.test_durable_cli import ModelServer, env_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX terminal")

_ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\r")


def _own_terminal() -> None:
    """In the child: a session of its own with the pseudo-terminal as its controlling
    terminal, so that Ctrl-C typed there is a SIGINT, as at a real terminal."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtySession:
    """A command with a pseudo-terminal as its standard input, output and error."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     cwd=cwd, preexec_fn=_own_terminal)
        os.close(slave)
        self.seen = b""
        self.mark = 0

    def text(self) -> str:
        return _ESCAPES.sub(b"", self.seen).decode("utf-8", "replace")

    def expect(self, wanted: str, limit: float = 120) -> str:
        """Read until ``wanted`` appears after the last match (at most ``limit`` seconds of
        silence); the text up to and including it."""
        while True:
            text = self.text()
            found = text.find(wanted, self.mark)
            if found >= 0:
                self.mark = found + len(wanted)
                return text[:self.mark]
            ready, _, _ = select.select([self.master], [], [], limit)
            if not ready:
                raise AssertionError(f"no {wanted!r} on the terminal; it shows:\n{text}")
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the command ended and closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"the command ended before {wanted!r}; it showed:\n{text}")
            self.seen += chunk

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, limit: float = 120) -> int:
        """Read to the end; the exit code."""
        while True:
            ready, _, _ = select.select([self.master], [], [], limit)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
        return self.proc.wait(limit)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        os.close(self.master)


EDITOR = """\
import json, sys
path = sys.argv[1]
plan = json.load(open(path))
assert [t["id"] for t in plan["tasks"]] == ["t1", "t2", "t3"], plan
plan["tasks"] = [plan["tasks"][0], {**plan["tasks"][2], "depends_on": ["t1"],
                 "instruction": "Join the edited findings into a note"}]
json.dump(plan, open(path, "w"))
"""


@pytest.fixture
def server(tmp_path):
    s = ModelServer(tmp_path / "calls.jsonl")
    yield s
    s.close()


def terminal_env(server: ModelServer, tmp_path: Path, editor: str) -> dict[str, str]:
    script = tmp_path / "editor.py"
    script.write_text(editor)
    env = {**env_for(server), "EDITOR": f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}",
           "XDG_DATA_HOME": str(tmp_path / "data"), "TERM": "xterm", "COLUMNS": "120",
           "LINES": "40"}
    env.pop("DELEGATE_STORE", None)
    return env


def test_an_edited_plan_is_approved_at_the_terminal_and_runs(server, tmp_path):
    store = tmp_path / "runs.db"
    env = terminal_env(server, tmp_path, EDITOR)
    session = PtySession([sys.executable, "-m", "delegate", "run", "--approve-plan",
                          "--workflow", "general", "--model", "openai:test-model", "--quiet",
                          "--store", str(store), "Write a short note about knots"],
                         env, tmp_path)
    try:
        shown = session.expect("[a]pprove, [e]dit, [r]eject? ")
        assert "plan v1: 3 tasks" in shown
        assert "t3 [writer]  needs t1, t2" in shown and "Gather uses of knots" in shown
        session.send("nonsense\n")
        session.expect("answer a (approve), e (edit) or r (reject)")
        session.send("e\n")
        session.expect("sent the edited plan")
        code = session.finish()
    finally:
        session.close()
    assert code == 0, session.text()
    db = open_store(str(store))
    try:
        run = db.list_runs(1)[0]
        versions = db.plan_versions(run.run_id)
        outcomes = db.outcomes(run.run_id)
        asked = db.interrupts(run.run_id)
    finally:
        db.close()
    assert run.status == "succeeded"
    last = versions[-1]["plan"]
    assert [t["id"] for t in last["tasks"]] == ["t1", "t3"]
    assert last["tasks"][1]["instruction"] == "Join the edited findings into a note"
    assert sorted(outcomes) == ["t1", "t3"]
    assert all(o["status"] == "succeeded" for o in outcomes.values())
    # the terminal's answer is kept in the store, so a resume would not ask again
    assert [(r["interrupt_id"], r["status"], r["answer"]["action"]) for r in asked] == [
        ("plan:1", "answered", "edit")]


def test_end_of_input_at_the_prompt_rejects_the_plan(server, tmp_path):
    env = terminal_env(server, tmp_path, EDITOR)
    session = PtySession([sys.executable, "-m", "delegate", "run", "--approve-plan",
                          "--workflow", "general", "--model", "openai:test-model", "--quiet",
                          "--no-store", "Write a short note about knots"], env, tmp_path)
    try:
        session.expect("[a]pprove, [e]dit, [r]eject? ")
        session.send("\x04")  # Ctrl-D: end of input
        session.expect("rejected")
        code = session.finish()
    finally:
        session.close()
    text = session.text()
    assert code == 1, text
    assert "no answer in the terminal" in text and "Traceback" not in text
    # nothing ran: only the planning call reached the model
    answered = [e for e in server.entries() if e["event"] == "answered"]
    assert len(answered) == 1


def test_ctrl_c_at_the_prompt_rejects_the_plan_in_one_line(server, tmp_path):
    env = terminal_env(server, tmp_path, EDITOR)
    session = PtySession([sys.executable, "-m", "delegate", "run", "--approve-plan",
                          "--workflow", "general", "--model", "openai:test-model", "--quiet",
                          "--no-store", "Write a short note about knots"], env, tmp_path)
    try:
        session.expect("[a]pprove, [e]dit, [r]eject? ")
        session.send("\x03")  # Ctrl-C: a SIGINT to the command
        session.expect("rejected")
        code = session.finish()
    finally:
        session.close()
    text = session.text()
    assert code == 1, text
    assert "the plan was rejected by" in text and "no answer in the terminal" in text
    assert "Traceback" not in text
    assert len([e for e in server.entries() if e["event"] == "answered"]) == 1
