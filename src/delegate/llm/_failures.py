"""A provider's failures turned into :mod:`delegate.errors` classes, with messages that are one
line, short and free of the API key.

- :func:`translate_sdk_error` maps an ``openai`` or ``anthropic`` SDK exception to the matching
  delegate error, with the help of :func:`server_message` (the server's own words),
  :func:`retry_after_seconds` (its wait hint) and :func:`status_error` (the error class for an
  HTTP status); a body cut short is an :class:`~delegate.errors.IncompleteResponseError`.
- :func:`unexpected_error` wraps any other exception a provider call raised (the SDK providers'
  and llama.cpp's alike), so that none escapes raw; :func:`translated` applies it to an
  awaited call; :func:`one_line` keeps every message on one line and short, and
  :func:`redact` keeps the API key out of it.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from ..errors import (
    DelegateError,
    IncompleteResponseError,
    ModelConnectionError,
    ModelError,
    ModelRequestError,
    ModelServerError,
    ModelTimeoutError,
    RateLimitError,
    TransientModelError,
    UnexpectedModelError,
)
from ._http import PLACEHOLDER_KEY

T = TypeVar("T")

__all__ = [
    "MESSAGE_LIMIT",
    "one_line",
    "redact",
    "retry_after_seconds",
    "server_message",
    "status_error",
    "translate_sdk_error",
    "translated",
    "unexpected_error",
]

MESSAGE_LIMIT = 300  # characters of a server's words kept in an error message
_CUT_BODY = "complete message body"  # what h11 says when a body is shorter than announced


def unexpected_error(exc: BaseException, *, name: str, provider: str, model: str,
                     secret: str = "") -> ModelError:
    """The delegate error for an exception a provider has no class for.

    JSON that does not decode (a body cut short) is an :class:`IncompleteResponseError`;
    anything else an :class:`UnexpectedModelError` naming the exception's type.

    Args:
        exc: the foreign exception (never ``asyncio.CancelledError``: that one propagates).
        name: the model's ``provider:model`` name, for messages.
        provider: the delegate provider name.
        model: the model name the endpoint knows.
        secret: the API key, cut out of the message.
    """
    kw = {"provider": provider, "model": model}
    if isinstance(exc, json.JSONDecodeError):
        return IncompleteResponseError(
            f"{name} sent an answer that was cut off (its body is not complete JSON: "
            f"{exc.msg} at position {exc.pos})", **kw)
    detail = one_line(redact(str(exc), secret)) or "no message"
    return UnexpectedModelError(f"{name} failed: {type(exc).__name__}: {detail}", **kw)


async def translated(call: Awaitable[T], *, name: str, provider: str, model: str,
                     secret: str = "") -> T:
    """Await a provider's request: a delegate error passes through, any other exception
    becomes :func:`unexpected_error`'s (``asyncio.CancelledError`` is not an ``Exception``
    and propagates untouched)."""
    try:
        return await call
    except DelegateError:
        raise
    except Exception as exc:
        raise unexpected_error(exc, name=name, provider=provider, model=model,
                               secret=secret) from exc


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` with every run of whitespace (newlines included) made one space, and cut to
    ``limit`` characters with an ellipsis."""
    flat = re.sub(r"\s+", " ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def translate_sdk_error(
    sdk: Any, exc: Exception, *, name: str, where: str, timeout: float, provider: str,
    model: str, key_env: str = "", secret: str = "",
) -> ModelError:
    """The delegate error for an exception raised by the ``openai`` or ``anthropic`` SDK.

    Args:
        sdk: the imported SDK module; its ``APITimeoutError``, ``APIConnectionError`` and
            ``APIStatusError`` classes are what ``exc`` is checked against.
        exc: the exception the SDK raised.
        name: the model's ``provider:model`` name, for messages.
        where: the endpoint named when it cannot be reached.
        timeout: the per-call timeout in seconds, named when it runs out.
        provider: the delegate provider name.
        model: the model name the endpoint knows.
        key_env: the environment variable the key comes from, named when it is rejected.
        secret: the API key, cut out of every message.

    Returns:
        A :class:`ModelTimeoutError`; an :class:`IncompleteResponseError` for a body shorter
        than its ``Content-Length``; a :class:`ModelConnectionError`; the error
        :func:`status_error` picks for an HTTP status; or else a :class:`ModelRequestError`.
    """
    kw = {"provider": provider, "model": model}
    if isinstance(exc, sdk.APITimeoutError):
        return ModelTimeoutError(f"{name} did not answer within {timeout:g}s", **kw)
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        why = one_line(redact(str(cause), secret)) if cause else ""
        if _CUT_BODY in why:
            return IncompleteResponseError(f"{name} sent an answer that was cut off: {why}", **kw)
        return ModelConnectionError(f"could not reach {name} at {where}{': ' + why if why else ''}",
                                    **kw)
    if isinstance(exc, sdk.APIStatusError):
        return status_error(
            exc.status_code, server_message(exc.body, exc.message), exc.response.headers,
            provider=provider, model=model, key_env=key_env, secret=secret,
        )
    return ModelRequestError(f"{name} failed: {one_line(redact(str(exc), secret))}", **kw)


