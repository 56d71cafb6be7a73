import io

from delegate.cli.chat import HELP, chat, history_path, stdin_lines
from delegate.errors import UsageError
from delegate.llm.scripted import ScriptedModel

PLAN = {"tasks": [
    {"id": "t1", "worker": "researcher", "instruction": "List what keeps a hiker dry",
     "depends_on": []},
    {"id": "t2", "worker": "writer", "instruction": "Advise on a rain jacket",
     "depends_on": ["t1"]},
]}


def test_commands_route_to_their_workflows_and_errors_keep_the_session():
    calls = []

    def fake(workflow, argument, model, approver):
        calls.append((workflow, argument, model))
        if argument == "broken.csv":
            raise UsageError("no CSV file at broken.csv")
        return f"<{workflow}: {argument}>"

    out = io.StringIO()
    lines = iter(["help", "blog trail running", "", "analysis broken.csv", "dance",
                  "task", "recommend warm socks", "project a shop", "quit", "blog never"])
    assert chat(lines, out, model="m", run_command=fake) == 0
    text = out.getvalue()
    assert HELP in text
    assert calls == [("blog", "trail running", "m"), ("analysis", "broken.csv", "m"),
                     (None, "warm socks", "m"), ("project", "a shop", "m")]
    assert "<blog: trail running>" in text and "error: no CSV file at broken.csv" in text
    assert "unknown command 'dance'" in text and "task needs <objective>" in text
    assert "never" not in text  # nothing after quit runs


def test_free_text_is_a_request_routed_like_delegate_run():
    calls = []

    def fake(workflow, argument, model, approver):
        calls.append((workflow, argument))
        return "done"

    out = io.StringIO()
    lines = iter(["I need a rain jacket", "Write a blog post about knots", "report.csv trends"])
    assert chat(lines, out, run_command=fake) == 0
    assert calls == [("general", "I need a rain jacket"),
                     ("blog", "Write a blog post about knots"),
                     ("analysis", "report.csv trends")]
    text = out.getvalue()
    assert "unknown command" not in text
    assert "workflow general (no workflow's words in the request)" in text


def test_help_is_aligned_in_columns():
    rows = [line for line in HELP.splitlines() if line.startswith("  ")]
    assert HELP.splitlines()[0] == "Commands:"
    assert len(rows) == 8
    starts = {len(line) - len(line[2:].split("  ", 1)[1].lstrip()) for line in rows}
    assert len(starts) == 1  # every description starts in the same column


def test_a_request_asks_for_the_plan_s_approval_in_the_conversation():
    model = ScriptedModel([PLAN, "Stay dry with taped seams.", "A 2.5-layer shell.",
                           "Get a light 2.5-layer shell with taped seams."])
    out = io.StringIO()
    lines = iter(["I need a rain jacket", "a", "quit"])
    assert chat(lines, out, model=model) == 0
    text = out.getvalue()
    assert "plan v1: 2 tasks" in text and "t2 [writer]  needs t1" in text
    assert "[a]pprove, [e]dit, [r]eject? approved" in text
    assert "Get a light 2.5-layer shell with taped seams." in text
    # the workers ran after the approval: planning, two tasks and the answer
    assert len(model.calls) == 4


def test_a_rejected_plan_runs_nothing_and_the_session_goes_on():
    model = ScriptedModel([PLAN])
    out = io.StringIO()
    lines = iter(["I need a rain jacket", "r", "  too   broad ", "help"])
    assert chat(lines, out, model=model) == 0
    text = out.getvalue()
    assert "reason: rejected" in text
    assert "(run cancelled: the plan was rejected by" in text and "too broad)" in text
    assert len(model.calls) == 1  # only the planning call
    assert text.rstrip().endswith(HELP)


def test_end_of_input_at_the_approval_rejects_and_ends_the_session():
    model = ScriptedModel([PLAN])
    out = io.StringIO()
    assert chat(iter(["I need a rain jacket"]), out, model=model) == 0
    text = out.getvalue()
    assert "no answer in the terminal" in text and len(model.calls) == 1


def test_bad_bytes_are_refused_in_one_line_and_the_session_goes_on():
    calls = []
    raw = io.BytesIO(b"blog caf\xe9 \xff\n" + b"x" * 50 + b"\nblog knots\n")
    out = io.StringIO()
    code = chat(stdin_lines(raw, max_bytes=40), out,
                run_command=lambda w, a, m, ap: calls.append(a) or "ok")
    assert code == 2
    text = out.getvalue()
    assert "error: that line is not valid UTF-8 text; nothing was run" in text
    assert "error: that line is over 40 bytes; nothing was run" in text
    assert calls == ["knots"]


def test_history_lives_in_the_user_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert history_path() == tmp_path / "delegate" / "chat_history"
