"""What the command line promises on its failure paths.

- ``--json`` prints exactly one JSON object on every exit (a failed planning, a failed run,
  Ctrl-C, bad input, a refused command line);
- output paths are checked before any model is paid;
- files given by path are read with a cap: a device, a FIFO, a directory, a binary or non-UTF-8
  file is one line and exit 2, never a hang or a MemoryError;
- arguments and chat input that are not UTF-8 are one line and exit 2;
- ``runs list``, ``runs show`` and ``runs resume`` take ``--json``;
- a resume is rebuilt from a validated request, never from an edited store's choices;
- the suite itself never touches the user's data directory.

In process, the model is a :class:`~delegate.llm.ScriptedModel` put in place of the one the
command line names; it counts every call, so "nothing was paid" is ``calls == 0``.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from delegate.cli.commands import main
from delegate.durable.store import default_store_url, open_store
from delegate.errors import ModelRequestError
from delegate.llm import ScriptedModel

ROOT = Path(__file__).resolve().parents[2]
OBJECTIVE = "Write a short note about knots"
PLAN = {"tasks": [
    {"id": "t1", "worker": "researcher", "instruction": "Gather facts about knots",
     "depends_on": []},
    {"id": "t2", "worker": "writer", "instruction": "Write the note", "depends_on": ["t1"]},
]}
RUN = ["run", "--workflow", "general", "--quiet", OBJECTIVE]


def _schema(output) -> dict | None:
    if output is None or output is str:
        return None
    return output if isinstance(output, dict) else output.model_json_schema()


def answers(*, plan_error: Exception | None = None, task_error: Exception | None = None,
            interrupt: bool = False, every_error: Exception | None = None):
    """A scripted model's answers: the plan above, a line per task, a final note."""
    from delegate.llm.scripted import minimal_instance

    def answer(call):
        if every_error is not None:
            return every_error
        schema = _schema(call.output)
        if schema is not None and "tasks" in schema.get("properties", {}):
            return plan_error or PLAN
        if schema is not None:
            return minimal_instance(schema)
        if "Write the note" in call.last_user:
            if interrupt:
                raise KeyboardInterrupt
            if task_error is not None:
                return task_error
        return f"Answer {call.index}: knots hold."

    return answer


@pytest.fixture
def model(monkeypatch):
    """Install a scripted model as whatever ``--model`` names; returns a setter."""
    holder = {"model": ScriptedModel(function=answers())}

    def use(**kw) -> ScriptedModel:
        holder["model"] = ScriptedModel(function=answers(**kw))
        return holder["model"]

    import importlib
    monkeypatch.setattr("delegate.runtime.get_model", lambda spec=None: holder["model"])
    for name in ("delegate.cli.commands", "delegate.runtime"):  # wherever the CLI resolves models
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "get_model"):
            monkeypatch.setattr(module, "get_model", lambda spec=None: holder["model"])
    use.current = lambda: holder["model"]
    return use


def one_object(stdout: str) -> dict:
    """``stdout`` holds exactly one JSON object (and nothing else)."""
    data, end = json.JSONDecoder().raw_decode(stdout.strip())
    assert end == len(stdout.strip()), "more than one JSON value printed"
    assert isinstance(data, dict)
    return data


def one_line(err: str) -> str:
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err


# --- 1. --json: one object on every exit ------------------------------------------------------


def test_a_failed_planning_prints_one_object_with_the_error(model, capsys):
    model(plan_error=ModelRequestError("400 the request was refused", provider="scripted",
                                       model="x"))
    assert main([*RUN, "--json"]) == 1
    out, err = capsys.readouterr()
    data = one_object(out)
    assert data["status"] == "failed" and "refused" in data["error"]
    assert isinstance(data["run_id"], str) and len(data["run_id"]) >= 8
    assert open_store().get_run(data["run_id"]).status != "succeeded"
    assert "Traceback" not in err


