"""The state an application holds across runs: models, rate limiters, prices.

A :class:`Runtime` is what a long-lived process (the CLI, a server, a notebook) creates once
and closes once. It owns:

- **models** resolved from ``provider:model`` strings, one instance per string (an embedded
  llama.cpp model loads once, an HTTP provider keeps its connections), closed by
  :meth:`Runtime.aclose`; a :class:`~delegate.llm.base.Model` object handed in by the caller
  stays the caller's to close;
- **rate limiters**, one per limit key (``provider`` or ``provider:model``), shared by every run
  of the runtime, on the runtime's event loop;
- the **price table** runs are metered with;
- whether real provider requests are **allowed** (the test suites' switch, see
  :mod:`delegate.llm.guard`), for the runs under it.

Nothing here is process-wide: two runtimes in one process share nothing. ``async with
Runtime(...) as rt:`` also makes ``rt`` the current runtime of the code inside the block, so
that workflows that take no ``runtime=`` argument use it; a run with no runtime at all makes
a private one and closes it when it ends, so whatever a run opens, the run closes.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import UsageError
from .limits.pricing import PriceTable, default_prices
from .limits.ratelimit import Limiters, RateLimit, RateLimiter
from .llm.base import Model
from .llm.guard import MODEL_REQUESTS
from .llm.registry import get_model

__all__ = ["Runtime", "current_runtime"]

_CURRENT: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar(
    "delegate_runtime", default=None)


def current_runtime() -> Runtime | None:
    """The runtime of the enclosing ``async with Runtime()`` block, if any."""
    return _CURRENT.get()


class Runtime:
    """Models, rate limiters and prices shared by the runs of one application.

    Args:
        prices: the price table (default: the built-in table with ``DELEGATE_PRICES``).
        rate_limits: limits by ``provider`` or ``provider:model`` (see
            :func:`delegate.limits.ratelimit.parse_rate_limits`); every model of the runtime is held
            to the most specific one that names it.
        model_requests: ``False`` refuses real provider requests in the runs under this
            runtime, ``True`` allows them, ``None`` follows the process's setting.
    """

    def __init__(
        self, *, prices: PriceTable | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        model_requests: bool | None = None,
    ) -> None:
        self.prices = prices if prices is not None else default_prices()
        self.limiters = Limiters(rate_limits)
        self.model_requests = model_requests
        self._models: dict[str, Model] = {}
        self._tokens: list[tuple[contextvars.Token[Any], ...]] = []
        self.closed = False

    def model(self, spec: str | Model | None = None) -> Model:
        """The model for ``spec`` (``None``: ``DELEGATE_MODEL``, else ``local:default``),
        under the runtime's rate limits. Strings resolve once per runtime.

        Raises:
            ConfigurationError: unknown provider, missing key or extra.
            UsageError: the runtime is closed.
        """
        if self.closed:
            raise UsageError("this runtime is closed")
        if isinstance(spec, Model):
            return self._limited(spec)
        key = spec if spec is not None else ""
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = get_model(spec)
        return self._limited(model)

    @property
    def rate_limits(self) -> dict[str, RateLimit]:
        return self.limiters.limits

    def limiter(self, key: str, limit: RateLimit) -> RateLimiter:
        """The runtime's limiter for ``key``; a different limit for the key replaces it."""
        return self.limiters.limiter(key, limit)

    def _limited(self, model: Model) -> Model:
        return self.limiters.wrap(model)

    @contextlib.contextmanager
    def use(self) -> Iterator[Runtime]:
        """Make this the current runtime inside the block, without closing it after (for a
        caller that runs several event loops over one runtime, like the CLI)."""
        tokens = self._enter()
        try:
            yield self
        finally:
            self._exit(tokens)

    async def aclose(self) -> None:
        """Close every model the runtime resolved (idempotent); the first error is raised
        after all were tried."""
        self.closed = True
        models, self._models = list(self._models.values()), {}
        self.limiters.clear()
        first: BaseException | None = None
        for model in models:
            try:
                await model.aclose()
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first

    def _enter(self) -> tuple[contextvars.Token[Any], ...]:
        tokens: tuple[contextvars.Token[Any], ...] = (_CURRENT.set(self),)
        if self.model_requests is not None:
            tokens += (MODEL_REQUESTS.set(self.model_requests),)
        return tokens

    @staticmethod
    def _exit(tokens: tuple[contextvars.Token[Any], ...]) -> None:
        for token in reversed(tokens):
            token.var.reset(token)

    async def __aenter__(self) -> Runtime:
        self._tokens.append(self._enter())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._exit(self._tokens.pop())
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Runtime models={sorted(self._models)} limits={sorted(self.rate_limits)}>"
