"""Test-wide settings: real network providers are refused unless a test allows them, and
runs are recorded in a throwaway store."""

import os

import pytest

from delegate.llm import set_model_requests

os.environ["DELEGATE_BLOCK_MODEL_REQUESTS"] = "1"  # inherited by subprocesses too


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