def test_a_failed_task_prints_the_run_summary_with_an_error_field(model, capsys):
    model(task_error=ModelRequestError("400 no", provider="scripted", model="x"))
    assert main([*RUN, "--json"]) == 1
    data = one_object(capsys.readouterr().out)
    assert data["status"] in ("partial", "failed") and "error" in data
    assert [o["status"] for o in data["outcomes"]] == ["succeeded", "failed"]


def test_ctrl_c_prints_one_object_and_exits_130(model, capsys):
    model(interrupt=True)
    assert main([*RUN, "--json"]) == 130
    out, err = capsys.readouterr()
    data = one_object(out)
    assert data["status"] == "cancelled" and data["error"]
    assert isinstance(data["run_id"], str)
    assert "cancelled" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["run", "", "--json"],                                        # bad input
    ["run", "hi", "--json", "--max-concurrency", "0"],
    ["run", "hi", "--json", "--max-concurrency", "lots"],         # argparse refuses it
    ["recommend", "a tent", "--json", "--top-k", "0"],
    ["recommend", "a tent", "--json", "--no-such-option"],
    ["examples", "--example", "blog", "--json", "--out", "/dev/null/x"],
    ["runs", "resume", "ffffffff", "--json"],
])
def test_bad_input_with_json_is_one_line_and_one_object(model, capsys, argv):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    data = one_object(out)
    assert data["status"] == "failed" and data["error"] and data["run_id"] is None
    one_line(err)
    assert model.current().calls == []


@pytest.mark.parametrize("fails", [False, True])
def test_examples_json_is_one_object_with_each_run(model, capsys, tmp_path, fails):
    model(every_error=ModelRequestError("400 no", provider="scripted", model="x")
          if fails else None)
    code = main(["examples", "--example", "project", "--json", "--quiet", "--out",
                 str(tmp_path)])
    data = one_object(capsys.readouterr().out)
    assert code == (1 if fails else 0)
    assert data["status"] == ("failed" if fails else "succeeded")
    assert [r["workflow"] for r in data["runs"]] == ["project"]
    assert data["runs"][0]["run_id"] == open_store().list_runs()[0].run_id


# --- 2. output paths are checked before any model is paid -------------------------------------


@pytest.mark.parametrize("where", ["file", "under_a_file"])
def test_out_that_cannot_be_a_directory_is_refused_before_the_run(model, capsys, tmp_path,
                                                                  where):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    out = blocker if where == "file" else blocker / "out"
    assert main([*RUN, "--out", str(out)]) == 2
    assert "--out" in one_line(capsys.readouterr().err)
    assert model.current().calls == [] and blocker.read_text() == "keep me"
    assert open_store().list_runs() == []  # nothing was even recorded


@pytest.mark.parametrize("where", ["under_a_file", "a_fifo"])
def test_report_that_cannot_be_written_is_refused_before_the_run(model, capsys, tmp_path,
                                                                 where):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    if where == "a_fifo":
        report = tmp_path / "pipe.html"
        os.mkfifo(report)
    else:
        report = blocker / "run.html"
    assert main([*RUN, "--report", str(report)]) == 2
    assert "--report" in one_line(capsys.readouterr().err)
    assert model.current().calls == []


def test_runs_report_out_under_a_file_is_one_line(model, capsys, tmp_path):
    assert main(RUN) == 0
    run_id = open_store().list_runs()[0].run_id
    capsys.readouterr()
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    assert main(["runs", "report", run_id, "--out", str(blocker / "r.html")]) == 2
    assert "--out" in one_line(capsys.readouterr().err)
    assert blocker.read_text() == "keep me"


# --- 3. files given by path: regular, capped, UTF-8 -------------------------------------------


def _bad_file(kind: str, tmp_path: Path) -> str:
    if kind == "directory":
        return str(tmp_path)
    path = tmp_path / "bad.txt"
    path.write_bytes({"binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
                      "latin1": "caf\u00e9 cr\u00e8me".encode("latin-1"),
                      "empty": b""}[kind])
    return str(path)


