import io

from delegate.cli.chat import HELP, chat, history_path
from delegate.errors import UsageError


def test_commands_route_to_their_workflows_and_errors_keep_the_session():
    calls = []

    def fake(workflow, argument, model):
        calls.append((workflow, argument, model))
        if argument == "broken.csv":
            raise UsageError("no CSV file at broken.csv")
        return f"<{workflow}: {argument}>"

    out = io.StringIO()
    lines = iter(["help", "blog trail running", "", "analysis broken.csv", "dance now",
                  "task", "recommend warm socks", "project a shop", "quit", "blog never"])
    assert chat(lines, out, model="m", run_command=fake) == 0
    text = out.getvalue()
    assert HELP in text
    assert calls == [("blog", "trail running", "m"), ("analysis", "broken.csv", "m"),
                     (None, "warm socks", "m"), ("project", "a shop", "m")]
    assert "<blog: trail running>" in text and "error: no CSV file at broken.csv" in text
    assert "unknown command 'dance'" in text and "task needs <objective>" in text
    assert "never" not in text  # nothing after quit runs


def test_history_lives_in_the_user_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert history_path() == tmp_path / "delegate" / "chat_history"
