"""delegate: the orchestrator-workers pattern for LLM workflows.

An orchestrator model turns a request into a typed, validated :class:`Plan`; a
:class:`Scheduler` runs its tasks concurrently on named :class:`Worker` objects, handing each
the results it depends on; a :class:`Synthesizer` writes the answer. Every task ends with an
honest :class:`TaskOutcome`. Start with :func:`run`; pass it a :class:`Journal` over a
:func:`open_store` store to make the run durable.
"""

from importlib.metadata import PackageNotFoundError, version

from .budget import Budget
from .errors import (
    ConfigurationError,
    DelegateError,
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
from .events import Event, EventBus, EventLog
from .journal import Journal
from .llm import Message, Model, ModelResponse, ModelSettings, ScriptedModel, Usage, get_model
from .orchestrator import Orchestrator
from .outcomes import PlanningReport, RunResult, TaskOutcome
from .plan import Plan, PlanLimits, Task, validate_plan
from .retry import RetryPolicy
from .review import Reviewer, Rubric, Synthesizer, TaskReview
from .runner import run
from .runtime import Runtime
from .scheduler import Scheduler
from .session import RunSession
from .store import RunStore, open_store
from .workers import DependencyResult, TaskContext, Worker, WorkerRegistry, worker

try:
    __version__ = version("delegate")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Budget",
    "ConfigurationError",
    "DelegateError",
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
