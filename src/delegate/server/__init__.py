"""The HTTP API and live dashboard over the run store: ``delegate serve``.

``create_app(...)`` builds the FastAPI application (see :mod:`delegate.server.app`); it needs
the ``server`` extra (FastAPI, uvicorn, sse-starlette), and says so in one line when missing.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """Build the server's application; see :func:`delegate.server.app.create_app`.

    Raises:
        ConfigurationError: the ``server`` extra is not installed.
    """
    try:
        import fastapi  # noqa: F401
        import sse_starlette  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(f"delegate serve needs the server extra ({exc.name} is "
                                 "missing): pip install 'delegate[server]'") from None
    from .app import create_app as build

    return build(*args, **kwargs)