def server_message(body: object, fallback: str) -> str:
    """The human-readable message in an error body (OpenAI or Anthropic shape).

    Args:
        body: the decoded error body: a mapping, a string, or anything else.
        fallback: what to return when ``body`` holds no message.

    Returns:
        The message as the server wrote it (possibly several lines; :func:`status_error` makes
        it one), at most 2,000 characters when the body is plain text.
    """
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
        if isinstance(body.get("message"), str):
            return body["message"]
    if isinstance(body, str) and body.strip():
        return body.strip()[:2000]
    return fallback


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The server's wait hint: ``retry-after-ms``, or ``retry-after`` in seconds or as a date.

    Args:
        headers: the response headers (a case-insensitive mapping from the SDK, or a dict with
            lower-case keys).
        now: the current time as a Unix timestamp, for an HTTP-date; ``None`` for the clock.

    Returns:
        Seconds to wait, never negative, or ``None`` when there is no usable hint.
    """
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def status_error(
    status: int, message: str, headers: Mapping[str, str], *, provider: str, model: str,
    key_env: str = "", secret: str = "",
) -> ModelError:
    """The delegate error for an HTTP error ``status`` with the server's ``message``.

    429 is a :class:`RateLimitError`, 5xx a :class:`ModelServerError`, 408 and 409 a
    :class:`TransientModelError`, any other status a :class:`ModelRequestError`.

    Args:
        status: the HTTP status code.
        message: the server's message.
        headers: the response headers, read for a retry hint.
        provider: the delegate provider name.
        model: the model name the endpoint knows.
        key_env: the environment variable named when the key is rejected (HTTP 401).
        secret: the API key, cut out of the message in case the server echoes it.

    Returns:
        The error to raise, its message one line with at most :data:`MESSAGE_LIMIT`
        characters of the server's words.
    """
    message = one_line(redact(message, secret))
    kw = {"provider": provider, "model": model, "status": status}
    name = f"{provider}:{model}"
    if status == 429:
        return RateLimitError(f"{name} is rate limited (HTTP 429): {message}",
                              retry_after=retry_after_seconds(headers), **kw)
    if status >= 500:
        return ModelServerError(f"{name} had a server error (HTTP {status}): {message}",
                                retry_after=retry_after_seconds(headers), **kw)
    if status in (408, 409):
        return TransientModelError(f"{name} asked to try again (HTTP {status}): {message}",
                                   retry_after=retry_after_seconds(headers), **kw)
    if status == 401:
        check = f"; check {key_env}" if key_env else ""
        return ModelRequestError(f"{provider} rejected the API key (HTTP 401): {message}{check}",
                                 **kw)
    return ModelRequestError(f"{name} refused the request (HTTP {status}): {message}", **kw)


def redact(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``***``.

    Args:
        text: the text that may hold the secret.
        secret: the API key; one shorter than 4 characters, or the placeholder sent to local
            servers, is left in place.

    Returns:
        The redacted text.
    """
    if secret and len(secret) >= 4 and secret != PLACEHOLDER_KEY:
        text = text.replace(secret, "***")
    return text
