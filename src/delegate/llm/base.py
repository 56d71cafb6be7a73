"""The model interface every provider implements.

A :class:`Model` takes a list of :class:`Message` and returns a :class:`ModelResponse`: text, or
an object validated against an output schema, together with its :class:`Usage`. One method is
required, :meth:`Model.request`. Cross-cutting behaviour (metering, retries, caching, tracing)
wraps a model rather than living in each provider; see :class:`WrapperModel`.

Structured output: pass ``output`` as a pydantic model class, or as a JSON schema ``dict``.
The provider uses its strongest native mechanism (a llama.cpp grammar, an OpenAI
``response_format`` JSON schema, an Anthropic tool schema) and the response's ``data`` holds
the validated object (an instance of the class, or the parsed JSON for a dict schema).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel

from ..errors import UsageError

__all__ = [
    "Message",
    "Model",
    "ModelResponse",
    "ModelSettings",
    "OutputType",
    "Usage",
    "WrapperModel",
]

Role = Literal["system", "user", "assistant"]
OutputType = type[BaseModel] | dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: Role
    content: str

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str) -> Message:
        return cls("assistant", content)


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Sampling settings for one request. ``None`` leaves the provider's default in place.

    The settings a call was made with are part of its record: the response-cache and replay
    key, the journal's stored request and :class:`~delegate.core.events.ModelCalled` carry every
    field, so two calls that differ only in a penalty are two different requests.

    Attributes:
        temperature: sampling temperature; ``0.0`` (the default) is greedy, deterministic.
        max_tokens: most tokens to generate.
        seed: sampling seed, where the provider takes one.
        top_p: nucleus sampling.
        repeat_penalty: divides the logit of each token already generated (multiplies a
            negative one), as llama.cpp does; ``1.0`` is off. Local: default 1.1 for text,
            off under an output schema. OpenAI-compatible: sent only to endpoints other than
            api.openai.com and Groq (llama.cpp's and llama-cpp-python's servers take it, Ollama
            and vLLM ignore it), since OpenAI refuses fields it does not know.
        frequency_penalty: subtracted from a token's logit once per time it was generated;
            ``0.0`` is off. Local (default off) and OpenAI-compatible (the API's own field).
        presence_penalty: subtracted once from the logit of any token already generated;
            ``0.0`` is off. Local (default off) and OpenAI-compatible (the API's own field).
        no_repeat_ngram: forbids any token that would complete a token n-gram of this size
            already present in the tokens this request generated (the prompt does not count).
            Local only, and only for text answers: under an output schema it is not applied,
            since the grammar's own repeated tokens (``", "`` between items, a key's quotes)
            would be forbidden and the grammar could be left with no legal token. At least 2.

    Anthropic takes ``temperature``, ``max_tokens`` and ``top_p`` and ignores the rest;
    OpenAI-compatible endpoints ignore ``no_repeat_ngram``. llama-cpp-python 0.3 has a DRY
    sampler in its internals, but neither ``create_chat_completion`` nor the sampler chain it
    builds takes DRY settings, so there are none here.
    """

    temperature: float | None = 0.0
    max_tokens: int | None = None
    seed: int | None = None
    top_p: float | None = None
    repeat_penalty: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    no_repeat_ngram: int | None = None

    def __post_init__(self) -> None:
        if self.repeat_penalty is not None and not self.repeat_penalty > 0:
            raise UsageError(f"repeat_penalty must be above 0, not {self.repeat_penalty!r}")
        n = self.no_repeat_ngram
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 2):
            raise UsageError(f"no_repeat_ngram must be a whole number of at least 2, not {n!r}")

    def merged(self, other: ModelSettings | None) -> ModelSettings:
        """Return these settings overridden by the non-None fields of ``other``."""
        if other is None:
            return self
        changes = {k: getattr(other, k) for k in self.__slots__ if getattr(other, k) is not None}
        return replace(self, **changes)


@dataclass(slots=True)
class Usage:
    """Tokens and calls; adds up with ``+=``. ``cache_hits`` counts the calls answered from
    a run store (the response cache, or a resumed run's own earlier calls) instead of a
    model: they cost no ``model_calls`` and no tokens. ``cost_usd`` is what the priced
    calls cost (see :mod:`delegate.limits.pricing`); ``unpriced_calls`` counts calls to a model
    with no known price, whose cost is not in ``cost_usd``."""

    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_seconds: float = 0.0
    cache_hits: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0

    def __iadd__(self, other: Usage) -> Usage:
        self.model_calls += other.model_calls
        self.cache_hits += other.cache_hits
        self.cost_usd += other.cost_usd
        self.unpriced_calls += other.unpriced_calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.latency_seconds += other.latency_seconds
        return self

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, int | float]:
        return {
            "model_calls": self.model_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cache_hits": self.cache_hits,
            "cost_usd": round(self.cost_usd, 6),
            "unpriced_calls": self.unpriced_calls,
        }


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """What a model call returns.

    Attributes:
        text: the raw text the model produced.
        data: the validated object when an output schema was requested, else ``None``.
        usage: tokens and latency of this call (``model_calls`` is 1 for a real call).
        model: ``provider:model`` of the model that answered.
        notes: anything the provider did that the caller should know (a repair, a fallback
            from JSON schema to JSON mode); recorded in the run's outcome.
    """

    text: str
    data: Any = None
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    notes: tuple[str, ...] = ()


class Model(abc.ABC):
    """A language model. Subclasses implement :meth:`request`.

    Attributes:
        provider: the provider's name, as in ``provider:model`` strings.
        model_name: the model's name within the provider.
    """

    provider: str = ""
    model_name: str = ""

    @property
    def name(self) -> str:
        """``provider:model``."""
        return f"{self.provider}:{self.model_name}"

    @abc.abstractmethod
    async def request(
        self,
        messages: Sequence[Message],
        *,
        output: OutputType = None,
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """Answer ``messages``.

        Args:
            messages: the conversation, system message first if any.
            output: a pydantic model class or a JSON schema dict to constrain the answer to,
                or ``None`` for free text.
            settings: sampling settings for this call.

        Returns:
            The response; ``data`` holds the validated object when ``output`` was given.

        Raises:
            TransientModelError: for failures worth retrying (429, 5xx, connection, timeout).
            ModelRequestError: for permanent refusals.
            OutputValidationError: when the output cannot be made to match ``output``.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP clients, model instances). Optional."""

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` is for this model. Optional ability.

        Raises:
            NotImplementedError: where the provider offers no local tokenizer.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot count tokens locally")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class WrapperModel(Model):
    """A model that delegates to another; subclass it to add behaviour around calls."""

    def __init__(self, wrapped: Model) -> None:
        self.wrapped = wrapped
        self.provider = wrapped.provider
        self.model_name = wrapped.model_name

    async def request(self, messages, *, output=None, settings=None) -> ModelResponse:
        return await self.wrapped.request(messages, output=output, settings=settings)

    async def aclose(self) -> None:
        await self.wrapped.aclose()

    def count_tokens(self, text: str) -> int:
        return self.wrapped.count_tokens(text)


def elapsed_since(start: float) -> float:
    """Seconds since ``start`` (a ``time.perf_counter()`` reading)."""
    return time.perf_counter() - start
