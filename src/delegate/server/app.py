"""``create_app``: the server as a FastAPI application, with nothing kept at import time.

Everything a server holds (the store, the runtime, the run manager, the token) lives on the
application it builds; two applications in one process share nothing. The lifespan opens the
run manager, registers it with the store's commit listeners (so streams wake on each commit),
recovers the runs whose owner died (unless ``recover=False``), and on shutdown cancels what it
still runs (recorded ``cancelled``; ``POST /api/runs/{id}/resume`` carries them on), then closes
what it opened. Under uvicorn those runs are cancelled as soon as the server begins to exit, so
that open streams send their runs' last events and end cleanly (see
:func:`~delegate.server.stream.end_streams_at_exit`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from ..durable.store import commit_listeners, open_store
from ..errors import RunNotFound, StoreError, UsageError
from ..runtime import Runtime
from .auth import Gate, allowed_hosts
from .errors import ApiError, error_body
from .manager import RunManager
from .routes import router
from .routes_interrupts import router as interrupts_router
from .stream import end_streams_at_exit

__all__ = ["create_app"]

log = logging.getLogger("delegate.server")
_TOKEN = re.compile(r"^[A-Za-z0-9._~-]{16,200}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def create_app(store: Any = None, *, token: str | None = None, host: str = "127.0.0.1",
               port: int = 8765, max_runs: int | None = None, recover: bool = True,
               runtime: Runtime | None = None) -> FastAPI:
    """The server's application.

    Args:
        store: a run store, or its URL (``None``: ``DELEGATE_STORE``, else the data dir).
        token: the token every request must carry (default: a random one; read it back
            from ``app.state.token`` to print it). 16 to 200 URL-safe characters.
        host, port: where the server is reached: the ``Host`` headers it answers.
        max_runs: runs executed at once (default: the machine's cores); the rest wait.
        recover: claim and carry on, at start, the stored runs whose owner died.
        runtime: the models, rate limits and prices the runs share (default: a new one,
            closed with the application).

    Raises:
        UsageError: a malformed token, or a host other than loopback without a token.
    """
    if token is None:
        if host not in _LOOPBACK:
            raise UsageError(f"serving on {host} needs an explicit token (--token)")
        token = secrets.token_urlsafe(24)
    if not _TOKEN.match(token):
        raise UsageError("the token must be 16 to 200 letters, digits or . _ ~ -")
    if not 1 <= port <= 65535:
        raise UsageError("the port must be between 1 and 65535")
    max_runs = max_runs if max_runs is not None else (os.cpu_count() or 1)
    if max_runs < 1:
        raise UsageError("max_runs must be at least 1")
    own_runtime = runtime is None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.store = open_store(store) if store is None or isinstance(store, str) else store
        state.store_kind = _store_kind(state.store)
        state.runtime = runtime if runtime is not None else _runtime()
        state.manager = manager = RunManager(state.store, state.runtime, max_runs)
        state.idempotency = {}
        commit_listeners.add(manager.notify_threadsafe)
        try:
            if recover:
                taken = await manager.recover()
                if taken:
                    log.warning("delegate: carrying on %d run(s) whose owner died: %s",
                                len(taken), ", ".join(t[:8] for t in taken))
            async with end_streams_at_exit(manager):
                yield
        finally:
            try:
                await manager.close()
            finally:
                commit_listeners.discard(manager.notify_threadsafe)
                if own_runtime:
                    await state.runtime.aclose()
                if store is None or isinstance(store, str):
                    state.store.close()

    app = FastAPI(title="delegate", version=_version(), lifespan=lifespan,
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None)
    app.state.token = token
    app.include_router(router)
    app.include_router(interrupts_router)
    static = files("delegate.server") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(str(static / "index.html"), headers={"Cache-Control": "no-store"})

    _handlers(app)
    app.add_middleware(Gate, token=token, hosts=allowed_hosts(host, port))
    return app


def _handlers(app: FastAPI) -> None:
    """Every error answers ``{"error": {"code", "message"}}``."""

    def answer(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse(error_body(code, message), status_code=status)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return answer(exc.status, exc.code, exc.message)

    @app.exception_handler(RunNotFound)
    async def not_found(request: Request, exc: RunNotFound) -> JSONResponse:
        return answer(404, "not_found", str(exc))

    @app.exception_handler(UsageError)
    async def usage(request: Request, exc: UsageError) -> JSONResponse:
        return answer(422, "invalid_request", str(exc))

    @app.exception_handler(StoreError)
    async def store_failed(request: Request, exc: StoreError) -> JSONResponse:
        return answer(503, "store_unavailable", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return answer(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}"[:300])

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException) -> JSONResponse:
        code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed",
                413: "too_large"}.get(exc.status_code, "internal")
        return answer(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("delegate: %s %s failed", request.method, request.url.path)
        return answer(500, "internal", "the server failed; its log says why")


def _runtime() -> Runtime:
    """The runtime of a server given none: the built-in prices (with ``DELEGATE_PRICES``) and
    the rate limits of ``DELEGATE_RATE_LIMITS``."""
    from ..limits.ratelimit import parse_rate_limits

    spec = os.environ.get("DELEGATE_RATE_LIMITS")
    return Runtime(rate_limits=parse_rate_limits(spec) if spec else None)


def _store_kind(store: Any) -> str:
    url = str(getattr(store, "url", "") or "")
    return "postgresql" if url.startswith("postgresql") else "memory" if not url or \
        ":memory:" in url or url == "sqlite://" else "sqlite"


def _version() -> str:
    from .._version import __version__

    return __version__
