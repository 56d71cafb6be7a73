"""The identity of a model request: what the replay log and the response cache key on.

A request is the same request when its provider, model, messages, output schema and sampling
settings are the same. :func:`request_key` writes those as canonical JSON (sorted keys, no
spaces) and hashes it with sha256, so the key is stable across processes and versions of
Python. Every settings field is part of it, the defaults filled in, so ``None`` and
``ModelSettings()`` are one request and two calls that differ only in a penalty are two.

It lives in the model layer because both the durable layer (replay, the cache) and anything
else that needs to recognise a request again use it, and neither may import the other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from .base import Message, Model, ModelSettings, OutputType

__all__ = ["deterministic", "request_key"]


def request_key(model: Model, messages: Sequence[Message], output: OutputType,
                settings: ModelSettings | None) -> tuple[str, dict[str, Any]]:
    """The key of a request (64 hex digits), and the request itself as JSON-ready data."""
    if isinstance(output, type) and issubclass(output, BaseModel):
        schema: Any = output.model_json_schema()
    else:
        schema = output
    request = {
        "provider": model.provider, "model": model.model_name,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "output": schema,
        "settings": dataclasses.asdict(ModelSettings().merged(settings)),
    }
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest(), request


def deterministic(settings: ModelSettings | None) -> bool:
    """Whether a request with ``settings`` should give the same answer every time:
    temperature 0 (the default) or a fixed seed."""
    merged = ModelSettings().merged(settings)
    return merged.temperature == 0 or merged.seed is not None
