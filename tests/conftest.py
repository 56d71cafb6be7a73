"""Test-wide settings: real network providers are refused unless a test allows them, and
nothing in the suite reads or writes the user's data.

The whole session gets a temporary data directory, set here at import time, before any test
module, fixture (of any scope) or subprocess exists: ``XDG_DATA_HOME`` (where
``platformdirs.user_data_path`` and the chat history live on Linux; ``HOME`` too elsewhere)
and ``DELEGATE_STORE`` (the default run store and response cache) point into it, and the
user's own configuration of delegate (``DELEGATE_MODEL``, ``DELEGATE_PRICES``,
``DELEGATE_RATE_LIMITS``) is dropped. Subprocesses inherit all of it. On top of that, each
test records its runs in a store of its own.
"""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from delegate.llm import set_model_requests

SESSION_DIR = Path(tempfile.mkdtemp(prefix="delegate-tests-")).resolve()
os.environ["XDG_DATA_HOME"] = str(SESSION_DIR / "data")
if sys.platform != "linux":  # platformdirs reads the home directory there, not XDG
    os.environ["HOME"] = str(SESSION_DIR / "home")
os.environ["DELEGATE_STORE"] = str(SESSION_DIR / "session.db")
for _name in ("DELEGATE_MODEL", "DELEGATE_PRICES", "DELEGATE_RATE_LIMITS"):
    os.environ.pop(_name, None)
os.environ["DELEGATE_BLOCK_MODEL_REQUESTS"] = "1"  # inherited by subprocesses too
atexit.register(shutil.rmtree, SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def session_data_dir() -> Path:
    """The session's stand-in for the user's data: every default path resolves inside it."""
    return SESSION_DIR


@pytest.fixture(autouse=True)
def _refuse_real_model_requests():
    set_model_requests(False)
    yield
    set_model_requests(None)


@pytest.fixture(autouse=True)
def _own_run_store(tmp_path_factory, monkeypatch):
    """Each test records its runs in a store of its own, never the user's."""
    store = tmp_path_factory.mktemp("store") / "delegate.db"
    monkeypatch.setenv("DELEGATE_STORE", str(store))
    return store


@pytest.fixture(params=["/dev/zero", "fifo"])
def device(request, tmp_path) -> str:
    """A path that is not a regular file: an endless device, or a FIFO nobody writes to."""
    if request.param == "fifo":
        path = tmp_path / "data.csv"
        os.mkfifo(path)
        return str(path)
    return request.param
