"""Durable runs: the :class:`RunStore` interface and :func:`open_store`, which picks the store.

``open_store()`` opens ``$DELEGATE_STORE`` or, failing that, the SQLite file ``delegate.db`` in
the user data directory; ``open_store("postgresql://user:pw@host/db")`` opens PostgreSQL (with
the ``postgres`` extra). Opening migrates the schema to the newest version this code knows.
SQLAlchemy is imported by :func:`open_store` only, so ``import delegate`` stays light.

:data:`commit_listeners` (a set of ``(run_id) -> None``) hears each batch of a run's events
that this process's journals commit (see :mod:`~delegate.durable.store._commits`).
"""

from __future__ import annotations

from ._commits import commit_listeners
from ._urls import default_store_url, normalize_url, redact_url
from .base import ModelCallRecord, Owner, RunRecord, RunStore

__all__ = [
    "ModelCallRecord",
    "Owner",
    "RunRecord",
    "RunStore",
    "commit_listeners",
    "default_store_url",
    "open_store",
    "redact_url",
]


def open_store(url: str | None = None) -> RunStore:
    """Open (creating and migrating as needed) the store at ``url``.

    Args:
        url: ``sqlite:///PATH``, a bare file path, ``sqlite://`` or ``:memory:`` (in memory),
            or ``postgresql://USER:PASSWORD@HOST[:PORT]/DB``; ``None`` means
            :func:`default_store_url`.

    Raises:
        ConfigurationError: an unknown URL scheme, or PostgreSQL without psycopg installed.
        StoreError: the database cannot be reached, or was written by a newer delegate.
    """
    resolved = default_store_url() if url is None else normalize_url(url)
    from .sql import SqlStore

    return SqlStore(resolved)
