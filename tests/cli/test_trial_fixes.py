"""What a black-box trial of the command line found, each fixed and held here: a FIFO given to
``runs answer --edit`` is refused (it waited forever); an output path nothing can be written
in is refused before the run (``/proc``); a report that cannot be written after the run
leaves the answer printed and exits 1; a closed output pipe ends the command quietly; a store
that cannot be opened is bad configuration (exit 2), and reading commands create none;
SIGTERM cancels a run as Ctrl-C does (exit 143).

Everything that could wait runs in a subprocess with a timeout, or reads a pipe with a bounded
``select``; the model is a :class:`ScriptedModel`.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from delegate.cli.commands import main
from delegate.cli.files import check_out_dir, check_out_file
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
