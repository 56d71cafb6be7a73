"""The errors delegate raises, as one hierarchy.

Usage errors mean the caller asked for something that cannot work; they are never retried.
Run errors happen while a run is under way; only the transient ones are retried. A server
error is what :mod:`delegate.client` raises when a ``delegate serve`` server refuses a request
or cannot be reached::

    DelegateError
    ├── UsageError                    bad input from the caller (CLI exit code 2)
    │   ├── ConfigurationError        unknown provider, missing key, missing extra
    │   ├── PlanError                 an invalid plan; ``problems`` lists every one found
    │   ├── ModelRequestsDisallowed   a real provider was called inside the test suite
    │   ├── RunNotFound               no stored run has that id (or the prefix is ambiguous)
    │   ├── RunLocked                 another live process owns the run (a second resume)
    │   ├── InterruptNotFound         the run has no interrupt (a question to a person) by that id
    │   └── AlreadyAnswered           the interrupt was answered already; carries ``answered_by``
    ├── RunError                      something failed during a run (CLI exit code 1)
    │   ├── PlanningError             the orchestrator produced no valid plan and had no fallback
    │   ├── TaskTimeout               one attempt of a task ran past its timeout (transient)
    │   ├── RunWaiting                the run stopped to wait for a person's answer
    │   ├── StoreError                the run store failed (unreachable, corrupt, too new)
    │   ├── BudgetExceeded            a model call would go over the run's budget
    │   └── ModelError                a model call failed; carries ``provider`` and ``model``
    │       ├── TransientModelError   worth retrying; may carry ``retry_after`` seconds
    │       │   ├── RateLimitError        HTTP 429
    │       │   ├── ModelServerError      HTTP 5xx
    │       │   ├── ModelConnectionError  the endpoint could not be reached
    │       │   ├── ModelTimeoutError     the endpoint did not answer in time
    │       │   └── IncompleteResponseError  the model's answer was empty or cut off
    │       ├── ModelRequestError     a permanent refusal (a 4xx but 429, a prompt too long)
    │       ├── UnexpectedModelError  the provider failed in a way it has no class for
    │       └── OutputValidationError the output did not match the schema after repairs
    └── ServerError                   a delegate server refused a request or could not be
                                      reached; carries ``code`` and ``status``

Every error keeps its structured fields as attributes and survives pickling, so it can cross a
process boundary (a Ray worker, a subprocess) intact. Foreign exceptions (from an SDK or from
llama.cpp) are translated into these at the edge of each provider module: none escapes a
provider raw, and every message is one line.

:class:`ErrorInfo` is any exception as plain data (its class name, message, whether it is
transient, its status and ``Retry-After``): what a task outcome keeps and what an attempt run in
another process sends back, since a foreign exception may not pickle. ``info.exception()``
turns it back into the exception to raise. It, :func:`describe` and :func:`is_transient` are
defined in :mod:`delegate.error_info` and importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .error_info import ErrorInfo, describe, is_transient

__all__ = [
    "AlreadyAnswered",
    "BudgetExceeded",
    "ConfigurationError",
    "DelegateError",
    "ErrorInfo",
    "IncompleteResponseError",
    "InterruptNotFound",
    "ModelConnectionError",
    "ModelError",
    "ModelRequestError",
    "ModelRequestsDisallowed",
    "ModelServerError",
    "ModelTimeoutError",
    "OutputValidationError",
    "PlanError",
    "PlanningError",
    "RateLimitError",
    "RunLocked",
    "RunNotFound",
    "RunError",
    "RunWaiting",
    "ServerError",
    "StoreError",
    "TaskTimeout",
    "TransientModelError",
    "UnexpectedModelError",
    "UsageError",
    "describe",
    "is_transient",
]


class DelegateError(Exception):
    """Base class of every error delegate raises on purpose."""

    message: str = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self):  # keep structured fields across pickling
        return (_rebuild, (type(self), self.__dict__.copy()))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[DelegateError], state: dict) -> DelegateError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


class UsageError(DelegateError):
    """The caller asked for something that cannot work. Never retried."""


class ConfigurationError(UsageError):
    """A provider, key, extra or setting is missing or wrong; the message says what to set."""


class PlanError(UsageError):
    """A plan failed validation.

    Attributes:
        problems: every problem found, one sentence each (duplicate ids, unknown workers,
            unknown dependencies, cycles naming their tasks, limits exceeded).
    """

    problems: Sequence[str] = ()

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid plan: " + "; ".join(self.problems))


class ModelRequestsDisallowed(UsageError):
    """A real provider was asked for a completion while requests are disallowed (in tests)."""


class RunNotFound(UsageError):
    """No stored run matches the id (or an id prefix matches several runs)."""


class RunLocked(UsageError):
    """The run is owned by another live process, for instance one already resuming it."""


class InterruptNotFound(UsageError):
    """The run has no interrupt (a question put to a person) with that id, or no such run."""


class AlreadyAnswered(UsageError):
    """The interrupt is no longer pending: someone answered it first, or its deadline passed.

    Attributes:
        run_id, interrupt_id: the interrupt.
        status: its status now, ``answered`` or ``expired``.
        answered_by: who answered it (``"deadline"`` when it expired).
    """

    run_id: str = ""
    interrupt_id: str = ""
    status: str = ""
    answered_by: str | None = None

    def __init__(self, message: str, *, run_id: str = "", interrupt_id: str = "",
                 status: str = "", answered_by: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.interrupt_id = interrupt_id
        self.status = status
        self.answered_by = answered_by


class RunError(DelegateError):
    """Something failed while a run was under way."""


class BudgetExceeded(RunError):
    """A model call was refused because it would go over the run's budget; the run stops
    starting work (see :mod:`delegate.limits.budget`)."""


class RunWaiting(RunError):
    """The run stopped to wait for a person's answer to interrupt ``interrupt_id`` (see
    :mod:`delegate.core.interrupts`); it ends ``waiting`` and is carried on once answered."""

    interrupt_id: str = ""

    def __init__(self, message: str, *, interrupt_id: str = "") -> None:
        super().__init__(message)
        self.interrupt_id = interrupt_id


class StoreError(RunError):
    """The run store failed: it cannot be reached, or its schema is newer than this version."""


class PlanningError(RunError):
    """The orchestrator could not produce a valid plan and no fallback plan was declared."""


class TaskTimeout(RunError):
    """One attempt of a task ran past its timeout. Transient: the scheduler may retry it."""

    task_id: str = ""
    timeout: float = 0.0

    def __init__(self, task_id: str, timeout: float) -> None:
        self.task_id = task_id
        self.timeout = timeout
        super().__init__(f"task {task_id!r} timed out after {timeout:g}s")


class ModelError(RunError):
    """A model call failed.

    Attributes:
        provider: the provider name (``openai``, ``local``, ...).
        model: the model name within the provider.
        status: the HTTP status code, where there was one.
    """

    provider: str = ""
    model: str = ""
    status: int | None = None

    def __init__(
        self, message: str, *, provider: str = "", model: str = "", status: int | None = None
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status = status


class TransientModelError(ModelError):
    """A model call failed in a way that may pass; ``retry_after`` is the server's hint."""

    retry_after: float | None = None

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class RateLimitError(TransientModelError):
    """The provider answered 429 Too Many Requests."""


