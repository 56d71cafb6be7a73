"""The local model's decoding settings: what a :class:`~delegate.llm.base.ModelSettings` asks of
llama.cpp against repetition, for one request.

Every setting applies to this request only, never to the shared instances. ``repeat_penalty``
defaults to 1.1 for text and is off under an output schema; ``frequency_penalty`` and
``presence_penalty`` default to off; all three go to llama.cpp's own penalty sampler, which sees
only the tokens this request generated, and work under a schema too (they lower logits before
the grammar filters them, so the grammar still decides what is legal). ``no_repeat_ngram`` is a
:class:`NoRepeatNGram` logits processor for text answers only: a hard ban on top of a grammar
could leave no legal token.
"""

from __future__ import annotations

from typing import Any

from .base import ModelSettings

__all__ = ["DEFAULT_REPEAT_PENALTY", "NoRepeatNGram", "decoding_kwargs"]

DEFAULT_REPEAT_PENALTY = 1.1  # text answers; structured ones have none unless asked


def decoding_kwargs(settings: ModelSettings, *, structured: bool) -> dict[str, Any]:
    """The anti-repetition part of a ``create_chat_completion`` call for ``settings``: the
    penalties llama.cpp applies itself, and a fresh :class:`NoRepeatNGram` (in
    ``logits_processor``) for a text answer that asks for one."""
    out: dict[str, Any] = {}
    repeat = settings.repeat_penalty
    if repeat is None and not structured:
        repeat = DEFAULT_REPEAT_PENALTY
    if repeat is not None:
        out["repeat_penalty"] = repeat
    if settings.frequency_penalty is not None:
        out["frequency_penalty"] = settings.frequency_penalty
    if settings.presence_penalty is not None:
        out["presence_penalty"] = settings.presence_penalty
    if settings.no_repeat_ngram is not None and not structured:
        out["logits_processor"] = [NoRepeatNGram(settings.no_repeat_ngram)]
    return out


class NoRepeatNGram:
    """A llama.cpp logits processor that forbids any token completing a token n-gram already
    present in what this generation produced.

    llama-cpp-python calls it once per generated token with every token so far (prompt
    first) and the logits indexed by token id. The first call's tokens are the prompt, so
    only later tokens count: an n-gram of the prompt may be written once. One instance serves
    one generation; its index of the (n-1)-token prefixes seen grows with the text, so each
    call costs the new tokens, not the whole text.

    Args:
        n: the n-gram size, at least 2.
    """

    def __init__(self, n: int) -> None:
        if n < 2:
            raise ValueError(f"n must be at least 2, not {n}")
        self.n = n
        self._start: int | None = None
        self._generated: list[int] = []
        self._next: dict[tuple[int, ...], set[int]] = {}

    def __call__(self, ids: Any, scores: Any) -> Any:
        if self._start is None:
            self._start = len(ids)
        known = self._start + len(self._generated)
        new = [int(t) for t in ids[known:]]
        n, generated = self.n, self._generated
        for token in new:
            generated.append(token)
            if len(generated) >= n:
                self._next.setdefault(tuple(generated[-n:-1]), set()).add(token)
        if len(generated) >= n - 1:
            banned = self._next.get(tuple(generated[len(generated) - n + 1:]))
            if banned:
                scores[list(banned)] = -float("inf")
        return scores
