"""The state an application holds across runs (models, rate limiters, prices), and the model
stack each run calls its models through.

A :class:`Runtime` is what a long-lived process (the CLI, a server, a notebook) creates once
and closes once. It owns:

- **models** resolved from ``provider:model`` strings, one instance per string (an embedded
  llama.cpp model loads once, an HTTP provider keeps its connections), closed by
  :meth:`Runtime.aclose`; a :class:`~delegate.llm.base.Model` object handed in by the caller
  stays the caller's to close;
- **rate limiters**, one per limit key (``provider`` or ``provider:model``), shared by every run
  of the runtime, on the runtime's event loop (a run's model stack holds its calls to them);
- the **price table** runs are metered with;
- whether real provider requests are **allowed** (the test suites' switch, see
  :mod:`delegate.llm.guard`), for the runs under it.

Nothing here is process-wide: two runtimes in one process share nothing. ``async with
Runtime(...) as rt:`` also makes ``rt`` the current runtime of the code inside the block, so
that workflows that take no ``runtime=`` argument use it; a run with no runtime at all makes
a private one and closes it when it ends, so whatever a run opens, the run closes.

A run calls every model through one stack, built in one order by :class:`ModelStack` (the
run's meter, which :func:`new_session` gives to the run's
:class:`~delegate.core.session.RunSession`; :func:`delegate.run` and the staged workflows both
use it). Each layer does one thing and forwards the rest; from the caller down:

1. replay and the response cache (:class:`~delegate.durable.replay.ReplayModel`, durable runs):
   an answer from the store costs no budget, no rate-limit room and no tokens;
2. the budget, reserve then settle (:class:`~delegate.limits.budget.BudgetedModel`): a refused
   call never waits for the rate limiter;
3. the call timeout (:class:`~delegate.limits.timeout.TimeoutModel`), which counts the wait
   for rate-limit room;
4. the rate limit (:class:`~delegate.limits.ratelimit.RateLimitedModel`), its waits
   interrupted when the budget stops the run;
5. metering and pricing (:class:`~delegate.limits.metering.MeteredModel`): usage, cost and
   the ``ModelCalled`` event, once per call;
6. output repair (:mod:`delegate.llm.repair`): a provider's structured request runs the one
   repair loop around its wire attempts, so an invalid answer goes back to the model and
   every attempt's tokens are counted in the one call metering sees;
7. the provider's call on the wire.

The repair loop is the provider's own first step rather than a wrapper, because the way an
answer is sent back is the provider's (an Anthropic ``tool_result`` answers its ``tool_use``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

from .core.config import DEFAULT_CALL_TIMEOUT
from .core.events import BudgetReached, EventBus, Subscriber
from .core.meter import Meter
from .core.outcomes import TaskOutcome
from .core.plan import Task
from .core.session import RunSession
from .durable.journal import Journal
from .durable.replay import ReplayModel
from .errors import UsageError
from .limits.budget import Budget, BudgetedModel, BudgetGuard
from .limits.metering import MeteredModel
from .limits.pricing import PriceTable, default_prices
from .limits.ratelimit import Limiters, RateLimit, RateLimiter
from .limits.timeout import TimeoutModel
from .llm.base import Model
from .llm.guard import MODEL_REQUESTS
from .llm.registry import get_model

__all__ = ["ModelStack", "Runtime", "current_runtime", "new_session"]

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
        """The model for ``spec`` (``None``: ``DELEGATE_MODEL``, else ``local:default``); a
        :class:`Model` is returned as it is. Strings resolve once per runtime. A run holds
        its calls to the runtime's rate limits (see :class:`ModelStack`).

        Raises:
            ConfigurationError: unknown provider, missing key or extra.
            UsageError: the runtime is closed.
        """
        if self.closed:
            raise UsageError("this runtime is closed")
        if isinstance(spec, Model):
            return spec
        key = spec if spec is not None else ""
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = get_model(spec)
        return model

    def add_model(self, spec: str, model: Model) -> None:
        """Answer ``spec`` with ``model`` from now on (a server's runs name models by string:
        this is how an application, or a test, gives one a model object). The runtime closes
        it with the others.

        Raises:
            UsageError: the runtime is closed, or ``spec`` is empty.
        """
        if self.closed:
            raise UsageError("this runtime is closed")
        if not spec.strip():
            raise UsageError("a model's name must not be empty")
        self._models[spec] = model

    @property
    def rate_limits(self) -> dict[str, RateLimit]:
        return self.limiters.limits

    def limiter(self, key: str, limit: RateLimit) -> RateLimiter:
        """The runtime's limiter for ``key``; a different limit for the key replaces it."""
        return self.limiters.limiter(key, limit)

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


