"""The analysis workflow: a CSV file in, a Markdown report out."""

from .workflow import (
    EXAMPLE_CSV,
    AnalysisReport,
    analysis_plan,
    analysis_workers,
    run_analysis,
    unsupported_numbers,
)

__all__ = [
    "EXAMPLE_CSV",
    "AnalysisReport",
    "analysis_plan",
    "analysis_workers",
    "run_analysis",
    "unsupported_numbers",
]
