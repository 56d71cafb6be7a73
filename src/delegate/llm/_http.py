"""HTTP failures of the provider SDKs, turned into :mod:`delegate.errors` classes.

Shared by the OpenAI-compatible and Anthropic modules: :func:`translate_sdk_error` maps an
``openai`` or ``anthropic`` SDK exception to the matching delegate error, with the help of
:func:`server_message` (the server's own words), :func:`retry_after_seconds` (its wait hint) and
:func:`status_error` (the error class for an HTTP status). :func:`redact` keeps the API key out of
every message.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

from ..errors import (
    ModelConnectionError,
    ModelError,
    ModelRequestError,
    ModelServerError,
    ModelTimeoutError,
    RateLimitError,
    TransientModelError,
)

__all__ = [
    "PLACEHOLDER_KEY",
    "redact",
    "retry_after_seconds",
    "server_message",
    "status_error",
    "translate_sdk_error",
]

PLACEHOLDER_KEY = "not-needed"  # local servers ignore the key, but the SDK wants one


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
        A :class:`ModelTimeoutError`, a :class:`ModelConnectionError`, the error
        :func:`status_error` picks for an HTTP status, or else a :class:`ModelRequestError`.
    """
    kw = {"provider": provider, "model": model}
    if isinstance(exc, sdk.APITimeoutError):
        return ModelTimeoutError(f"{name} did not answer within {timeout:g}s", **kw)
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        why = f": {redact(str(cause), secret)}" if cause else ""
        return ModelConnectionError(f"could not reach {name} at {where}{why}", **kw)
    if isinstance(exc, sdk.APIStatusError):
        return status_error(
            exc.status_code, server_message(exc.body, exc.message), exc.response.headers,
            provider=provider, model=model, key_env=key_env, secret=secret,
        )
    return ModelRequestError(f"{name} failed: {redact(str(exc), secret)}", **kw)


def server_message(body: object, fallback: str) -> str:
    """The human-readable message in an error body (OpenAI or Anthropic shape).

    Args:
        body: the decoded error body: a mapping, a string, or anything else.
        fallback: what to return when ``body`` holds no message.

    Returns:
        The message, at most 500 characters when the body is plain text.
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
        return body.strip()[:500]
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
        The error to raise.
    """
    message = redact(message, secret)
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
