"""OpenAI-compatible chat completions: OpenAI itself, Groq, Ollama, vLLM, llama.cpp server.

One class, :class:`OpenAICompatModel`, over the official ``openai`` SDK; :func:`create` builds it
for the ``openai``, ``groq`` and ``ollama`` providers from their environment variables. The SDK
is imported on first use, and its client is made on the first request with ``max_retries=0``:
delegate's scheduler decides about retries, from the error type.

Structured output asks for a ``json_schema`` response format. An endpoint that refuses it (HTTP
400 naming ``response_format`` or ``json_schema``) switches the model instance to JSON mode, with
the schema written into the system message. Either way the answer is validated by
:func:`~delegate.llm.structured.parse_output` and sent back for repair a bounded number of times.

SDK exceptions become :mod:`delegate.errors` classes through
:func:`~delegate.llm._http.translate_sdk_error`, which the Anthropic module shares.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import (
    ConfigurationError,
    ModelError,
    ModelRequestError,
    ModelServerError,
    OutputValidationError,
)
from ._http import PLACEHOLDER_KEY, translate_sdk_error
from .base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage, elapsed_since
from .guard import check_model_requests_allowed
from .structured import json_schema_of, parse_output, repair_prompt, schema_name

__all__ = ["OpenAICompatModel", "create", "ollama_base_url"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
GROQ_BASE_URL = "https://api.groq.com/openai/v1"
OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
JSON_MODE_NOTE = "json_schema unsupported; used JSON mode"


class OpenAICompatModel(Model):
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: the model name the endpoint knows.
        provider: the delegate provider name (``openai``, ``groq``, ``ollama``).
        base_url: the endpoint's base URL, up to and including ``/v1``.
        api_key: the key sent as a bearer token; never written into errors.
        key_env: the environment variable the key comes from, named when it is rejected.
        timeout: seconds to wait for one HTTP call.
        max_repairs: how many times an invalid structured answer is sent back for repair.
    """

    def __init__(
        self,
        model: str,
        *,
        provider: str = "openai",
        base_url: str = OPENAI_BASE_URL,
        api_key: str = PLACEHOLDER_KEY,
        key_env: str = "OPENAI_API_KEY",
        timeout: float = 120.0,
        max_repairs: int = 2,
    ) -> None:
        self.provider = provider
        self.model_name = model
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_repairs = max_repairs
        self.json_mode = False  # set once the endpoint refuses json_schema
        self._api_key = api_key
        self._key_env = key_env
        self._client: Any = None
        official = "api.openai.com" in self.base_url
        self._max_tokens_key = "max_completion_tokens" if official else "max_tokens"

    async def request(
        self,
        messages: Sequence[Message],
        *,
        output: OutputType = None,
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        check_model_requests_allowed(self.provider)
        settings = settings if settings is not None else ModelSettings()
        convo = [{"role": m.role, "content": m.content} for m in messages]
        usage = Usage()
        if output is None:
            text = await self._complete(convo, settings, None, usage)
            return ModelResponse(text=text, usage=usage, model=self.name)
        schema = json_schema_of(output)
        notes: list[str] = []
        for attempt in range(self.max_repairs + 1):
            text = await self._complete_structured(convo, settings, output, schema, usage)
            try:
                data = parse_output(text, output, provider=self.provider, model=self.model_name)
            except OutputValidationError as err:
                if attempt == self.max_repairs:
                    err.usage = usage
                    raise
                notes.append(f"repair {attempt + 1}: {err.message}")
                convo += [
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": repair_prompt(err, schema)},
                ]
                continue
            if self.json_mode:
                notes.insert(0, JSON_MODE_NOTE)
            return ModelResponse(text, data, usage, self.name, tuple(notes))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _complete_structured(
        self, convo: list[dict], settings: ModelSettings, output: OutputType, schema: dict,
        usage: Usage,
    ) -> str:
        if not self.json_mode:
            fmt = {"type": "json_schema",
                   "json_schema": {"name": schema_name(output), "schema": schema}}
            try:
                return await self._complete(convo, settings, fmt, usage)
            except ModelRequestError as err:
                if not _refuses_json_schema(err):
                    raise
                self.json_mode = True
        return await self._complete(_with_schema(convo, schema), settings,
                                    {"type": "json_object"}, usage)

    async def _complete(
        self, convo: list[dict], settings: ModelSettings, response_format: dict | None,
        usage: Usage,
    ) -> str:
        openai = _import_openai()
        kwargs: dict[str, Any] = {"model": self.model_name, "messages": convo}
        for key, value in (("temperature", settings.temperature),
                           (self._max_tokens_key, settings.max_tokens),
                           ("seed", settings.seed), ("top_p", settings.top_p)):
            if value is not None:
                kwargs[key] = value
        if response_format is not None:
            kwargs["response_format"] = response_format
        start = time.perf_counter()
        usage.model_calls += 1
        try:
            completion = await self._get_client().chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise self._translate(exc) from None
        finally:
            usage.latency_seconds += elapsed_since(start)
        if completion.usage is not None:
            usage.prompt_tokens += completion.usage.prompt_tokens or 0
            usage.completion_tokens += completion.usage.completion_tokens or 0
        if not completion.choices:
            raise ModelServerError(f"{self.name} returned no choices",
                                   provider=self.provider, model=self.model_name)
        return completion.choices[0].message.content or ""

    def _get_client(self) -> Any:
        if self._client is None:
            openai = _import_openai()
            self._client = openai.AsyncOpenAI(
                api_key=self._api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0
            )
        return self._client

    def _translate(self, exc: Exception) -> ModelError:
        return translate_sdk_error(
            _import_openai(), exc, name=self.name, where=self.base_url, timeout=self.timeout,
            provider=self.provider, model=self.model_name, key_env=self._key_env,
            secret=self._api_key,
        )

    async def aclose(self) -> None:
        """Close the HTTP client, if one was made."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def create(provider: str, model: str) -> Model:
    """Build ``provider:model`` for ``openai``, ``groq`` or ``ollama`` from the environment.

    Raises:
        ConfigurationError: when the provider's key is missing, or the provider is not one of these.
    """
    env = os.environ
    if provider == "openai":
        base_url = env.get("OPENAI_BASE_URL", "").strip()
        key = env.get("OPENAI_API_KEY", "").strip()
        if not key and not base_url:
            raise ConfigurationError(
                "the openai provider needs an API key: set OPENAI_API_KEY "
                "(or OPENAI_BASE_URL for a local OpenAI-compatible server)")
        return OpenAICompatModel(model, provider="openai", base_url=base_url or OPENAI_BASE_URL,
                                 api_key=key or PLACEHOLDER_KEY, key_env="OPENAI_API_KEY")
    if provider == "groq":
        key = env.get("GROQ_API_KEY", "").strip()
        if not key:
            raise ConfigurationError("the groq provider needs an API key: set GROQ_API_KEY")
        return OpenAICompatModel(model, provider="groq", base_url=GROQ_BASE_URL, api_key=key,
                                 key_env="GROQ_API_KEY")
    if provider == "ollama":
        return OpenAICompatModel(model, provider="ollama", base_url=ollama_base_url(env),
                                 api_key="ollama", key_env="")
    raise ConfigurationError(f"the OpenAI-compatible module has no provider {provider!r}")


def ollama_base_url(env: Mapping[str, str]) -> str:
    """Ollama's OpenAI-compatible base URL from ``OLLAMA_HOST`` (``host:port`` or a URL)."""
    host = (env.get("OLLAMA_HOST") or "").strip() or OLLAMA_DEFAULT_HOST
    if "://" not in host:
        host = "http://" + host
    host = host.rstrip("/")
    if host.endswith("/v1"):
        return host
    return host + "/v1"


def _import_openai() -> Any:
    try:
        import openai
    except ImportError:
        raise ConfigurationError(
            "OpenAI-compatible providers need the openai package: pip install openai") from None
    return openai


def _refuses_json_schema(err: ModelRequestError) -> bool:
    """Whether ``err`` is an endpoint saying it does not support a json_schema response format."""
    text = err.message.lower()
    return err.status in (400, 422) and ("response_format" in text or "json_schema" in text)


def _with_schema(convo: list[dict], schema: dict) -> list[dict]:
    """``convo`` with the schema written into its system message, for JSON mode."""
    instruction = ("Answer with only a JSON value that matches this JSON schema:\n"
                   + json.dumps(schema))
    if convo and convo[0]["role"] == "system":
        first = {"role": "system", "content": convo[0]["content"] + "\n\n" + instruction}
        return [first, *convo[1:]]
    return [{"role": "system", "content": instruction}, *convo]