class ModelStack(Meter):
    """The model stack of one run, and its meter (see the module docstring for the order).

    Args:
        run_id, bus: the run, and where its ``ModelCalled`` and ``BudgetReached`` events go.
        prices: the price table calls are metered with (default: the built-in table).
        limiters: the rate limiters calls are held to (the runtime's; default: none).
        journal: makes the run durable: calls are answered from and committed to its store,
            and finished tasks are restored from it.
        budget: what the run may spend.
        call_timeout: seconds any one model call may take (``None``: no limit).
    """

    def __init__(self, run_id: str, bus: EventBus, *, prices: PriceTable | None = None,
                 limiters: Limiters | None = None, journal: Journal | None = None,
                 budget: Budget | None = None,
                 call_timeout: float | None = DEFAULT_CALL_TIMEOUT) -> None:
        super().__init__(run_id, bus)
        self.prices = prices if prices is not None else default_prices()
        self.limiters = limiters if limiters is not None else Limiters()
        self.journal = journal
        self.call_timeout = call_timeout
        self.guard = BudgetGuard(budget, self.prices) if budget is not None else None
        if self.guard is not None:
            self.guard.on_stop(self._announce)

    def wrap(self, model: Model, task_id: str = "", purpose: str = "task") -> Model:
        """``model`` under every layer of the run's stack that applies, in the one order."""
        guard, journal = self.guard, self.journal
        layer = MeteredModel(model, self, prices=self.prices, task_id=task_id,
                             purpose=purpose)
        layer = self.limiters.wrap(layer, guard.wait if guard is not None else None)
        if self.call_timeout is not None:
            layer = TimeoutModel(layer, self.call_timeout)
        if guard is not None:
            layer = BudgetedModel(layer, guard, self)
        if journal is not None:
            layer = ReplayModel(layer, journal, self, task_id, purpose)
        return layer

    @property
    def budget_reached(self) -> str | None:
        return self.guard.reached if self.guard is not None else None

    @property
    def cancel_on_stop(self) -> bool:
        return self.guard is not None and self.guard.budget.on_exceed == "cancel"

    @property
    def restores(self) -> bool:
        return self.journal is not None

    async def sleep(self, seconds: float,
                    sleep: Callable[[float], Awaitable[Any]] | None = None) -> None:
        waiting = (sleep or asyncio.sleep)(seconds)
        if self.guard is None:
            await waiting
        else:
            await self.guard.wait(waiting)

    def on_stop(self, listener: Callable[[str], None]) -> Callable[[], None]:
        return self.guard.on_stop(listener) if self.guard is not None else super().on_stop(
            listener)

    def restore(self, task: Task) -> TaskOutcome | None:
        return self.journal.restore(task) if self.journal is not None else None

    def check(self, model: Model | None) -> None:
        if self.guard is not None:
            self.guard.check(model)

    def start(self) -> None:
        if self.guard is not None:
            self.guard.start()

    def close(self) -> None:
        if self.guard is not None:
            self.guard.close()

    def _announce(self, reason: str) -> None:
        if self.bus.active:
            self.bus.emit(BudgetReached(run_id=self.run_id, reason=reason))


def new_session(
    objective: str, *, subscribers: Iterable[Subscriber] = (), journal: Journal | None = None,
    budget: Budget | None = None, runtime: Runtime | None = None, run_id: str | None = None,
    call_timeout: float | None = DEFAULT_CALL_TIMEOUT,
) -> RunSession:
    """The :class:`~delegate.core.session.RunSession` of one run, with its model stack: the
    one place where a run is put together, for :func:`delegate.run` and the staged workflows.

    Args:
        objective: what the run is for.
        subscribers: event subscribers, called in order (after the journal).
        journal: makes the run durable; the run takes its id.
        budget: what the run may spend.
        runtime: where models, limiters and prices come from; default the current runtime,
            else a private one that the session closes when the run ends.
        run_id: the run's id (default: the journal's, else a random one).
        call_timeout: seconds any one model call may take.
    """
    rt = runtime or current_runtime()
    private = rt is None
    if rt is None:
        rt = Runtime()

    def stack(run: str, bus: EventBus) -> ModelStack:
        return ModelStack(run, bus, prices=rt.prices, limiters=rt.limiters, journal=journal,
                          budget=budget, call_timeout=call_timeout)

    return RunSession(objective, subscribers=subscribers, journal=journal, run_id=run_id,
                      meter=stack, resolve=rt.model, close=rt.aclose if private else None)