OPTIONS = {
    "--prices": RUN,
    "--input": ["run", "--workflow", "report", "--quiet", "Report on sales"],
    "--brand-voice": ["recommend", "--quiet", "a warm hat"],
    "--catalog": ["recommend", "--quiet", "a warm hat"],
}


@pytest.mark.parametrize("kind", ["directory", "binary", "latin1", "empty"])
@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_a_file_that_is_not_text_is_one_line_and_exit_2(model, capsys, tmp_path, option, kind):
    path = _bad_file(kind, tmp_path)
    assert main([*OPTIONS[option], option, path]) == 2
    err = one_line(capsys.readouterr().err)
    assert path in err
    assert model.current().calls == []


def _delegate(*args, env=None, timeout=120, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "delegate", *args], capture_output=True,
                          env=env, timeout=timeout, **kw)


def _limit_memory() -> None:  # a regression reading /dev/zero fails fast, not the machine
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo"])
@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_a_device_or_a_fifo_is_refused_without_reading_it(tmp_path, option, kind):
    """In a real process: a FIFO nobody writes to would block an open() forever, and
    /dev/zero would fill memory; both are refused after a stat."""
    path = kind
    if kind == "fifo":
        path = str(tmp_path / "pipe.json")
        os.mkfifo(path)
    proc = _delegate(*OPTIONS[option], option, path, "--model", "openai:gpt-4o-mini",
                     env={"OPENAI_API_KEY": "sk-test"}, preexec_fn=_limit_memory)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "not a regular file" in one_line(err) and path in err


def test_a_prices_file_over_the_cap_is_refused(model, capsys, tmp_path):
    from delegate.cli.files import PRICES_MAX_BYTES

    path = tmp_path / "prices.json"
    path.write_text(" " * (PRICES_MAX_BYTES + 1) + "{}")
    assert main([*RUN, "--prices", str(path)]) == 2
    assert "limit" in one_line(capsys.readouterr().err)


# --- 4. text that is not UTF-8 ----------------------------------------------------------------


def test_an_argument_that_is_not_utf8_is_one_line_and_exit_2(tmp_path):
    proc = _delegate("run", b"caf\xe9 au lait", "--json", "--no-store")
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "argument 2 is not valid UTF-8" in one_line(err)
    assert one_object(proc.stdout.decode())["error"]


def test_an_argument_with_surrogates_in_process(model, capsys):
    assert main(["recommend", "caf\udce9", "--quiet"]) == 2
    assert "not valid UTF-8" in one_line(capsys.readouterr().err)
    assert model.current().calls == []


def test_chat_refuses_a_line_that_is_not_utf8_and_goes_on():
    from delegate.cli.chat import chat, stdin_lines

    seen = []
    out = io.StringIO()
    lines = stdin_lines(io.BytesIO(b"blog caf\xe9\nrecommend a hat\n" + b"x" * 200 + b"\nquit\n"),
                        max_bytes=100)
    code = chat(lines, out, run_command=lambda w, a, m: seen.append((w, a)) or "ok")
    assert code == 2
    assert seen == [(None, "a hat")]  # the bad lines ran nothing
    text = out.getvalue()
    assert "error: that line is not valid UTF-8 text" in text
    assert "error: that line is over 100 bytes" in text


def test_chat_from_a_pipe_with_bad_bytes_is_not_a_crash():
    proc = _delegate("chat", input=b"blog \xff\xfe\nhelp\nquit\n")
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "not valid UTF-8" in out and "Commands:" in out  # the session went on
    assert "Traceback" not in err and "internal error" not in err


# --- 5. runs list, show and resume --json -----------------------------------------------------


