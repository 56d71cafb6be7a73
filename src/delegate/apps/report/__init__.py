"""The report workflow: one analysis per input, an executive summary, charts from the data."""

from .workflow import (
    EXAMPLE_INPUTS,
    EXAMPLE_TOPIC,
    SETTINGS,
    Report,
    ReportSection,
    analysis_check,
    report_plan,
    report_reviewer,
    report_workers,
    run_report,
)

__all__ = [
    "SETTINGS",
    "EXAMPLE_INPUTS",
    "EXAMPLE_TOPIC",
    "Report",
    "analysis_check",
    "ReportSection",
    "report_plan",
    "report_reviewer",
    "report_workers",
    "run_report",
]
