"""Anthropic's Messages API, over the official ``anthropic`` SDK (the ``anthropic`` extra).

:class:`AnthropicModel` sends system messages as the ``system`` parameter and the rest as the
conversation. Structured output is a forced tool call: the schema becomes the ``input_schema`` of
a tool named ``respond`` and ``tool_choice`` names it, so the answer arrives as the tool's input.
That input is validated by the one repair loop (:mod:`delegate.llm.repair`); an invalid one goes
back to the model as an error ``tool_result`` a bounded number of times.

Sampling settings: the Messages API has no ``seed``. API version 2026-10-21, which the SDK's 2.x
releases speak, refuses ``temperature`` and ``top_p`` at any value, and those SDKs dropped them;
so they are sent only when the installed SDK still takes them (older SDKs, API 2023-06-01).

Each event loop gets its own SDK client, made on its first request with ``max_retries=0`` (the
scheduler retries); :meth:`AnthropicModel.aclose` closes them. SDK exceptions become
:mod:`delegate.errors` here, 529 Overloaded among the transient ones; a body cut short or an empty
text answer is an :class:`~delegate.errors.IncompleteResponseError`; any other exception is
wrapped by :func:`~delegate.llm._failures.unexpected_error` (``asyncio.CancelledError`` passes).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigurationError, IncompleteResponseError, ModelError
from ._failures import translate_sdk_error, translated
from ._http import ClientPerLoop
from .base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage, elapsed_since
from .guard import check_model_requests_allowed
from .repair import Answer, answer_with_repairs
from .structured import json_schema_of

__all__ = ["AnthropicModel", "create"]

DEFAULT_MAX_TOKENS = 1024
TOOL_NAME = "respond"
MISSING_EXTRA = (
    "the anthropic provider needs the anthropic extra: pip install 'delegate[anthropic]'"
)


class AnthropicModel(Model):
    """A Claude model behind the Messages API.

    Args:
        model: the model name, e.g. ``claude-3-5-haiku-latest``.
        api_key: the key; never written into errors.
        base_url: the API's base URL, or ``None`` for Anthropic's.
        timeout: seconds to wait for one HTTP call.
        max_repairs: how many times an invalid structured answer is sent back for repair.
        send_sampling: whether to send ``temperature`` and ``top_p``; ``None`` asks the SDK
            whether its ``messages.create`` still takes them.

    Raises:
        ConfigurationError: when the ``anthropic`` package is not installed.
    """

    provider = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 120.0,
        max_repairs: int = 2,
        send_sampling: bool | None = None,
    ) -> None:
        _check_installed()
        self.model_name = model
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout
        self.max_repairs = max_repairs
        self.send_sampling = send_sampling
        self._api_key = api_key
        self._clients = ClientPerLoop(self._new_client)

    async def request(
        self,
        messages: Sequence[Message],
        *,
        output: OutputType = None,
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        check_model_requests_allowed(self.provider)
        return await translated(self._request(messages, output, settings), name=self.name,
                                provider=self.provider, model=self.model_name,
                                secret=self._api_key)

    async def _request(
        self, messages: Sequence[Message], output: OutputType, settings: ModelSettings | None,
    ) -> ModelResponse:
        settings = settings if settings is not None else ModelSettings()
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        convo: list[dict[str, Any]] = [
            {"role": m.role, "content": m.content} for m in messages if m.role != "system"
        ]
        kwargs = self._request_kwargs(system, settings)
        usage = Usage()
        if output is None:
            blocks = await self._create(kwargs, convo, usage)
            text = "".join(b.text for b in blocks if b.type == "text")
            if not text.strip():
                raise IncompleteResponseError(f"{self.name} returned an empty answer",
                                              provider=self.provider, model=self.model_name)
            return ModelResponse(text=text, usage=usage, model=self.name)
        schema = json_schema_of(output)
        # a tool's input is always an object: wrap any other schema as {"value": ...}
        wrapped = schema.get("type", "object" if "properties" in schema else None) != "object"
        tool_schema = _wrap(schema) if wrapped else schema
        kwargs["tools"] = [{
            "name": TOOL_NAME,
            "description": "Give your answer as this tool's input.",
            "input_schema": tool_schema,
        }]
        kwargs["tool_choice"] = {"type": "tool", "name": TOOL_NAME}

        async def ask() -> Answer:
            blocks = await self._create(kwargs, convo, usage)
            tool = next((b for b in blocks if b.type == "tool_use"), None)
            if tool is None:
                return Answer("".join(b.text for b in blocks if b.type == "text"))
            value = tool.input.get("value") if wrapped and isinstance(tool.input, dict) else (
                tool.input)
            return Answer(json.dumps(value), native=tool)

        def send_back(answer: Answer, prompt: str) -> None:
            convo.extend(_repair_turns(answer.native, answer.text, prompt))

        return await answer_with_repairs(
            ask, send_back, output, max_repairs=self.max_repairs, usage=usage, name=self.name,
            provider=self.provider, model=self.model_name)

    def _request_kwargs(self, system: str, settings: ModelSettings) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model_name,
            "max_tokens": settings.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            kwargs["system"] = system
        if self.send_sampling is None:
            create = self._clients.get().messages.create
            self.send_sampling = "temperature" in inspect.signature(create).parameters
        sampling = {"temperature": settings.temperature, "top_p": settings.top_p}
        sampling = {k: v for k, v in sampling.items() if v is not None}
        if self.send_sampling and sampling:
            kwargs["extra_body"] = sampling  # a body field whichever SDK version is installed
        return kwargs  # the Messages API has no seed

    async def _create(self, kwargs: dict[str, Any], convo: list[dict], usage: Usage) -> list:
        anthropic = _import_anthropic()
        start = time.perf_counter()
        usage.model_calls += 1
        try:
            message = await self._clients.get().messages.create(messages=list(convo), **kwargs)
        except anthropic.AnthropicError as exc:
            raise self._translate(exc) from None
        finally:
            usage.latency_seconds += elapsed_since(start)
        if message.usage is not None:
            usage.prompt_tokens += message.usage.input_tokens or 0
            usage.completion_tokens += message.usage.output_tokens or 0
        return list(message.content)

    def _new_client(self) -> Any:
        return _import_anthropic().AsyncAnthropic(
            api_key=self._api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0
        )

    def _translate(self, exc: Exception) -> ModelError:
        return translate_sdk_error(
            _import_anthropic(), exc, name=self.name, where=self.base_url or "api.anthropic.com",
            timeout=self.timeout, provider=self.provider, model=self.model_name,
            key_env="ANTHROPIC_API_KEY", secret=self._api_key,
        )

    async def aclose(self) -> None:
        """Close the HTTP clients this model made (one per event loop that used it)."""
        await self._clients.aclose()


def create(provider: str, model: str) -> Model:
    """Build ``anthropic:model`` from ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL``.

    Raises:
        ConfigurationError: when the extra is not installed or the key is not set.
    """
    if provider != "anthropic":
        raise ConfigurationError(f"the anthropic module has no provider {provider!r}")
    _check_installed()
    key = os.environ.get("ANTHROPIC_API_KEY", "").strip()
    if not key:
        raise ConfigurationError("the anthropic provider needs an API key: set ANTHROPIC_API_KEY")
    base_url = os.environ.get("ANTHROPIC_BASE_URL", "").strip() or None
    return AnthropicModel(model, api_key=key, base_url=base_url)


def _check_installed() -> None:
    """Fail early, without the cost of importing the SDK, when the extra is missing."""
    if importlib.util.find_spec("anthropic") is None:
        raise ConfigurationError(MISSING_EXTRA)


def _import_anthropic() -> Any:
    try:
        import anthropic
    except ImportError:
        raise ConfigurationError(MISSING_EXTRA) from None
    return anthropic


def _wrap(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema holding ``schema`` as its ``value`` property."""
    inner = {k: v for k, v in schema.items() if k != "$defs"}
    wrapped: dict[str, Any] = {
        "type": "object", "properties": {"value": inner}, "required": ["value"],
    }
    if "$defs" in schema:
        wrapped["$defs"] = schema["$defs"]
    return wrapped


def _repair_turns(tool: Any, text: str, prompt: str) -> list[dict[str, Any]]:
    """The assistant's failed answer and the user's request to fix it."""
    if tool is None:
        return [{"role": "assistant", "content": text or "(no answer)"},
                {"role": "user", "content": prompt}]
    return [
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": tool.id, "name": tool.name, "input": tool.input},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tool.id, "is_error": True, "content": prompt},
        ]},
    ]