def test_runs_list_and_show_print_one_object(model, capsys):
    assert main(RUN) == 0
    capsys.readouterr()
    assert main(["runs", "list", "--json"]) == 0
    listed = one_object(capsys.readouterr().out)["runs"]
    assert len(listed) == 1 and listed[0]["status"] == "succeeded"
    run_id = listed[0]["run_id"]
    assert main(["runs", "show", run_id[:8], "--json"]) == 0
    shown = one_object(capsys.readouterr().out)
    assert shown["run_id"] == run_id and shown["objective"] == OBJECTIVE
    assert [o["task_id"] for o in shown["outcomes"]] == ["t1", "t2"]
    assert [t["id"] for t in shown["plan"]["tasks"]] == ["t1", "t2"]
    assert shown["usage"]["model_calls"] == len(model.current().calls)


def test_resume_json_prints_what_run_json_prints(model, capsys, tmp_path):
    model(task_error=ModelRequestError("400 no", provider="scripted", model="x"))
    assert main([*RUN, "--json"]) == 1
    first = one_object(capsys.readouterr().out)
    fixed = model()
    assert main(["runs", "resume", first["run_id"], "--json"]) == 0
    out, err = capsys.readouterr()
    resumed = one_object(out)
    assert set(resumed) == set(first)
    assert resumed["run_id"] == first["run_id"] and resumed["status"] == "succeeded"
    assert "1 task(s) restored" in err
    assert all("Your task: Gather facts" not in c.last_user for c in fixed.calls)  # restored


# --- 6. resume trusts a validated request only ------------------------------------------------


def _stored_request(run_id: str) -> dict:
    return open_store().get_run(run_id).request


def _set_request(run_id: str, request: dict) -> None:
    path = os.environ["DELEGATE_STORE"]
    with sqlite3.connect(path) as db:
        assert db.execute("UPDATE runs SET request = ? WHERE id = ?",
                          (json.dumps(request), run_id)).rowcount == 1


def _failed_run(model, capsys, *extra: str) -> str:
    model(task_error=ModelRequestError("400 no", provider="scripted", model="x"))
    assert main([*RUN, "--json", "--no-cache", *extra]) == 1
    run_id = one_object(capsys.readouterr().out)["run_id"]
    model()
    return run_id


def test_the_stored_request_is_typed_with_no_paths_to_write_nor_store(model, capsys, tmp_path):
    out = tmp_path / "out"
    run_id = _failed_run(model, capsys, "--out", str(out), "--report",
                         str(tmp_path / "r.html"), "--store", os.environ["DELEGATE_STORE"])
    request = _stored_request(run_id)
    assert request["command"] == "run" and request["objective"] == OBJECTIVE
    assert request["workflow"] == "general" and request["max_concurrency"] == 4
    text = json.dumps(request)
    for absent in ("argv", "cwd", "store", str(out), "r.html", "report", "\"out\""):
        assert absent not in text


@pytest.mark.parametrize("edit", ["unknown_field", "old_argv", "bad_value", "wrong_type",
                                  "library_run"])
def test_an_edited_request_is_refused_and_nothing_is_written(model, capsys, tmp_path, edit):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run_id = _failed_run(model, capsys)
    request = _stored_request(run_id)
    request = {
        "unknown_field": {**request, "out": str(victim)},
        "old_argv": {"argv": [*RUN, "--out", str(tmp_path), "--report", str(victim)],
                     "cwd": str(tmp_path)},
        "bad_value": {**request, "max_concurrency": 10**9},
        "wrong_type": {**request, "objective": ["not", "text"]},
        "library_run": {},
    }[edit]
    _set_request(run_id, request)
    calls = len(model.current().calls)
    assert main(["runs", "resume", run_id, "--json"]) == 2
    out, err = capsys.readouterr()
    assert "request" in one_line(err)
    assert one_object(out)["error"]
    assert victim.read_text() == "precious" and sorted(os.listdir(tmp_path)) == ["victim.txt"]
    assert len(model.current().calls) == calls  # nothing was paid
    assert open_store().get_run(run_id).owner is None  # and the run was not taken over


