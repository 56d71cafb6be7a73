"""OpenAI-compatible chat completions: OpenAI itself, Groq, Ollama, vLLM, llama.cpp's servers.

One class, :class:`OpenAICompatModel`, over the official ``openai`` SDK; :func:`create` builds it
for the ``openai``, ``groq`` and ``ollama`` providers from their environment variables. The SDK
is imported on first use. Each event loop gets its own client, made on its first request with
``max_retries=0`` (delegate's scheduler decides about retries, from the error type);
:meth:`~OpenAICompatModel.aclose` closes them.

Structured output climbs down a ladder of :data:`RUNGS` until the endpoint takes the request:

1. ``json_schema``: the ``response_format`` that constrains the answer to the schema;
2. ``json_object``: JSON mode, with the schema written into the system message (and passed as
   ``response_format.schema``, which llama.cpp's servers turn into a grammar and others ignore);
3. ``text``: no ``response_format`` at all, the system message asking for JSON.

A rung is refused by an HTTP 400 or 422, or a 5xx, whose body names ``response_format`` or the
rung's type (llama-cpp-python's server answers ``json_schema`` with a 500 and a traceback). The
rung reached is remembered per endpoint (base URL and model) for the whole process, so a second
instance does not pay the refused request again, and every structured response on a lower rung
says so in its ``notes`` (``structured output: json_object (json_schema refused: HTTP 500)``),
which reach the run's notes. On every rung the answer is validated and sent back for repair a
bounded number of times by the one repair loop, :mod:`delegate.llm.repair`.

Sampling: ``temperature``, ``max_tokens``, ``seed``, ``top_p``, ``frequency_penalty`` and
``presence_penalty`` are the API's own fields; ``repeat_penalty`` goes as an extra field (which
llama.cpp's servers take) except to api.openai.com and Groq, which refuse fields they do not
know; ``no_repeat_ngram`` is the local provider's alone.

Errors: SDK exceptions become :mod:`delegate.errors` classes through
:func:`~delegate.llm._failures.translate_sdk_error` (shared with the Anthropic module); a body cut
short, or an empty text answer, is an :class:`~delegate.errors.IncompleteResponseError`
(transient, never cached); any other exception is wrapped by
:func:`~delegate.llm._failures.unexpected_error`. ``asyncio.CancelledError`` passes untouched.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..errors import (
    ConfigurationError,
    IncompleteResponseError,
    ModelError,
    ModelServerError,
)
from ._failures import translate_sdk_error, translated
from ._http import PLACEHOLDER_KEY, ClientPerLoop
from .base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage, elapsed_since
from .guard import check_model_requests_allowed
from .repair import Answer, answer_with_repairs
from .structured import json_schema_of, schema_name

__all__ = ["RUNGS", "OpenAICompatModel", "create", "ollama_base_url"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
GROQ_BASE_URL = "https://api.groq.com/openai/v1"
OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
RUNGS = ("json_schema", "json_object", "text")  # structured output, strongest first


class _FormatRefused(Exception):
    """Internal: the endpoint refused the request's ``response_format``."""

    def __init__(self, error: ModelError) -> None:
        super().__init__(error.message)
        self.error = error


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

    # (base_url, model) -> (index into RUNGS, why the rungs above it were left); process-wide
    _ladder: ClassVar[dict[tuple[str, str], tuple[int, str]]] = {}
    _ladder_lock: ClassVar[threading.Lock] = threading.Lock()

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
        self._api_key = api_key
        self._key_env = key_env
        self._clients = ClientPerLoop(self._new_client)
        official = "api.openai.com" in self.base_url
        self._max_tokens_key = "max_completion_tokens" if official else "max_tokens"
        # OpenAI and Groq refuse request fields they do not know (HTTP 400)
        self._strict_fields = official or "api.groq.com" in self.base_url

    @property
    def structured_rung(self) -> str:
        """The rung of :data:`RUNGS` that structured requests to this endpoint use now."""
        return RUNGS[self._rung()[0]]

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
        convo = [{"role": m.role, "content": m.content} for m in messages]
        usage = Usage()
        if output is None:
            text = await self._complete(convo, settings, None, usage)
            if not text.strip():
                raise IncompleteResponseError(f"{self.name} returned an empty answer",
                                              provider=self.provider, model=self.model_name)
            return ModelResponse(text=text, usage=usage, model=self.name)
        schema = json_schema_of(output)
        assert schema is not None

        async def ask() -> Answer:
            text, (level, why) = await self._complete_structured(
                convo, settings, output, schema, usage)
            return Answer(text, (f"structured output: {RUNGS[level]} ({why})",) if level else ())

        def send_back(answer: Answer, prompt: str) -> None:
            convo.extend(({"role": "assistant", "content": answer.text},
                          {"role": "user", "content": prompt}))

        return await answer_with_repairs(
            ask, send_back, output, max_repairs=self.max_repairs, usage=usage, name=self.name,
            provider=self.provider, model=self.model_name)

    def _rung(self) -> tuple[int, str]:
        return self._ladder.get((self.base_url, self.model_name), (0, ""))

    def _step_down(self, level: int, error: ModelError) -> None:
        """Record that the endpoint refused rung ``level``; a no-op if another request did."""
        key = (self.base_url, self.model_name)
        refused = f"{RUNGS[level]} refused: HTTP {error.status}"
        with self._ladder_lock:
            now, why = self._ladder.get(key, (0, ""))
            if now == level:
                self._ladder[key] = (level + 1, f"{why}; {refused}" if why else refused)

    async def _complete_structured(
        self, convo: list[dict], settings: ModelSettings, output: OutputType, schema: dict,
        usage: Usage,
    ) -> tuple[str, tuple[int, str]]:
        """The answer on the highest rung the endpoint takes, and that rung."""
        while True:
            rung = self._rung()
            level = rung[0]
            fmt: dict | None = None  # the text rung: no response_format at all
            sent = _with_schema(convo, schema)
            if RUNGS[level] == "json_schema":
                fmt = {"type": "json_schema",
                       "json_schema": {"name": schema_name(output), "schema": schema}}
                sent = convo
            elif RUNGS[level] == "json_object":
                fmt = {"type": "json_object", "schema": schema}
            try:
                return await self._complete(sent, settings, fmt, usage), rung
            except _FormatRefused as refused:
                self._step_down(level, refused.error)

    async def _complete(
        self, convo: list[dict], settings: ModelSettings, response_format: dict | None,
        usage: Usage,
    ) -> str:
        openai = _import_openai()
        kwargs: dict[str, Any] = {"model": self.model_name, "messages": convo}
        for key, value in (("temperature", settings.temperature),
                           (self._max_tokens_key, settings.max_tokens),
                           ("seed", settings.seed), ("top_p", settings.top_p),
                           ("frequency_penalty", settings.frequency_penalty),
                           ("presence_penalty", settings.presence_penalty)):
            if value is not None:
                kwargs[key] = value
        if settings.repeat_penalty is not None and not self._strict_fields:
            kwargs["extra_body"] = {"repeat_penalty": settings.repeat_penalty}
        if response_format is not None:
            kwargs["response_format"] = response_format
        start = time.perf_counter()
        usage.model_calls += 1
        try:
            completion = await self._clients.get().chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            error = self._translate(exc)
            if response_format is not None and _refuses_format(exc, response_format["type"]):
                raise _FormatRefused(error) from None
            raise error from None
        finally:
            usage.latency_seconds += elapsed_since(start)
        if completion.usage is not None:
            usage.prompt_tokens += completion.usage.prompt_tokens or 0
            usage.completion_tokens += completion.usage.completion_tokens or 0
        if not completion.choices:
            raise ModelServerError(f"{self.name} returned no choices",
                                   provider=self.provider, model=self.model_name)
        return completion.choices[0].message.content or ""

    def _new_client(self) -> Any:
        return _import_openai().AsyncOpenAI(
            api_key=self._api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0
        )

    def _translate(self, exc: Exception) -> ModelError:
        return translate_sdk_error(
            _import_openai(), exc, name=self.name, where=self.base_url, timeout=self.timeout,
            provider=self.provider, model=self.model_name, key_env=self._key_env,
            secret=self._api_key,
        )

    async def aclose(self) -> None:
        """Close the HTTP clients this model made (one per event loop that used it)."""
        await self._clients.aclose()


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


def _refuses_format(exc: Exception, kind: str) -> bool:
    """Whether ``exc`` is the endpoint refusing a ``response_format`` of type ``kind``: an
    HTTP 400, 422 or 5xx whose body names ``response_format`` or ``kind``."""
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int) or not (status in (400, 422) or status >= 500):
        return False
    body = getattr(exc, "body", None)
    if not isinstance(body, str):
        body = json.dumps(body, default=str)
    text = f"{getattr(exc, 'message', '')} {body}".lower()
    return "response_format" in text or kind in text


def _with_schema(convo: list[dict], schema: dict) -> list[dict]:
    """``convo`` with the schema written into its system message, for the lower rungs."""
    instruction = ("Answer with only a JSON value that matches this JSON schema, and no other "
                   "text:\n" + json.dumps(schema))
    if convo and convo[0]["role"] == "system":
        first = {"role": "system", "content": convo[0]["content"] + "\n\n" + instruction}
        return [first, *convo[1:]]
    return [{"role": "system", "content": instruction}, *convo]
