"""A switch that refuses real network model requests, for test suites.

The test suite turns requests off (``set_model_requests(False)``, or the environment variable
``DELEGATE_BLOCK_MODEL_REQUESTS=1`` for subprocesses); a test that talks to a server it started
on 127.0.0.1 opts back in with ``with allow_model_requests(): ...``. The embedded local model and
the scripted model are never refused: they reach no network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ModelRequestsDisallowed

__all__ = ["allow_model_requests", "check_model_requests_allowed", "set_model_requests"]

_allowed: bool | None = None  # None: follow DELEGATE_BLOCK_MODEL_REQUESTS


def set_model_requests(allowed: bool | None) -> None:
    """Allow or refuse real provider requests in this process."""
    global _allowed
    _allowed = allowed


@contextmanager
def allow_model_requests(allowed: bool = True) -> Iterator[None]:
    """Temporarily allow (or refuse) real provider requests."""
    global _allowed
    before, _allowed = _allowed, allowed
    try:
        yield
    finally:
        _allowed = before


def check_model_requests_allowed(provider: str) -> None:
    """Raise :class:`ModelRequestsDisallowed` when real requests are off."""
    allowed = _allowed
    if allowed is None:
        allowed = os.environ.get("DELEGATE_BLOCK_MODEL_REQUESTS", "") in ("", "0")
    if not allowed:
        raise ModelRequestsDisallowed(
            f"real {provider} requests are disallowed here (tests); "
            "use a scripted model or `allow_model_requests()`"
        )

