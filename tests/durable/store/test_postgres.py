"""The SQL store on PostgreSQL (``DELEGATE_TEST_POSTGRES_URL``, one fresh schema per test), and
how PostgreSQL URLs and failures are handled (those need no server)."""

from __future__ import annotations

import pickle
import sys
import traceback
from urllib.parse import urlsplit, urlunsplit

import pytest

from delegate.durable.store import normalize_url, open_store
from delegate.errors import ConfigurationError, StoreError

from .contract import SqlStoreChecks, StoreContract
from .interrupts import InterruptContract
from .migrations import MigrationChecks
from .reads import ReadContract

SECRET = "pw-Zq8!never-shown"


class TestPostgresStore(StoreContract, ReadContract, InterruptContract,
                        SqlStoreChecks, MigrationChecks):
    @pytest.fixture
    def store_url(self, postgres_url):
        return postgres_url

    def test_a_wrong_password_is_a_store_error_without_it(self, postgres_url):
        parts = urlsplit(postgres_url)
        netloc = f"{parts.username}:{SECRET}@{parts.hostname}:{parts.port}"
        with pytest.raises(StoreError) as error:
            open_store(urlunsplit(parts._replace(netloc=netloc)))
        assert_secret_hidden(error.value)


def assert_secret_hidden(error: BaseException) -> None:
    shown = [str(error), repr(error), "".join(traceback.format_exception(error)),
             str(pickle.loads(pickle.dumps(error)))]
    for text in shown:
        assert SECRET not in text and "never-shown" not in text


def test_an_unreachable_server_is_a_store_error_without_the_password():
    with pytest.raises(StoreError) as error:  # nothing listens on port 1
        open_store(f"postgresql://delegate:{SECRET}@127.0.0.1:1/delegate")
    assert "127.0.0.1" in str(error.value) and "***" in str(error.value)
    assert "\n" not in str(error.value)
    assert_secret_hidden(error.value)


def test_without_psycopg_the_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails
    with pytest.raises(ConfigurationError, match=r"pip install 'delegate\[postgres\]'"):
        open_store(f"postgresql://delegate:{SECRET}@127.0.0.1:1/delegate")


@pytest.mark.parametrize(("url", "normal"), [
    ("postgresql://u:p@h:5433/db", "postgresql+psycopg://u:p@h:5433/db"),
    ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
    ("postgresql+psycopg://u@h/db?sslmode=require", "postgresql+psycopg://u@h/db?sslmode=require"),
])
def test_postgres_urls_use_psycopg_3(url, normal):
    assert normalize_url(url) == normal
