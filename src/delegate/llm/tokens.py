"""Token estimates made before a call: how much a request may cost, for the budget and the
rate limiter, which must reckon it the same way.

A call's prompt is counted with the model's own tokenizer where it has one
(:meth:`~delegate.llm.base.Model.count_tokens`), else estimated at four characters a token,
rounded up. Its answer is reckoned at its ``max_tokens``, or :data:`DEFAULT_COMPLETION_RESERVE`
where the settings give none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .base import Message, Model, ModelSettings

__all__ = ["DEFAULT_COMPLETION_RESERVE", "estimate_tokens", "reserve_tokens"]

#: Tokens reserved for the answer of a call whose settings give no ``max_tokens``.
DEFAULT_COMPLETION_RESERVE = 512


def estimate_tokens(model: Model, messages: Sequence[Message]) -> int:
    """Prompt tokens of ``messages``: ``model.count_tokens`` over each content where the model
    can count, else one token per four characters, rounded up."""
    try:
        return sum(model.count_tokens(m.content) for m in messages)
    except NotImplementedError:
        return sum(math.ceil(len(m.content) / 4) for m in messages)


def reserve_tokens(model: Model, messages: Sequence[Message],
                   settings: ModelSettings | None) -> tuple[int, int]:
    """The most a call can cost in tokens: (prompt, completion)."""
    completion = (settings.max_tokens if settings is not None and settings.max_tokens
                  else DEFAULT_COMPLETION_RESERVE)
    return estimate_tokens(model, messages), completion
