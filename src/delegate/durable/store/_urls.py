"""Store URLs: which database a store opens, spelled for SQLAlchemy, and shown without secrets.

Accepted spellings (anything else is a :class:`~delegate.errors.ConfigurationError`):

* ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or a bare path: a SQLite file;
* ``sqlite://``, ``sqlite:///:memory:`` or ``:memory:``: a private in-memory SQLite database;
* ``postgresql://...``, ``postgres://...`` or ``postgresql+psycopg://...``: PostgreSQL through
  psycopg 3 (the ``postgres`` extra).

This module imports neither SQLAlchemy nor a driver, so naming a store stays cheap.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ...errors import ConfigurationError

__all__ = ["ENV_VAR", "default_store_url", "normalize_url", "redact_url"]

ENV_VAR = "DELEGATE_STORE"
MEMORY_URL = "sqlite://"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")
_POSTGRES = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
             "postgresql+psycopg": "postgresql+psycopg"}


def redact_url(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``***``."""

    def hide(match: re.Match[str]) -> str:
        user, colon, _password = match.group(2).partition(":")
        return f"{match.group(1)}{user}{':***' if colon else ''}@"

    return _USERINFO.sub(hide, url, count=1)


def normalize_url(url: str) -> str:
    """The SQLAlchemy URL for a store URL or path; raises ``ConfigurationError`` if unknown."""
    text = url.strip()
    if not text:
        raise ConfigurationError("empty store URL: give sqlite:///PATH, a file path or "
                                 "postgresql://USER:PASSWORD@HOST/DB")
    if text in (":memory:", "sqlite://", "sqlite:///:memory:"):
        return MEMORY_URL
    match = _SCHEME.match(text)
    if match is None:  # a bare path
        return "sqlite:///" + str(Path(text).expanduser().absolute())
    scheme, rest = match.group(1).lower(), text[match.end():]
    if scheme in ("sqlite", "sqlite+pysqlite"):
        return "sqlite://" + rest
    if scheme in _POSTGRES:
        return f"{_POSTGRES[scheme]}://{rest}"
    raise ConfigurationError(
        f"unsupported store URL {redact_url(text)!r}: use sqlite:///PATH, a file path or "
        "postgresql://USER:PASSWORD@HOST/DB")


def default_store_url() -> str:
    """The URL ``open_store(None)`` opens: ``$DELEGATE_STORE``, else ``delegate.db`` in the
    user data directory (``platformdirs.user_data_path("delegate")``)."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        return normalize_url(configured)
    import platformdirs

    return "sqlite:///" + str(platformdirs.user_data_path("delegate") / "delegate.db")