def test_a_resume_writes_where_its_own_command_line_says(model, capsys, tmp_path):
    first_out = tmp_path / "first"
    run_id = _failed_run(model, capsys, "--out", str(first_out))
    for path in first_out.iterdir():
        path.unlink()
    assert main(["runs", "resume", run_id, "--quiet"]) == 0
    assert list(first_out.iterdir()) == []  # the store's run wrote nothing there again
    capsys.readouterr()
    second = tmp_path / "second"
    run_id = _failed_run(model, capsys)
    assert main(["runs", "resume", run_id, "--out", str(second), "--quiet"]) == 0
    assert sorted(p.name for p in second.iterdir()) == ["general.json", "general.md"]


def test_a_file_the_run_read_must_be_the_same_on_resume(model, capsys, tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text('{"scripted:*": {"input": 1, "output": 2}}')
    other = tmp_path / "other.json"
    other.write_text('{"scripted:*": {"input": 0, "output": 0}}')
    run_id = _failed_run(model, capsys, "--prices", str(prices))
    request = _stored_request(run_id)
    assert request["prices"]["path"] == str(prices)
    _set_request(run_id, {**request, "prices": {**request["prices"], "path": str(other)}})
    assert main(["runs", "resume", run_id]) == 2
    assert "changed since the run started" in one_line(capsys.readouterr().err)
    _set_request(run_id, request)
    prices.write_text('{"scripted:*": {"input": 5, "output": 5}}')
    assert main(["runs", "resume", run_id]) == 2
    assert "changed since the run started" in one_line(capsys.readouterr().err)


def test_credentials_in_urls_are_never_stored_and_such_a_run_is_not_resumed(model, capsys):
    objective = ("Summarise https://ann:hunter22@example.com/data?token=abc123&page=2 "
                 "for the team")
    model(task_error=ModelRequestError("400 no", provider="scripted", model="x"))
    assert main(["run", "--workflow", "general", "--quiet", "--json", objective]) == 1
    run_id = one_object(capsys.readouterr().out)["run_id"]
    request = json.dumps(_stored_request(run_id))
    assert "hunter22" not in request and "abc123" not in request and "ann:" not in request
    assert "page=2" in request
    assert main(["runs", "resume", run_id]) == 2
    assert "credentials" in one_line(capsys.readouterr().err)


# --- 7. the suite never touches the user's data -----------------------------------------------


@pytest.fixture(scope="module")
def default_store_seen_by_a_module_fixture() -> str:
    """Module fixtures run before the per-test autouse store: they see the session's setup."""
    return default_store_url()


def test_module_fixtures_see_the_session_data_dir(default_store_seen_by_a_module_fixture,
                                                  session_data_dir):
    path = Path(default_store_seen_by_a_module_fixture.removeprefix("sqlite:///"))
    assert path.is_relative_to(session_data_dir)


def test_the_default_store_resolves_inside_the_session_data_dir(monkeypatch, session_data_dir):
    import platformdirs

    from delegate.cli.chat import history_path

    monkeypatch.delenv("DELEGATE_STORE")
    assert platformdirs.user_data_path("delegate").is_relative_to(session_data_dir)
    store = Path(default_store_url().removeprefix("sqlite:///"))
    assert store.is_relative_to(session_data_dir)
    assert history_path().is_relative_to(session_data_dir)
    for name in ("DELEGATE_MODEL", "DELEGATE_PRICES", "DELEGATE_RATE_LIMITS"):
        assert name not in os.environ


def test_a_cli_process_without_a_store_writes_only_in_the_session_data_dir(monkeypatch,
                                                                          session_data_dir):
    monkeypatch.delenv("DELEGATE_STORE")
    env = {k: v for k, v in os.environ.items() if k != "DELEGATE_STORE"}
    env["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.run([sys.executable, "-c", (
        "import platformdirs, sys; from delegate.cli import main; "
        "print(platformdirs.user_data_path('delegate')); sys.exit(main(['runs', 'list']))")],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr  # a new machine lists no runs, with no error
    data_dir = Path(proc.stdout.splitlines()[0])
    assert data_dir.is_relative_to(session_data_dir)
    assert (data_dir / "delegate.db").is_file()  # the default store, made here and only here
