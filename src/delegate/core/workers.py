"""Workers: the named specialists the orchestrator plans against.

A worker has a name, a description (what the orchestrator reads when it plans), instructions
(its system prompt), an optional output schema, the model it uses (each worker may use its own)
and optional tools. Declare one in any of three ways::

    writer = Worker("writer", "Writes prose from notes", instructions="You write clearly.")

    class Critic(Worker):
        name = "critic"
        description = "Finds weaknesses in a draft"
        instructions = "You are a demanding editor."

    @worker(description="Adds two numbers from the shared context")
    async def add(ctx: TaskContext) -> int:          # no model at all
        return ctx.shared["a"] + ctx.shared["b"]

The scheduler calls :meth:`Worker.run` with a :class:`TaskContext`: the task, the results of
its dependencies in plan order, the run's shared context and the (metered) model to use.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from ..errors import UsageError
from ..llm.base import Message, Model, ModelSettings
from .plan import Task
from .render import render_dependencies, render_value, truncate
from .tools import Tool, run_with_tools

__all__ = [
    "DependencyResult",
    "Revision",
    "TaskContext",
    "Worker",
    "WorkerRegistry",
    "worker",
]


@dataclass(frozen=True, slots=True)
class DependencyResult:
    """The result of a task this one depends on."""

    task_id: str
    worker: str
    output: Any


@dataclass(frozen=True, slots=True)
class Revision:
    """Work sent back by the reviewer: what it said, and the output it judged."""

    notes: str
    previous_output: Any
    round: int


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a worker receives for one attempt of one task.

    Attributes:
        run_id: the run's id.
        objective: the request the whole run serves.
        task: the task to carry out.
        dependencies: results of ``task.depends_on``, in plan order (not completion order).
        shared: the run's shared context, read-only.
        model: the model this worker should use (already metered for the run), or ``None``
            when the run has no model.
        attempt: 1 for the first attempt, 2 for the first retry, ...
        revision: ``None`` on a first pass; when a reviewer sent the work back, its notes and
            the previous output (see :class:`Revision`).
    """

    run_id: str
    objective: str
    task: Task
    dependencies: tuple[DependencyResult, ...]
    shared: Mapping[str, Any]
    model: Model | None
    attempt: int = 1
    revision: Revision | None = None

    async def ask(self, question: str, *, schema: dict[str, Any] | None = None,
                  choices: Sequence[str] | None = None, timeout: float | None = None,
                  on_timeout: str | None = None) -> Any:
        """Ask a person ``question`` and return the answer (a string; one of ``choices``
        when given; JSON matching ``schema`` when given). Only this task, and what depends
        on it, waits. With a journal and nobody to ask, the run stops ``waiting``; carried
        on after the answer, the task runs again, its earlier model calls and the answer
        coming from the journal (see :mod:`delegate.core.interrupts`). With ``timeout``
        (seconds), ``on_timeout`` decides at the deadline: ``approve`` or ``reject`` answer
        ``{"action": ...}``, ``fail`` (the default) fails the task.

        Raises:
            UsageError: the run has nobody to ask (no ``on_interrupt`` and no journal), or
                the answer is not one of ``choices``.
            RunWaiting: the question is stored and nobody has answered it yet.
        """
        from .asker import ASKER

        asker = ASKER.get()
        if asker is None:
            raise UsageError("ctx.ask: this run has nobody to ask; run it with "
                             "on_interrupt= or a journal")
        return await asker.ask(self.task.id, self.attempt, question, schema, choices,
                               timeout, on_timeout)  # type: ignore[arg-type]

    def result_of(self, task_id: str) -> Any:
        """The output of dependency ``task_id``; ``KeyError`` if it is not a dependency."""
        for dep in self.dependencies:
            if dep.task_id == task_id:
                return dep.output
        raise KeyError(task_id)


WorkerFunction = Callable[[TaskContext], Awaitable[Any]]


