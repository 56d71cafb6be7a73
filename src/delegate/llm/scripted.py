"""A deterministic model for tests and documentation.

:class:`ScriptedModel` implements the real :class:`~delegate.llm.base.Model` interface. It
answers from a list of responses, in order, or from a function of the request; with neither,
it gives schema-aware canned output (a minimal value that validates against the requested
schema) so that any workflow runs end to end. Each step of a script may be:

- a ``str``: the response text (parsed and validated when a schema was requested);
- a ``dict``, ``list`` or pydantic object: structured output, serialised to JSON text;
- an exception instance: raised, to script failures (``RateLimitError(...)`` and so on);
- a :class:`Scripted` value, to set the usage of the step explicitly;
- a callable ``f(call) -> step`` (sync or async), called with the :class:`ScriptedCall`.

Every request is recorded in :attr:`ScriptedModel.calls`, so tests can assert what each worker
was sent. Token counts are whitespace word counts unless a step says otherwise.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage
from .structured import json_schema_of, parse_output

__all__ = ["Scripted", "ScriptedCall", "ScriptedModel", "minimal_instance"]


@dataclass(frozen=True)
class Scripted:
    """A scripted step with explicit token counts."""

    value: Any
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class ScriptedCall:
    """One request the scripted model received."""

    messages: tuple[Message, ...]
    output: OutputType
    settings: ModelSettings | None
    index: int

    @property
    def prompt(self) -> str:
        """All message contents joined, for easy assertions."""
        return "\n".join(m.content for m in self.messages)

    @property
    def last_user(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


class ScriptedModel(Model):
    """A model that answers from a script. See the module docstring."""

    provider = "scripted"

    def __init__(
        self,
        responses: Iterable[Any] | None = None,
        *,
        function: Callable[[ScriptedCall], Any] | None = None,
        name: str = "scripted",
    ) -> None:
        if responses is not None and function is not None:
            raise ValueError("give responses or function, not both")
        self.model_name = name
        self._responses = list(responses) if responses is not None else None
        self._function = function
        self.calls: list[ScriptedCall] = []

    async def request(
        self,
        messages: Sequence[Message],
        *,
        output: OutputType = None,
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        call = ScriptedCall(tuple(messages), output, settings, len(self.calls))
        self.calls.append(call)
        step = self._next_step(call)
        while callable(step) and not isinstance(step, type):
            step = step(call)
            if inspect.isawaitable(step):
                step = await step
        prompt_tokens = completion_tokens = None
        if isinstance(step, Scripted):
            prompt_tokens, completion_tokens, step = (
                step.prompt_tokens, step.completion_tokens, step.value
            )
        if isinstance(step, BaseException):
            raise step
        text = _as_text(step)
        usage = Usage(
            model_calls=1,
            prompt_tokens=prompt_tokens if prompt_tokens is not None else sum(
                len(m.content.split()) for m in messages
            ),
            completion_tokens=completion_tokens if completion_tokens is not None else len(
                text.split()
            ),
        )
        data = None
        if output is not None:
            data = parse_output(text, output, provider=self.provider, model=self.model_name,
                                usage=usage)
        return ModelResponse(text=text, data=data, usage=usage, model=self.name)

    def count_tokens(self, text: str) -> int:
        """Whitespace words, as the scripted usage counts them."""
        return len(text.split())

    def _next_step(self, call: ScriptedCall) -> Any:
        if self._function is not None:
            return self._function
        if self._responses is not None:
            if call.index >= len(self._responses):
                raise AssertionError(
                    f"scripted model {self.model_name!r} ran out of responses after "
                    f"{len(self._responses)} calls"
                )
            return self._responses[call.index]
        if call.output is not None:
            return minimal_instance(json_schema_of(call.output))
        return f"[{self.model_name}] {call.last_user[:200]}"


def _as_text(step: Any) -> str:
    if isinstance(step, str):
        return step
    if isinstance(step, BaseModel):
        return step.model_dump_json()
    return json.dumps(step)


def minimal_instance(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A small value that validates against ``schema`` (the subset pydantic emits)."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return minimal_instance(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return minimal_instance(schema[key][0], defs)
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: minimal_instance(props[k], defs) for k in schema.get("required", [])}
    if kind == "array" and "prefixItems" in schema:
        return [minimal_instance(item, defs) for item in schema["prefixItems"]]
    if kind == "array":
        item = schema.get("items", {})
        return [minimal_instance(item, defs) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    return None