class ModelServerError(TransientModelError):
    """The provider answered with a 5xx status."""


class ModelConnectionError(TransientModelError):
    """The provider could not be reached."""


class ModelTimeoutError(TransientModelError):
    """The provider did not answer in time."""


class IncompleteResponseError(TransientModelError):
    """The model's answer was empty or cut off: a body shorter than its ``Content-Length``,
    JSON cut short, or an empty completion. Transient: retried, and never cached. (A
    structured answer cut at ``max_tokens`` is an :class:`OutputValidationError` instead:
    asking again repeats it.)"""


class ModelRequestError(ModelError):
    """The provider refused the request for good (a 4xx other than 429, a prompt too long)."""


class UnexpectedModelError(ModelError):
    """The provider failed with an exception delegate has no class for (from its SDK, its
    HTTP client or llama.cpp). Not retried: nothing says that trying again would help. The
    message names the foreign exception's type; ``__cause__`` keeps the exception itself."""


class OutputValidationError(ModelError):
    """The model's output did not validate against the requested schema, after every repair.

    Attributes:
        output: the last raw text the model produced.
        usage: the tokens spent on the failed attempts (a :class:`~delegate.llm.Usage`), so
            that metering still counts them; ``None`` where the provider could not tell.
    """

    output: str = ""
    usage = None

    def __init__(self, message: str, *, output: str = "", usage=None, **kw) -> None:
        super().__init__(message, **kw)
        self.output = output
        self.usage = usage


class ServerError(DelegateError):
    """A ``delegate serve`` server answered a request with an error, or could not be reached.

    Attributes:
        code: the server's stable error code (``not_found``, ``unauthorized``,
            ``invalid_request``, ``run_not_active``, ...), or the client's own for a request
            that got no error answer: ``unreachable`` (the connection was refused or failed),
            ``timeout`` (no answer in time), ``connection_lost`` (the connection dropped and
            could not be made again), ``bad_response`` (an answer that is not the API's).
        status: the HTTP status of the answer; ``None`` when there was no answer.
    """

    code: str = ""
    status: int | None = None

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


#: the names defined in :mod:`delegate.error_info`, which imports the classes above
_ERROR_INFO = frozenset({"ErrorInfo", "describe", "is_transient"})


def __getattr__(name: str) -> object:
    """Re-export ``ErrorInfo``, ``describe`` and ``is_transient`` on first use: importing
    delegate.error_info only then means neither module ever sees the other half-initialised,
    whichever is imported first."""
    if name in _ERROR_INFO:
        from . import error_info

        value = getattr(error_info, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
