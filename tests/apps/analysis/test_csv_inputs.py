"""The analysis's CSV file is checked before its run starts: a file that cannot be analysed is
refused in one line with nothing stored and no model called, a FIFO or a device is refused
without being read, and a request naming a CSV file is split into the file and its question."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pandas")
pytest.importorskip("scipy")

from delegate import ScriptedModel
from delegate.apps.analysis import EXAMPLE_CSV, run_analysis
from delegate.apps.analysis.tools import DataError
from delegate.apps.workflows import run_workflow
from delegate.durable.journal import Journal
from delegate.durable.store import open_store
from delegate.errors import UsageError

ROOT = Path(__file__).resolve().parents[3]


def _interpreter() -> ScriptedModel:
    return ScriptedModel(function=lambda call: "Revenue follows units.")


@pytest.mark.parametrize(("content", "message"), [
    ("a,b\n", "has a header row but no data rows"),
    ("", "is empty"),
    ('a,b\n1,"2\n', "not readable as CSV"),
])
def test_a_file_that_cannot_be_analysed_stores_no_run(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    store = open_store(str(tmp_path / "runs.db"))
    model = _interpreter()
    with pytest.raises(DataError, match=message) as caught:
        asyncio.run(run_analysis(path, model=model, journal=Journal.start(store)))
    assert isinstance(caught.value, UsageError) and "\n" not in str(caught.value)
    assert model.calls == [] and store.list_runs() == []


def test_run_workflow_splits_a_request_into_the_csv_and_its_question(tmp_path, monkeypatch):
    shutil.copy(EXAMPLE_CSV, tmp_path / "sales.csv")
    monkeypatch.chdir(tmp_path)
    model = _interpreter()
    request = "Analyze sales.csv and find what drives revenue"
    result = asyncio.run(run_workflow("analysis", request, model=model))
    assert result.run.status == "succeeded" and result.title == "Analysis of sales.csv"
    assert f"Answer the question: {request}" in model.calls[0].last_user


_SCRIPT = """
import asyncio, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from delegate import ScriptedModel
from delegate.errors import UsageError
{call}
try:
    asyncio.run(go(sys.argv[1]))
except UsageError as exc:
    print(exc)
    sys.exit(2)
"""
_ANALYSIS = """
from delegate.apps.analysis import run_analysis
async def go(path):
    await run_analysis(path, model=ScriptedModel())
"""
_BASELINE = """
from delegate.apps.evals.content_report import load_baseline
async def go(path):
    load_baseline(path)
"""


@pytest.mark.parametrize("call", [_ANALYSIS, _BASELINE], ids=["run_analysis", "load_baseline"])
def test_the_library_refuses_a_device_or_fifo_without_reading_it(device, call):
    """In a process of its own, with a timeout and a memory limit: a FIFO nobody writes to
    would block an open() forever, and /dev/zero would fill memory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT.format(call=call), device],
                          capture_output=True, env=env, timeout=120)
    out = proc.stdout.decode()
    assert proc.returncode == 2, proc.stderr.decode()
    assert "not a regular file" in out and device in out and out.count("\n") == 1
