"""Output repair: the one loop that sends an invalid structured answer back to the model.

A provider asked for structured output makes one attempt at a time on the wire, in its own
way (an OpenAI ``response_format``, an Anthropic forced tool call), and hands the loop two
things: ``ask``, which makes the next attempt over the conversation so far, and ``send_back``,
which adds to that conversation, in the provider's own form, the failed answer and the
message that asks for it again (an assistant turn and a user turn for OpenAI; a ``tool_use``
and an error ``tool_result`` for Anthropic). The loop does the rest, the same for every
provider:

- each answer is validated by :func:`~delegate.llm.structured.parse_output`;
- an invalid one goes back with :func:`~delegate.llm.structured.repair_prompt` (what was
  wrong, and the schema), at most ``max_repairs`` times, each noted on the response
  (``repair 1: output does not match the schema: ...``);
- the answer that validates is returned as one :class:`~delegate.llm.base.ModelResponse`
  whose usage counts every attempt, so the run's metering sees one call that cost them all;
- when the repairs run out, the last :class:`~delegate.errors.OutputValidationError` is raised
  with that same usage.

In a run's model stack the loop sits between metering and the provider's wire call (see
:mod:`delegate.runtime`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..errors import OutputValidationError
from .base import ModelResponse, OutputType, Usage
from .structured import json_schema_of, parse_output, repair_prompt

__all__ = ["Answer", "answer_with_repairs"]


@dataclass(frozen=True, slots=True)
class Answer:
    """One structured attempt's answer, before validation.

    Attributes:
        text: the answer as text (the JSON to validate).
        notes: what the provider did to get it (a structured-output rung it stepped down
            to); kept on the response when this answer validates.
        native: the provider's own form of the answer (an Anthropic ``tool_use`` block), for
            its ``send_back``.
    """

    text: str
    notes: tuple[str, ...] = ()
    native: Any = None


async def answer_with_repairs(
    ask: Callable[[], Awaitable[Answer]], send_back: Callable[[Answer, str], None],
    output: OutputType, *, max_repairs: int, usage: Usage, name: str, provider: str = "",
    model: str = "",
) -> ModelResponse:
    """Ask until an answer validates against ``output``, sending invalid ones back at most
    ``max_repairs`` times (see the module docstring).

    Args:
        ask: makes one attempt over the conversation so far; adds its tokens to ``usage``.
        send_back: adds the failed answer and the repair message to the conversation.
        output: the pydantic model class or JSON schema the answer must match.
        max_repairs: how many times an invalid answer goes back.
        usage: the usage of every attempt (the response's and the error's).
        name: ``provider:model``, for the response; ``provider`` and ``model`` for errors.

    Raises:
        OutputValidationError: no answer validated; ``usage`` counts every attempt.
    """
    schema = json_schema_of(output)
    assert schema is not None, "repair needs an output schema"
    repairs: list[str] = []
    for attempt in range(max_repairs + 1):
        answer = await ask()
        try:
            data = parse_output(answer.text, output, provider=provider, model=model)
        except OutputValidationError as err:
            if attempt == max_repairs:
                err.usage = usage
                raise
            repairs.append(f"repair {attempt + 1}: {err.message}")
            send_back(answer, repair_prompt(err, schema))
            continue
        return ModelResponse(answer.text, data, usage, name, (*answer.notes, *repairs))
    raise AssertionError("unreachable")  # pragma: no cover
