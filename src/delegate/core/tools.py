"""Tools a worker's model may call, through structured output.

Any model that supports an output schema can use tools this way, the small embedded one
included: each step the model answers with either ``{"tool": NAME, "arguments": {...}}`` or
``{"answer": ...}``. Arguments are validated against the tool's signature before the call;
a sync tool runs in a thread so it never blocks the event loop. Steps are bounded.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, RootModel, ValidationError, create_model, validate_call

from ..errors import ModelRequestError
from ..llm.base import Message, Model, ModelSettings, OutputType
from .render import render_value, truncate

__all__ = ["Tool", "run_with_tools"]


@dataclass(frozen=True)
class Tool:
    """A callable with a name, a description and a JSON schema of its arguments."""

    name: str
    description: str
    fn: Callable[..., Any]
    parameters: dict[str, Any]

    @classmethod
    def from_callable(cls, fn: Callable[..., Any]) -> Tool:
        if isinstance(fn, Tool):
            return fn
        fields: dict[str, Any] = {}
        for pname, param in inspect.signature(fn).parameters.items():
            annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[pname] = (annotation, default)
        args_model = create_model(f"{fn.__name__}_args", **fields)
        return cls(
            fn.__name__,
            (inspect.getdoc(fn) or "").split("\n")[0],
            validate_call(fn),
            args_model.model_json_schema(),
        )

    async def call(self, arguments: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(inspect.unwrap(self.fn)):
            return await self.fn(**arguments)
        return await asyncio.to_thread(self.fn, **arguments)


def _step_type(tools: Sequence[Tool], output: OutputType) -> type[BaseModel]:
    names = tuple(t.name for t in tools)
    call = create_model(
        "ToolCall", __config__=ConfigDict(extra="forbid"),
        tool=(Literal[names], ...), arguments=(dict[str, Any], ...),
    )
    answer_type = output if isinstance(output, type) else (dict[str, Any] if output else str)
    final = create_model("FinalAnswer", __config__=ConfigDict(extra="forbid"),
                         answer=(answer_type, ...))
    return RootModel[Union[call, final]]  # type: ignore[valid-type]  # noqa: UP007


async def run_with_tools(
    model: Model,
    messages: list[Message],
    tools: Sequence[Tool],
    output: OutputType,
    settings: ModelSettings,
    max_steps: int,
) -> Any:
    """Let ``model`` call ``tools`` until it answers, at most ``max_steps`` tool calls."""
    step_type = _step_type(tools, output)
    catalogue = "\n".join(
        f"- {t.name}: {t.description} Arguments schema: {json.dumps(t.parameters)}" for t in tools
    )
    messages = [
        *messages[:-1],
        Message.user(
            messages[-1].content
            + "\n\nYou may call these tools, one per answer, by answering "
            '{"tool": NAME, "arguments": {...}}:\n' + catalogue
            + '\nWhen you are done, answer {"answer": ...}.'
        ),
    ]
    for _ in range(max_steps + 1):
        response = await model.request(messages, output=step_type, settings=settings)
        step = response.data.root
        if hasattr(step, "answer"):
            answer = step.answer
            if isinstance(output, dict):
                return answer
            return answer if output is not None else str(answer).strip()
        tool = next(t for t in tools if t.name == step.tool)
        try:
            result = render_value(await tool.call(step.arguments))
        except ValidationError as exc:
            result = f"error: invalid arguments: {exc.error_count()} problem(s): {exc.errors()}"
        messages += [
            Message.assistant(response.text),
            Message.user(f"Result of {tool.name}: {truncate(result)}"),
        ]
    raise ModelRequestError(
        f"the model made {max_steps} tool calls without giving an answer",
        provider=model.provider, model=model.model_name,
    )
