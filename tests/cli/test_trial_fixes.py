"""What a black-box trial of the command line found, each fixed and held here: a FIFO given to
``runs answer --edit`` is refused (it waited forever); an output path nothing can be written
in is refused before the run (``/proc``); a report that cannot be written after the run
leaves the answer printed and exits 1; a closed output pipe ends the command quietly; a store
that cannot be opened is bad configuration (exit 2), and reading commands create none;
SIGTERM cancels a run as Ctrl-C does (exit 143).

Everything that could wait runs in a subprocess with a timeout, or reads a pipe with a bounded
``select``; the model is a :class:`ScriptedModel`.
"""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from delegate.cli.commands import main
from delegate.cli.files import check_out_dir, check_out_file
from delegate.durable.store import open_store
from delegate.errors import UsageError
from delegate.llm import ScriptedModel
from tests.cli.test_approve import _stored, _waiting_run
from tests.cli.test_approve import store_url as store_url  # the fixture

ROOT = Path(__file__).resolve().parents[2]
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals, FIFOs and pipes")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _delegate(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "delegate", *args], capture_output=True,
                          text=True, env=_env(), timeout=120, **kw)


# runs answer --edit FIFO

@POSIX
def test_runs_answer_refuses_a_fifo_as_the_edited_plan_without_waiting(store_url, capsys,
                                                                        tmp_path):
    run_id = _waiting_run(capsys)
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    proc = _delegate("runs", "answer", run_id, "--edit", str(fifo), "--store", store_url)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"delegate: error: {fifo} is not a regular file (a pipe, device or "
                           "socket); give a JSON file\n")
    _, asked, _, _ = _stored(run_id)
    assert [r["status"] for r in asked] == ["pending"]


# output paths