class Worker:
    """A worker. Instantiate it, subclass it, or use the :func:`worker` decorator.

    Args:
        name: unique name the plan refers to.
        description: one or two sentences the orchestrator plans with.
        instructions: the worker's system prompt.
        output_schema: a pydantic model its output must validate against.
        model: a :class:`Model` or ``provider:model`` string; ``None`` uses the run's model.
        tools: Python callables the worker may call (sync or async, typed arguments).
        max_tokens: cap on each model answer.
        fn: an async function ``fn(ctx)`` that does the work instead of a model.
        settings: sampling settings for this worker's model calls (penalties against
            repetition, temperature); ``max_tokens`` above takes precedence for the cap.
    """

    name: str = ""
    description: str = ""
    instructions: str = ""
    output_schema: type[BaseModel] | None = None
    model: Model | str | None = None
    tools: tuple[Callable[..., Any], ...] = ()
    max_tokens: int | None = None
    max_tool_steps: int = 4
    settings: ModelSettings | None = None

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        instructions: str | None = None,
        *,
        output_schema: type[BaseModel] | None = None,
        model: Model | str | None = None,
        tools: Iterable[Callable[..., Any]] | None = None,
        max_tokens: int | None = None,
        fn: WorkerFunction | None = None,
        settings: ModelSettings | None = None,
    ) -> None:
        for attr, value in (
            ("name", name), ("description", description), ("instructions", instructions),
            ("output_schema", output_schema), ("model", model), ("max_tokens", max_tokens),
            ("settings", settings),
        ):
            if value is not None:
                setattr(self, attr, value)
        if tools is not None:
            self.tools = tuple(tools)
        self.fn = fn
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise UsageError(f"worker name {self.name!r} must be letters, digits, _ or -")
        if fn is not None and not inspect.iscoroutinefunction(fn):
            raise UsageError(f"worker {self.name!r}: fn must be an async function")
        self._tools = tuple(Tool.from_callable(t) for t in self.tools)

    @property
    def uses_model(self) -> bool:
        return self.fn is None and type(self).run is Worker.run

    async def run(self, ctx: TaskContext) -> Any:
        """Carry out one task. The default asks the model; override it or pass ``fn``."""
        if self.fn is not None:
            return await self.fn(ctx)
        if ctx.model is None:
            raise UsageError(f"worker {self.name!r} needs a model and the run has none")
        messages = [Message.system(self.system_prompt()), Message.user(self.user_prompt(ctx))]
        output = ctx.task.output_schema or self.output_schema
        settings = self.model_settings()
        if self._tools:
            return await run_with_tools(
                ctx.model, messages, self._tools, output, settings, self.max_tool_steps,
                approve=lambda tool, arguments: _approve_call(ctx, tool, arguments),
            )
        response = await ctx.model.request(messages, output=output, settings=settings)
        return response.data if output is not None else response.text.strip()

    def model_settings(self, max_tokens: int | None = None) -> ModelSettings:
        """The settings of this worker's calls: its ``settings`` with the token cap
        (``max_tokens``, default the worker's own)."""
        settings = self.settings or ModelSettings()
        cap = max_tokens or self.max_tokens
        # replace, not merged(ModelSettings(...)): a new ModelSettings' temperature of 0.0
        # would override the worker's own
        return settings if cap is None else replace(settings, max_tokens=cap)

    def system_prompt(self) -> str:
        return self.instructions or f"You are the {self.name} worker. {self.description}"

    def user_prompt(self, ctx: TaskContext) -> str:
        """The task as the worker's model reads it: objective, task, dependency results."""
        parts = [f"Overall objective: {ctx.objective}", f"Your task: {ctx.task.instruction}"]
        if ctx.dependencies:
            parts.append("Results you can build on:\n" + render_dependencies(ctx.dependencies))
        context = {k: v for k, v in ctx.shared.items() if not k.startswith("_")}
        if context:
            parts.append("Context: " + "; ".join(f"{k}: {v}" for k, v in context.items()))
        if ctx.revision is not None:
            parts.append(
                "Your previous answer:\n" + truncate(render_value(ctx.revision.previous_output))
                + f"\n\nThe reviewer sent it back: {ctx.revision.notes}\n"
                "Write an improved answer that addresses the review."
            )
        return "\n\n".join(parts)

    def __repr__(self) -> str:
        return f"<Worker {self.name}>"


async def _approve_call(ctx: TaskContext, tool: Tool, arguments: dict[str, Any],
                        ) -> tuple[dict[str, Any] | None, str]:
    """Ask a person to approve ``tool``'s call with ``arguments`` (see
    :meth:`~delegate.core.asker.Asker.approve_call`)."""
    from .asker import ASKER

    asker = ASKER.get()
    if asker is None:
        raise UsageError(f"tool {tool.name} needs a person's approval; run with "
                         "on_interrupt= or a journal")
    return await asker.approve_call(ctx.task.id, ctx.attempt, tool, arguments)


def worker(
    name: str | None = None,
    *,
    description: str = "",
    **options: Any,
) -> Callable[[WorkerFunction], Worker]:
    """Turn an async function ``f(ctx) -> result`` into a :class:`Worker`.

    The worker's name defaults to the function's name, its description to the docstring.
    """

    def wrap(fn: WorkerFunction) -> Worker:
        return Worker(
            name or fn.__name__,
            description or (inspect.getdoc(fn) or "").split("\n")[0],
            fn=fn,
            **options,
        )

    return wrap


class WorkerRegistry(Mapping[str, Worker]):
    """The workers a run may use, by name. Accepts workers and plain async functions."""

    def __init__(self, workers: Iterable[Worker | WorkerFunction] = ()) -> None:
        self._workers: dict[str, Worker] = {}
        for w in workers:
            self.register(w)

    def register(self, w: Worker | WorkerFunction) -> Worker:
        """Add a worker (or an async function, which becomes one); names must be unique."""
        if not isinstance(w, Worker):
            if not inspect.iscoroutinefunction(w):
                raise UsageError(f"{w!r} is neither a Worker nor an async function")
            w = Worker(w.__name__, (inspect.getdoc(w) or "").split("\n")[0], fn=w)
        if w.name in self._workers:
            raise UsageError(f"two workers are named {w.name!r}")
        self._workers[w.name] = w
        return w

    def __getitem__(self, name: str) -> Worker:
        return self._workers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._workers)

    def __len__(self) -> int:
        return len(self._workers)

    def describe(self, names: Sequence[str] | None = None) -> str:
        """One line per worker, ``- name: description``, for the planning prompt."""
        return "\n".join(
            f"- {w.name}: {w.description or 'no description'}"
            for w in self._workers.values()
            if names is None or w.name in names
        )
