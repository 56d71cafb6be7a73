"""The in-memory store passes the same contract (what needs a second instance skips)."""

import pytest

from delegate.durable.store.memory import MemoryStore

from .contract import StoreContract
from .interrupts import InterruptContract
from .reads import ReadContract


class TestMemoryStore(StoreContract, ReadContract, InterruptContract):
    @pytest.fixture
    def store_url(self):
        return None

    @pytest.fixture
    def store(self):
        return MemoryStore()
