"""Errors as plain data, and the two questions asked of any error: how it reads, and whether
it is worth another attempt.

:class:`ErrorInfo` is any exception as plain data (its class name, message, whether it is
transient, its status and ``Retry-After``): what a task outcome keeps and what an attempt run in
another process sends back, since a foreign exception may not pickle. ``info.exception()``
turns it back into the exception to raise. :func:`describe` and :func:`is_transient` answer the
same for an exception and for its ErrorInfo.

The error classes are in :mod:`delegate.errors`, which re-exports all three names.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import errors
from .errors import DelegateError, ModelError, RunError, TaskTimeout, TransientModelError, _rebuild

__all__ = ["ErrorInfo", "describe", "is_transient"]


def describe(error: BaseException | ErrorInfo) -> str:
    """``Type: message`` on one line, for outcomes, notes and a run's ``error``."""
    if isinstance(error, ErrorInfo):
        return error.describe()
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"


def is_transient(error: BaseException | ErrorInfo) -> bool:
    """Return True for errors worth retrying: timeouts, connection errors, 429 and 5xx."""
    if isinstance(error, ErrorInfo):
        return error.transient
    return isinstance(error, (TransientModelError, TaskTimeout))


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An exception as plain data: picklable, comparable, and the same in every process.

    A task's outcome keeps one (:attr:`~delegate.core.outcomes.TaskOutcome.error_info`), and
    an attempt run in another process sends one back instead of the exception, which may not
    pickle (an SDK's, or one holding a socket). The retry policy decides from it as from the
    exception.

    Attributes:
        type: the exception's class name (``RateLimitError``, ``ValueError``).
        message: its message on one line (empty when it had none).
        transient: whether it is worth another attempt (:func:`is_transient`).
        status: the HTTP status of a :class:`ModelError`, where there was one.
        retry_after: the server's ``Retry-After`` in seconds, where it gave one.
    """

    type: str
    message: str
    transient: bool = False
    status: int | None = None
    retry_after: float | None = None

    @classmethod
    def of(cls, error: BaseException) -> ErrorInfo:
        """The information of ``error``."""
        status = getattr(error, "status", None)
        retry_after = getattr(error, "retry_after", None)
        return cls(
            type(error).__name__, " ".join(str(error).split()), is_transient(error),
            status if isinstance(status, int) and not isinstance(status, bool) else None,
            float(retry_after) if isinstance(retry_after, int | float) else None,
        )

    def describe(self) -> str:
        """``Type: message``, as :func:`describe` writes it for the exception."""
        return f"{self.type}: {self.message or self.type}"

    def exception(self, *classes: type[BaseException]) -> BaseException:
        """The exception this describes, to raise or to match with ``isinstance``.

        The class is the one named :attr:`type` among ``classes`` (an application's own
        errors, which win a clash of names) and delegate's public errors. It gets the message,
        and the ``status`` and ``retry_after`` recorded here; the structured fields an
        ErrorInfo does not carry (a :class:`~delegate.errors.PlanError`'s ``problems``, an
        :class:`~delegate.errors.OutputValidationError`'s ``output``) keep their class
        defaults. A type found in neither comes back as a :class:`RunError` whose message is
        :meth:`describe`, since its class cannot be known here.
        """
        cls = {c.__name__: c for c in classes}.get(self.type) or _PUBLIC.get(self.type)
        if cls is None:
            return RunError(self.describe())
        if issubclass(cls, DelegateError):
            state: dict[str, object] = {"message": self.message}
            if self.status is not None and issubclass(cls, ModelError):
                state["status"] = self.status
            if self.retry_after is not None and issubclass(cls, TransientModelError):
                state["retry_after"] = self.retry_after
            return _rebuild(cls, state)
        try:
            return cls(self.message)
        except Exception:  # a constructor that wants more than a message
            err = cls.__new__(cls)
            BaseException.__init__(err, self.message)
            return err


#: delegate's public exception classes by name, for :meth:`ErrorInfo.exception`
_PUBLIC: dict[str, type[DelegateError]] = {
    name: obj for name, obj in list(vars(errors).items())
    if isinstance(obj, type) and issubclass(obj, DelegateError)
}
