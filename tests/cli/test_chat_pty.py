"""``delegate chat`` at a real terminal (a pseudo-terminal, prompt_toolkit reading it): free
text starts a run whose plan is approved in the conversation, against an OpenAI-compatible
model server on 127.0.0.1. Every wait on the terminal is bounded; nothing is timed."""

import sys

import pytest

from tests.cli.test_approve_pty import EDITOR, PtySession, terminal_env
from tests.cli.test_durable_cli import ModelServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX terminal")


@pytest.fixture
def server(tmp_path):
    s = ModelServer(tmp_path / "calls.jsonl")
    yield s
    s.close()


def test_free_text_starts_a_run_approved_in_the_conversation(server, tmp_path):
    env = {**terminal_env(server, tmp_path, EDITOR), "PROMPT_TOOLKIT_NO_CPR": "1",
           "DELEGATE_MODEL": "openai:test-model"}
    session = PtySession([sys.executable, "-m", "delegate", "chat"], env, tmp_path)
    try:
        session.expect("delegate>")
        session.send("I need a rain jacket\r")
        session.expect("workflow general")
        shown = session.expect("[a]pprove, [e]dit, [r]eject?")
        assert "plan v1: 3 tasks" in shown and "t3 [writer]  needs t1, t2" in shown
        answered = [e for e in server.entries() if e["event"] == "answered"]
        assert len(answered) == 1  # the plan only: no worker starts before the answer
        session.send("a\r")
        session.expect("approved")
        session.expect("Final note from")  # the answer of the run, in the conversation
        session.expect("delegate>")
        session.send("\x03")  # Ctrl-C at the prompt: one line, and the session goes on
        session.expect("(Ctrl-C) type 'quit' or press Ctrl-D to leave")
        session.expect("delegate>")
        session.send("quit\r")
        code = session.finish()
    finally:
        session.close()
    text = session.text()
    assert code == 0, text
    assert "Traceback" not in text and "unknown command" not in text
    answered = [e for e in server.entries() if e["event"] == "answered"]
    assert len(answered) == 5  # the plan, three tasks, the answer
