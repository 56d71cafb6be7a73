"""The files ``delegate run --workflow analysis`` and ``delegate eval content --baseline`` read
are checked as every file given by path is: a device or a FIFO is one line and exit 2, never a
hang or a MemoryError, and nothing runs or is stored.

In a real process, each with a timeout (a FIFO nobody writes to blocks an ``open()`` forever)
and a memory limit (``/dev/zero`` fills memory), so a regression fails instead of hanging.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from delegate.durable.store import open_store

ROOT = Path(__file__).resolve().parents[2]
MODEL = ("--model", "openai:gpt-4o-mini")
KEY = {"OPENAI_API_KEY": "sk-test"}


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _delegate(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **KEY}
    return subprocess.run([sys.executable, "-m", "delegate", *args], capture_output=True,
                          input=stdin, env=env, timeout=120, preexec_fn=_limit_memory)


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err


def test_an_analysis_of_a_device_or_fifo_is_one_line_and_exit_2(device):
    proc = _delegate("run", "--workflow", "analysis", device, *MODEL)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "the CSV file" in _one_line(err) and "not a regular file" in err and device in err
    assert open_store().list_runs() == []


def test_a_request_naming_a_fifo_csv_is_refused_the_same(tmp_path):
    pipe = tmp_path / "sales.csv"
    os.mkfifo(pipe)
    proc = _delegate("run", f"Analyze {pipe} and find what drives revenue", *MODEL)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "not a regular file" in _one_line(err) and str(pipe) in err
    assert open_store().list_runs() == []


def test_a_baseline_that_is_a_device_or_fifo_is_one_line_and_exit_2(device, tmp_path):
    out = tmp_path / "out"
    proc = _delegate("eval", "content", *MODEL, "--limit", "1", "--out", str(out),
                     "--baseline", device)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "the baseline file" in _one_line(err) and "not a regular file" in err
    assert proc.stdout == b"" and not out.exists()


def test_chat_says_the_file_problem_before_asking_for_approval(tmp_path):
    pipe = tmp_path / "data.csv"
    os.mkfifo(pipe)
    proc = _delegate("chat", *MODEL, stdin=f"analysis {pipe}\ny\nquit\n".encode())
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert f"error: {str(pipe)!r} is not a regular file" in out
    assert "approve" not in out.lower()  # no plan was shown to approve
    assert open_store().list_runs() == []
