"""The analysis workflow: a CSV file in, a Markdown report out."""

from .workflow import (
    EXAMPLE_CSV,
    SETTINGS,
    AnalysisReport,
    analysis_plan,
    analysis_workers,
    run_analysis,
    unsupported_numbers,
)

__all__ = [
    "SETTINGS",
    "EXAMPLE_CSV",
    "AnalysisReport",
    "analysis_plan",
    "analysis_workers",
    "run_analysis",
    "unsupported_numbers",
]
