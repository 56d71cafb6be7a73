"""The SQL store on SQLite (the default), and how ``open_store`` reads a store URL."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import platformdirs
import pytest

from delegate.durable.store import default_store_url, open_store, redact_url
from delegate.errors import ConfigurationError, StoreError

from .contract import ALICE, SqlStoreChecks, StoreContract, run_record
from .interrupts import InterruptContract
from .migrations import MigrationChecks
from .reads import ReadContract


class TestSqliteStore(StoreContract, ReadContract, InterruptContract,
                      SqlStoreChecks, MigrationChecks):
    @pytest.fixture
    def store_url(self, sqlite_url):
        return sqlite_url


def test_the_file_is_shared_safely(sqlite_url, tmp_path):
    store = open_store(sqlite_url)
    try:
        with sqlite3.connect(tmp_path / "runs.db") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"runs", "plan_versions", "outcomes", "model_calls", "events",
                "response_cache", "alembic_version"} <= tables
    finally:
        store.close()


def test_a_bare_path_is_a_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = open_store("nested/dir/my.db")  # relative, and the directories do not exist yet
    try:
        store.create_run(run_record("run-path"), ALICE)
    finally:
        store.close()
    reopened = open_store(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'my.db'}")
    try:
        assert reopened.get_run("run-path").owner == ALICE
    finally:
        reopened.close()


@pytest.mark.parametrize("url", ["sqlite://", ":memory:", "sqlite:///:memory:"])
def test_an_in_memory_store_works_across_threads(url):
    store = open_store(url)
    try:
        assert store.schema_version() == "0002"
        worker = threading.Thread(target=store.create_run, args=(run_record("run-mem"), ALICE))
        worker.start()
        worker.join()
        assert store.get_run("run-mem").owner == ALICE
    finally:
        store.close()


def test_open_store_without_a_url_uses_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "from-env.db"
    monkeypatch.setenv("DELEGATE_STORE", str(path))
    assert default_store_url() == f"sqlite:///{path}"
    store = open_store()
    try:
        store.create_run(run_record("run-env"), ALICE)
    finally:
        store.close()
    assert path.exists()


def test_the_default_store_lives_in_the_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("DELEGATE_STORE", raising=False)
    data = tmp_path / "data" / "delegate"
    monkeypatch.setattr(platformdirs, "user_data_path", lambda app: tmp_path / "data" / app)
    assert default_store_url() == f"sqlite:///{data / 'delegate.db'}"
    assert not data.exists()  # naming the default creates nothing
    store = open_store()
    try:
        assert store.list_runs() == []
    finally:
        store.close()
    assert (data / "delegate.db").is_file()


@pytest.mark.parametrize("url", ["mysql://root:hunter2@db/runs", "http://example.com/x",
                                 "postgresql+psycopg2://u:hunter2@h/db", "   ",
                                 "sqlite://somehost/x.db", "postgresql://u:hunter2@h:port/db"])
def test_an_unknown_url_is_a_configuration_error(url):
    with pytest.raises(ConfigurationError) as error:
        open_store(url)
    assert "\n" not in str(error.value) and "hunter2" not in str(error.value)


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(StoreError, match=r"notes\.txt"):
        open_store(str(path))


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://user:s3cret@host:5432/db", "postgresql://user:***@host:5432/db"),
    ("postgresql+psycopg://user:p%40ss@host/db?sslmode=require",
     "postgresql+psycopg://user:***@host/db?sslmode=require"),
    ("postgresql://user@host/db", "postgresql://user@host/db"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
])
def test_redact_url_hides_only_the_password(url, shown):
    assert redact_url(url) == shown


def test_importing_delegate_does_not_import_sqlalchemy():
    import subprocess
    import sys

    code = "import sys, delegate, delegate.durable.store; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parent)
    assert out.stdout.strip() == "False"


def test_a_cache_miss_takes_no_write_lock(sqlite_url, tmp_path, monkeypatch):
    from delegate.durable.store import _engine

    monkeypatch.setattr(_engine, "BUSY_TIMEOUT_SECONDS", 0.05)  # a wait for the lock fails fast
    store = open_store(sqlite_url)
    store.cache_put("hit", "p", "m", {"text": "cached"})
    other = sqlite3.connect(tmp_path / "runs.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process is writing
        assert store.cache_get("missing") is None
        assert store.cache_get("hit", count=False) == {"text": "cached"}
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()


def test_a_store_error_hides_the_password_but_leaves_the_words_around_it():
    from delegate.durable.store._engine import describe_error

    said = describe_error(Exception('at "127.0.0.1", port 1 failed: password=p; u:p@h is up'),
                          "postgresql://u:***@h/db", "p")
    assert said.endswith('at "127.0.0.1", port 1 failed: password=***; u:***@h is up')
    assert "s3cr3t" not in describe_error(Exception("no auth for s3cr3t%21x or s3cr3t!x"),
                                          "x", "s3cr3t!x")
