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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, RootModel, ValidationError, create_model, validate_call

from ..errors import ModelRequestError, UsageError
from ..llm.base import Message, Model, ModelSettings, OutputType
from .render import render_value, truncate

__all__ = ["Tool", "run_with_tools"]


@dataclass(frozen=True)
class Tool:
    """A callable with a name, a description and a JSON schema of its arguments.

    With ``requires_approval`` a person approves each call before it is made, with its
    arguments shown: they may approve, edit the arguments (checked against the schema) or
    reject it with a reason, which the model reads as the call's result (see
    :mod:`delegate.core.interrupts`).
    """

    name: str
    description: str
    fn: Callable[..., Any]
    parameters: dict[str, Any]
    requires_approval: bool = False
    arguments: type[BaseModel] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_callable(cls, fn: Callable[..., Any], *, requires_approval: bool = False) -> Tool:
        if isinstance(fn, Tool):
            return replace(fn, requires_approval=True) if requires_approval else fn
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
            requires_approval,
            args_model,
        )

    def check_arguments(self, arguments: Any) -> None:
        """Raise ``UsageError`` (one line) unless ``arguments`` fit the tool's signature."""
        if not isinstance(arguments, dict):
            raise UsageError(f"the arguments of {self.name} are an object")
        if self.arguments is not None:
            try:
                self.arguments.model_validate(arguments)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise UsageError(f"the arguments of {self.name} are invalid: {where}: "
                                 f"{first['msg']}") from None

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
    approve: Callable[[Tool, dict[str, Any]], Awaitable[tuple[dict[str, Any] | None, str]]]
    | None = None,
) -> Any:
    """Let ``model`` call ``tools`` until it answers, at most ``max_steps`` tool calls.

    ``approve(tool, arguments)`` is asked before each call of a tool that requires approval;
    it returns the arguments to call with (the same or edited), or ``None`` and the reason
    the call was rejected, which the model reads as the result."""
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
        arguments, refused = step.arguments, ""
        if tool.requires_approval:
            if approve is None:
                raise UsageError(f"tool {tool.name} needs a person's approval and the run "
                                 "has nobody to ask")
            arguments, refused = await approve(tool, step.arguments)
        try:
            result = (f"error: a person rejected the call: {refused}" if arguments is None
                      else render_value(await tool.call(arguments)))
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
