"""delegate: the orchestrator-workers pattern for LLM workflows.

An orchestrator model turns a request into a typed, validated :class:`Plan`; a
:class:`Scheduler` runs its tasks concurrently on named :class:`Worker` objects, handing each
the results it depends on; a :class:`Synthesizer` writes the answer. Every task ends with an
honest :class:`TaskOutcome`. Start with :func:`run`; pass it a :class:`Journal` over a
:func:`open_store` store to make the run durable.
"""

from ._version import __version__
from .core.config import RunConfig
from .core.events import Event, EventBus, EventLog
from .core.orchestrator import Orchestrator
from .core.outcomes import PlanningReport, RunResult, TaskOutcome
from .core.plan import Plan, PlanLimits, Task, validate_plan
from .core.retry import RetryPolicy
from .core.review import Reviewer, Rubric, TaskReview
from .core.scheduler import Scheduler
from .core.session import RunSession
from .core.synthesis import Synthesizer
from .core.workers import DependencyResult, TaskContext, Worker, WorkerRegistry, worker
from .durable.journal import Journal
from .durable.store import RunStore, open_store
from .errors import (
    ConfigurationError,
    DelegateError,
    ErrorInfo,
    ModelError,
    OutputValidationError,
    PlanError,
    PlanningError,
    RunError,
    RunLocked,
    RunNotFound,
    StoreError,
    TaskTimeout,
    TransientModelError,
    UsageError,
)
from .limits.budget import Budget
from .llm import Message, Model, ModelResponse, ModelSettings, ScriptedModel, Usage, get_model
from .runner import run
from .runtime import Runtime

__all__ = [
    "Budget",
    "ConfigurationError",
    "DelegateError",
    "ErrorInfo",
    "DependencyResult",
    "Event",
    "EventBus",
    "EventLog",
    "Journal",
    "Message",
    "Model",
    "ModelError",
    "ModelResponse",
    "ModelSettings",
    "Orchestrator",
    "OutputValidationError",
    "Plan",
    "PlanError",
    "PlanLimits",
    "PlanningError",
    "PlanningReport",
    "RetryPolicy",
    "Reviewer",
    "Rubric",
    "RunConfig",
    "RunError",
    "RunLocked",
    "RunNotFound",
    "RunResult",
    "RunSession",
    "RunStore",
    "Runtime",
    "Scheduler",
    "ScriptedModel",
    "StoreError",
    "Synthesizer",
    "Task",
    "TaskContext",
    "TaskOutcome",
    "TaskReview",
    "TaskTimeout",
    "TransientModelError",
    "Usage",
    "UsageError",
    "Worker",
    "WorkerRegistry",
    "__version__",
    "get_model",
    "open_store",
    "run",
    "validate_plan",
    "worker",
]
