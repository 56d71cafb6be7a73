"""The project workflow: a description in, a scheduled plan out."""

from .workflow import (
    DEFAULT_RESOURCES,
    ESTIMATES,
    EXAMPLE_DESCRIPTION,
    EXAMPLE_RESOURCES,
    MAX_ITEMS,
    SETTINGS,
    Phase,
    Phases,
    ProjectPlan,
    Requirements,
    breakdown_schema,
    project_check,
    project_plan,
    project_workers,
    run_project,
)

__all__ = [
    "SETTINGS",
    "DEFAULT_RESOURCES",
    "ESTIMATES",
    "EXAMPLE_DESCRIPTION",
    "EXAMPLE_RESOURCES",
    "MAX_ITEMS",
    "Phase",
    "Phases",
    "ProjectPlan",
    "Requirements",
    "breakdown_schema",
    "project_check",
    "project_plan",
    "project_workers",
    "run_project",
]
