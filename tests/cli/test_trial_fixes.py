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
from pathlib import Path

import pytest

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
