"""How a run runs: one frozen :class:`RunConfig` instead of a dozen keyword arguments.

The config holds settings, plain values that can be written down, compared and reused:
concurrency, timeouts, retries, the failure policy, plan limits, the strategy, the budget. What
a run is made of (the workers, the model, a plan, subscribers, a journal) is passed beside it.
Every workflow takes the same config, so a setting means the same thing everywhere::

    config = RunConfig(max_concurrency=8, task_timeout=60, strategy="hybrid")
    await run("...", workers=workers, config=config)
    await run_blog("...", config=config)
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from ..errors import UsageError
from .plan import PlanLimits, Strategy
from .retry import RetryPolicy

if TYPE_CHECKING:  # a type only: the budget's logic lives in delegate.limits
    from ..limits.budget import Budget

__all__ = ["DEFAULT_CALL_TIMEOUT", "FailurePolicy", "RunConfig", "config_from"]

FailurePolicy = Literal["continue", "fail_fast"]

#: Seconds one model call may take, waits for a rate limit included, unless the run says.
DEFAULT_CALL_TIMEOUT = 300.0

_STRATEGIES: tuple[str, ...] = get_args(Strategy)
_POLICIES: tuple[str, ...] = get_args(FailurePolicy)


@dataclass(frozen=True)
class RunConfig:
    """The settings of a run.

    Attributes:
        max_concurrency: most tasks running at once.
        task_timeout: seconds one attempt of a task may take (``None``: no limit).
        call_timeout: seconds any one model call may take (planning, workers, review,
            synthesis); never more than ``task_timeout``. ``None``: no limit.
        retry: retries of transient failures, for tasks and model calls.
        failure_policy: ``continue`` (a failed task skips only its dependents) or
            ``fail_fast`` (the first failure stops the run).
        limits: how big a plan may be (``None``: the orchestrator's).
        strategy: ``static``, ``dynamic`` or ``hybrid`` (see :mod:`delegate.core.strategies`).
        max_replans: most new plan versions under ``dynamic`` or ``hybrid``.
        synthesize: whether to write a final answer at all.
        budget: tokens, dollars and seconds the run may spend (a
            :class:`~delegate.limits.budget.Budget`; ``None``: no limit).
        approve_plan: ask a person to approve, edit or reject the plan before any worker
            starts (see :mod:`delegate.core.interrupts`); the run needs a way to ask (an
            ``on_interrupt`` handler, or a journal to wait in).
        approve_extensions: ask a person to approve each plan version a ``dynamic`` or
            ``hybrid`` strategy grows, before its new tasks run (rejected: the plan stays as
            it was).
        approval_timeout: seconds the plan's approval may wait (``None``: no deadline).
        on_approval_timeout: what the deadline decides: ``reject`` (the default: nothing
            runs), ``approve`` or ``fail``.

    Raises:
        UsageError: a setting out of range, with the setting's name.
    """

    max_concurrency: int = 4
    task_timeout: float | None = None
    call_timeout: float | None = DEFAULT_CALL_TIMEOUT
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    failure_policy: FailurePolicy = "continue"
    limits: PlanLimits | None = None
    strategy: Strategy = "static"
    max_replans: int = 2
    synthesize: bool = True
    budget: Budget | None = None
    approve_plan: bool = False
    approve_extensions: bool = False
    approval_timeout: float | None = None
    on_approval_timeout: Literal["reject", "approve", "fail"] = "reject"

    def __post_init__(self) -> None:
        _check_whole("max_concurrency", self.max_concurrency, 1)
        for name in ("task_timeout", "call_timeout", "approval_timeout"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not math.isfinite(value) or value <= 0):
                raise UsageError(f"{name} must be a positive number of seconds or None, "
                                 f"not {value!r}")
        if self.failure_policy not in _POLICIES:
            raise UsageError(f"failure_policy must be one of {', '.join(_POLICIES)}, "
                             f"not {self.failure_policy!r}")
        if self.strategy not in _STRATEGIES:
            raise UsageError(f"strategy must be one of {', '.join(_STRATEGIES)}, "
                             f"not {self.strategy!r}")
        _check_whole("max_replans", self.max_replans, 0)
        if self.on_approval_timeout not in ("reject", "approve", "fail"):
            raise UsageError("on_approval_timeout must be one of reject, approve, fail, not "
                             f"{self.on_approval_timeout!r}")
        if not isinstance(self.retry, RetryPolicy):
            raise UsageError(f"retry must be a RetryPolicy, not {type(self.retry).__name__}")

    @property
    def effective_call_timeout(self) -> float | None:
        """``call_timeout``, cut to ``task_timeout``: no model call outlives its attempt."""
        if self.task_timeout is not None and (self.call_timeout is None
                                              or self.task_timeout < self.call_timeout):
            return self.task_timeout
        return self.call_timeout

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` (validated like a new config)."""
        return dataclasses.replace(self, **changes)

    def unsupported(self, supported: Collection[str]) -> list[str]:
        """The settings changed from their defaults that are not in ``supported``: what a
        workflow that applies only ``supported`` would otherwise ignore."""
        return [f.name for f in dataclasses.fields(self) if f.name not in supported
                and getattr(self, f.name) != getattr(_DEFAULT, f.name)]

    def check_supported(self, supported: Collection[str], workflow: str) -> RunConfig:
        """This config, or a :class:`UsageError` naming each changed setting ``workflow``
        does not apply (a setting is never ignored in silence)."""
        extra = self.unsupported(supported)
        if extra:
            raise UsageError(f"the {workflow} workflow does not take: {', '.join(extra)}")
        return self


def _check_whole(name: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UsageError(f"{name} must be a whole number of at least {least}, not {value!r}")


_DEFAULT = RunConfig()
_FIELDS = frozenset(f.name for f in dataclasses.fields(RunConfig))


def config_from(config: RunConfig | None, legacy: Mapping[str, Any], *,
                caller: str) -> RunConfig:
    """``config`` with the settings a caller still passed as keyword arguments applied on top.

    The keywords keep working for one release: each one given warns with a
    :class:`DeprecationWarning` that names the ``RunConfig`` field to use instead (it points
    at ``caller``, a coroutine function for most callers, not at the line that awaited it).
    A keyword that is not a setting is a :class:`TypeError`, as for any function.
    """
    base = config if config is not None else RunConfig()
    if not isinstance(base, RunConfig):
        raise UsageError(f"config must be a RunConfig, not {type(base).__name__}")
    if not legacy:
        return base
    unknown = sorted(set(legacy) - _FIELDS)
    if unknown:
        raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
    names = sorted(legacy)
    warnings.warn(
        f"{caller}(): passing {', '.join(names)} as keyword arguments is deprecated and will "
        f"be removed in the next release; pass config=RunConfig("
        f"{', '.join(f'{n}=...' for n in names)}) instead",
        DeprecationWarning, stacklevel=2)
    changes = dict(legacy)
    if changes.get("retry", base.retry) is None:
        changes["retry"] = RetryPolicy()
    return base.replace(**changes)
