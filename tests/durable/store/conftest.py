"""Databases for the store tests: a fresh SQLite file, or a fresh PostgreSQL schema, per test.

PostgreSQL comes from ``DELEGATE_TEST_POSTGRES_URL`` (``.ci/run`` starts a local cluster and
sets it; ``eval "$(.ci/run postgres-env)"`` does the same for a shell). Without it the
PostgreSQL tests skip, or fail when ``DELEGATE_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest

POSTGRES_ENV = "DELEGATE_TEST_POSTGRES_URL"
REQUIRE_ENV = "DELEGATE_REQUIRE_POSTGRES"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The libpq URL of the test server (``postgresql://user:password@127.0.0.1:port/db``)."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {POSTGRES_ENV} is not set")
        pytest.skip(f"PostgreSQL store tests need {POSTGRES_ENV}=postgresql://USER:PASSWORD@"
                    "127.0.0.1:PORT/DB (eval \"$(.ci/run postgres-env)\" sets one up)")
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def postgres_url(postgres_server):
    """A store URL whose ``search_path`` is a new, empty schema, dropped after the test."""
    import psycopg

    schema = f"delegate_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    joiner = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{joiner}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(postgres_server, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
