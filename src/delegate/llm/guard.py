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
from contextvars import ContextVar

from ..errors import ModelRequestsDisallowed

__all__ = ["MODEL_REQUESTS", "allow_model_requests", "check_model_requests_allowed",
           "set_model_requests"]

#: Whether real provider requests are allowed in this context; ``None`` follows
#: ``DELEGATE_BLOCK_MODEL_REQUESTS``. A context variable, not process state: a
#: :class:`~delegate.runtime.Runtime` sets it for the runs under it, and ``asyncio`` tasks
#: inherit it from where they were made.
MODEL_REQUESTS: ContextVar[bool | None] = ContextVar("delegate_model_requests", default=None)


def set_model_requests(allowed: bool | None) -> None:
    """Allow or refuse real provider requests in the current context (a test session's)."""
    MODEL_REQUESTS.set(allowed)


@contextmanager
def allow_model_requests(allowed: bool = True) -> Iterator[None]:
    """Temporarily allow (or refuse) real provider requests."""
    before = MODEL_REQUESTS.get()
    MODEL_REQUESTS.set(allowed)
    try:
        yield
    finally:
        MODEL_REQUESTS.set(before)


def check_model_requests_allowed(provider: str) -> None:
    """Raise :class:`ModelRequestsDisallowed` when real requests are off."""
    allowed = MODEL_REQUESTS.get()
    if allowed is None:
        allowed = os.environ.get("DELEGATE_BLOCK_MODEL_REQUESTS", "") in ("", "0")
    if not allowed:
        raise ModelRequestsDisallowed(
            f"real {provider} requests are disallowed here (tests); "
            "use a scripted model or `allow_model_requests()`"
        )

