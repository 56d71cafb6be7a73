"""Builders of the hot path's frozen records: a task's context, its outcome, a dependency.

:func:`builder` gives a plain class with the slots of a frozen, slotted dataclass, in the same
order. The engine builds an instance of it with plain attribute stores and then makes it the
dataclass by assigning ``__class__`` (allowed between classes of the same slot layout): the
object is then exactly what the dataclass's constructor makes, for about a third of the cost
of the frozen ``__init__``, which goes through ``object.__setattr__`` once per field. Every
field must be stored before the assignment; ``tests/core/test_engine.py`` checks that the
records built this way equal the constructor's.
"""

from __future__ import annotations

from .outcomes import TaskOutcome
from .workers import DependencyResult, TaskContext

__all__ = ["Context", "Dependency", "Outcome", "builder"]


def builder(cls: type) -> type:
    """A plain class with the slots of the frozen, slotted dataclass ``cls``."""
    return type(f"_{cls.__name__}Builder", (), {"__slots__": cls.__slots__})


Context = builder(TaskContext)
Outcome = builder(TaskOutcome)
Dependency = builder(DependencyResult)