@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("args, message", [
    (["--out", "/proc/delegate-out"], "--out /proc/delegate-out: the directory /proc is not "
                                      "writable"),
    (["--out", "/proc"], "--out /proc is not writable"),
    (["--report", "/proc/r.html"], "--report /proc/r.html: the directory /proc is not "
                                   "writable"),
])
def test_an_output_path_in_proc_is_refused_before_the_run(store_url, capsys, args, message):
    # /proc looks writable to root by its permission bits; no file can be made there
    assert main(["run", "--workflow", "general", *args, "Write a short note about knots"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"delegate: error: {message} ("), err
    assert not Path(store_url).exists()  # no run was started
    with pytest.raises(UsageError, match="not writable"):
        check_out_dir("/proc/delegate-out")


def test_a_directory_is_probed_by_a_file_made_and_removed(tmp_path, monkeypatch):
    made = []
    real = tempfile.mkstemp

    def mkstemp(*args, **kw):
        made.append(kw.get("dir"))
        return real(*args, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    assert check_out_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert check_out_dir(tmp_path) == tmp_path
    assert check_out_file(tmp_path / "sub" / "r.html") == tmp_path / "sub" / "r.html"
    assert made == [tmp_path] * 3
    assert list(tmp_path.iterdir()) == []  # nothing left behind


# stores that cannot be opened

@pytest.mark.parametrize("kind", ["directory", "device", "not a database", "missing"])
@pytest.mark.parametrize("verb", [["runs", "list"], ["runs", "answer", "abc", "--approve"],
                                  ["runs", "show", "abc"], ["runs", "export", "abc"]])
def test_a_store_that_cannot_be_opened_is_bad_configuration(tmp_path, capsys, kind, verb):
    if kind == "device" and not Path("/dev/zero").exists():
        pytest.skip("needs /dev/zero")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"\xff\xfe not a database \x00" * 10)
    path = {"directory": str(tmp_path), "device": "/dev/zero", "not a database": str(bad),
            "missing": str(tmp_path / "none" / "x.db")}[kind]
    assert main([*verb, "--store", path]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("delegate: error: "), err
    if kind == "missing":
        assert err == f"delegate: error: no run store at {path}"
        assert not (tmp_path / "none").exists()  # nothing was created


def test_a_database_server_that_cannot_be_reached_is_bad_configuration(capsys):
    pytest.importorskip("psycopg")
    assert main(["runs", "list", "--store", "postgresql://user:pw@127.0.0.1:1/db"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pw" not in err, err


def test_a_run_whose_store_cannot_be_opened_calls_no_model(tmp_path, capsys, monkeypatch):
    model = ScriptedModel(function=lambda call: "unused")
    monkeypatch.setattr("delegate.runtime.get_model", lambda spec=None: model)
    assert main(["run", "--workflow", "general", "--quiet", "--store", str(tmp_path),
                 "Write a short note about knots"]) == 2
    assert "run store" in capsys.readouterr().err
    assert model.calls == []


# outputs that cannot be written after the run

def test_a_report_that_cannot_be_written_after_the_run_keeps_the_answer(tmp_path, capsys,
                                                                         monkeypatch):
    report = tmp_path / "report.html"

    def answer(call):  # while the run goes on, the report's path becomes a directory
        report.mkdir(exist_ok=True)
        if call.output is not None and call.output is not str:
            return {"tasks": [{"id": "t1", "worker": "researcher",
                               "instruction": "Gather facts about knots", "depends_on": []}]}
        return "Knots hold."

    model = ScriptedModel(function=answer)
    monkeypatch.setattr("delegate.runtime.get_model", lambda spec=None: model)
    store = tmp_path / "runs.db"
    code = main(["run", "--workflow", "general", "--quiet", "--store", str(store),
                 "--report", str(report), "Write a short note about knots"])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "Knots hold." in out  # the answer, as without --report
    assert err.splitlines()[-1] == (f"delegate: error: the report {report} is a directory; "
                                    "give a file name")
    opened = open_store(str(store))
    try:
        assert [r.status for r in opened.list_runs(5)] == ["succeeded"]
    finally:
        opened.close()


@POSIX
def test_outputs_that_cannot_be_written_after_the_run_keep_the_answer(tmp_path, capsys,
                                                                      monkeypatch):
    out_dir = tmp_path / "out"

    def answer(call):  # while the run goes on, the --out folder's name becomes a file
        out_dir.write_text("in the way")
        if call.output is not None and call.output is not str:
            return {"tasks": [{"id": "t1", "worker": "researcher",
                               "instruction": "Gather facts about knots", "depends_on": []}]}
        return "Knots hold."

    monkeypatch.setattr("delegate.runtime.get_model",
                        lambda spec=None: ScriptedModel(function=answer))
    code = main(["run", "--workflow", "general", "--quiet", "--store",
                 str(tmp_path / "runs.db"), "--out", str(out_dir),
                 "Write a short note about knots"])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "Knots hold." in out  # the answer, as without --out
    last = err.splitlines()[-1]
    assert last.startswith(f"delegate: error: the outputs in {out_dir} could not be written")
    assert "Traceback" not in err


# a closed output pipe

@POSIX
@pytest.mark.parametrize("verb", ["list", "show"])
def test_a_closed_output_pipe_ends_the_command_quietly(store_url, capsys, verb):
    run_id = _waiting_run(capsys)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written: every write fails
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "delegate", "runs", verb, *([run_id] if verb == "show"
                                                             else []),
             "--store", store_url, "--json"],
            stdout=write, stderr=subprocess.PIPE, text=True, env=_env(), timeout=120)
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (141, "")


def test_a_closed_output_pipe_in_process_is_exit_141(store_url, capsys, monkeypatch):
    _waiting_run(capsys)

    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["runs", "list", "--json"]) == 141


# SIGTERM

DRIVER = textwrap.dedent('''
    """``delegate`` with ``--model scripted:block``: a plan of one task whose model call
    says BLOCKED on stderr, then waits until it is cancelled."""
    import asyncio
    import sys

    import delegate.runtime
    from delegate.cli.commands import main
    from delegate.llm.scripted import ScriptedModel

    PLAN = {"tasks": [{"id": "t1", "worker": "researcher", "depends_on": [],
                       "instruction": "HOLD: find a fact about owls"}]}

    async def answer(call):
        if call.output is not None and call.output is not str:
            return PLAN
        if "HOLD" in call.last_user:
            print("BLOCKED", file=sys.stderr, flush=True)
            await asyncio.Event().wait()
        return "Owls see in the dark."

    original = delegate.runtime.get_model
    delegate.runtime.get_model = lambda spec=None: (
        ScriptedModel(function=answer) if spec == "scripted:block" else original(spec))
    sys.exit(main(sys.argv[1:]))
''')


def _terminated(tmp_path: Path, args: list[str], *, wait_for: str, stdin: str = "",
                stream: str = "stderr") -> tuple[int, str, str]:
    """Run the driver with ``args``, send SIGTERM once ``wait_for`` shows on ``stream``;
    the exit code, standard output and standard error."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(driver), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        proc.stdin.write(stdin.encode())
        proc.stdin.flush()  # left open: the end of input is no part of the test
        watched = getattr(proc, stream)
        seen = b""
        while wait_for.encode() not in seen:
            ready, _, _ = select.select([watched], [], [], 120)  # against a hang only
            chunk = os.read(watched.fileno(), 65536) if ready else b""
            assert chunk, f"no {wait_for!r}; the command showed: {seen.decode()}"
            seen += chunk
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = seen.decode()
    return proc.returncode, (text if stream == "stdout" else "") + out.decode(), (
        text if stream == "stderr" else "") + err.decode()


def _only_run(store: Path):
    opened = open_store(str(store))
    try:
        (run,) = opened.list_runs(5)
        return run, opened.outcomes(run.run_id)
    finally:
        opened.close()


@POSIX
def test_sigterm_cancels_a_run_and_its_resume_as_ctrl_c_does(tmp_path):
    store = tmp_path / "runs.db"
    code, _, err = _terminated(tmp_path, ["run", "--workflow", "general", "--model",
                                          "scripted:block", "--store", str(store),
                                          "Find two facts about owls"], wait_for="BLOCKED")
    assert code == 143, err
    assert err.splitlines()[-1] == ("delegate: terminated (SIGTERM); running tasks were "
                                    "stopped")
    assert "delegate runs resume" in err
    run, outcomes = _only_run(store)
    assert run.status == "cancelled"
    assert {task: o["status"] for task, o in outcomes.items()} == {"t1": "cancelled"}

    code, _, err = _terminated(tmp_path, ["runs", "resume", run.run_id, "--store",
                                          str(store), "--json"], wait_for="BLOCKED")
    assert code == 143, err
    run, _ = _only_run(store)
    assert run.status == "cancelled"


@POSIX
def test_sigterm_cancels_the_json_run_with_one_object(tmp_path):
    store = tmp_path / "runs.db"
    code, out, err = _terminated(tmp_path, ["run", "--workflow", "general", "--model",
                                            "scripted:block", "--store", str(store), "--json",
                                            "--quiet", "Find two facts about owls"],
                                 wait_for="BLOCKED")
    assert code == 143, err
    assert json.loads(out)["status"] == "cancelled"


@POSIX
@pytest.mark.parametrize("lines, wait_for, stream", [
    ("task Find two facts about owls\na\n", "BLOCKED", "stderr"),  # a run under way
    ("", "'quit' to leave", "stdout"),  # at the prompt, between runs
])
def test_sigterm_ends_a_chat_session(tmp_path, lines, wait_for, stream):
    code, _, err = _terminated(tmp_path, ["chat", "--model", "scripted:block"],
                               wait_for=wait_for, stdin=lines, stream=stream)
    assert code == 143, err
    assert err.splitlines()[-1] == ("delegate: terminated (SIGTERM); running tasks were "
                                    "stopped")
    assert "Traceback" not in err and "Fatal" not in err
