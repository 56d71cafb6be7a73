"""Secrets never reach the store: everything a journal writes passes through a
:class:`Redactor` first.

Replaced by ``[redacted]``: the values of environment variables whose names look like
credentials (``*_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``, ``*_CREDENTIALS``, at least
eight characters long), the userinfo of every URL (``scheme://user:password@``) and token-like
URL query values (``?token=``, ``api_key=``, ``sig=``, ``password=`` ...).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["REDACTED", "Redactor", "redact"]

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.I)
_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#@'\"<>]+@")
_QUERY_SECRET = re.compile(
    r"([?&;](?:[A-Za-z0-9]+[_.-])*(?:token|key|apikey|secret|sig|signature|password|passwd"
    r"|pwd|auth|authorization|credentials?|session|code)=)[^&#;\s'\"<>]+", re.I)
_SCALARS = frozenset({int, float, bool, type(None)})


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``secrets``, every URL's userinfo and every token-like URL
    query value replaced by ``[redacted]``."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    if "@" in text:
        text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(rf"\1{REDACTED}", text)
    return text


class Redactor:
    """Cleans JSON-ready values of the secrets of ``environ`` (the process's environment by
    default), read once when it is made.

    Most values hold nothing to replace, so :meth:`clean` first looks (without copying) and
    returns the value itself when it is clean; a dict or list is looked at through its JSON
    text in one search when every secret writes as itself in JSON.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.secrets = sorted({v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= 8},
                              key=len, reverse=True)
        self._needle = re.compile("|".join(["@", "=", *map(re.escape, self.secrets)])).search
        # a secret JSON writes as itself can be looked for in a value's JSON text in one
        # search (fast, in C); one JSON escapes is looked for value by value instead
        self._json_safe = all(json.dumps(v, ensure_ascii=False)[1:-1] == v for v in self.secrets)

    def clean(self, value: Any) -> Any:
        """``value`` with every secret, URL userinfo and URL token replaced; ``value`` itself
        (no copy) when there is nothing to replace, as is the rule."""
        return self._scrub(value) if self._dirty(value) else value

    def _dirty(self, value: Any) -> bool:
        """Whether ``value`` holds a string :func:`redact` may change (no copy made)."""
        kind = type(value)
        if kind is str:
            return self._needle(value) is not None
        if self._json_safe and (kind is dict or kind is list):
            try:  # every string of the value, keys included, appears as itself in its JSON
                text = json.dumps(value, ensure_ascii=False, default=str, check_circular=False)
            except (TypeError, ValueError, RecursionError):
                pass
            else:
                return self._needle(text) is not None
        if kind is dict or isinstance(value, dict):
            for key, item in value.items():
                if type(item) not in _SCALARS and self._dirty(item):
                    return True
                if type(key) is str and self._needle(key) is not None:
                    return True
            return False
        if kind is list or kind is tuple or isinstance(value, list | tuple):
            return any(self._dirty(item) for item in value if type(item) not in _SCALARS)
        return isinstance(value, str) and self._needle(value) is not None

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, self.secrets) if value else value
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        if isinstance(value, dict):
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        return value
