"""Test-wide settings: real network providers are refused unless a test allows them."""

import os

import pytest

from delegate.llm import set_model_requests

os.environ["DELEGATE_BLOCK_MODEL_REQUESTS"] = "1"  # inherited by subprocesses too


@pytest.fixture(autouse=True)
def _refuse_real_model_requests():
    set_model_requests(False)
    yield
    set_model_requests(None)
