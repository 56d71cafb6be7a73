"""The content evaluation's set: objectives for the content workflows, and the samples they read.

Each case of ``content_eval.json`` is ``{id, workflow, objective, inputs}`` (``inputs``: names
of files in the shipped samples folder, for the report workflow); see
:mod:`delegate.apps.evals.content`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ...errors import UsageError

__all__ = ["REVIEWED", "SAMPLES", "WORKFLOWS", "ContentCase", "load_content_set"]

WORKFLOWS = ("blog", "report", "project", "general")
#: The workflows with a reviewer (``general`` has none).
REVIEWED = ("blog", "report", "project")
SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


@dataclass(frozen=True)
class ContentCase:
    """One objective of the set."""

    id: str
    workflow: str
    objective: str
    inputs: tuple[str, ...] = ()


def load_content_set(path: str | Path | None = None) -> list[ContentCase]:
    """Read a set: a JSON list of ``{id, workflow, objective, inputs}``.

    Raises:
        UsageError: the file is not such a list, or names an unknown workflow.
    """
    if path is None:
        text = resources.files("delegate.apps.data").joinpath("content_eval.json").read_text(
            "utf-8")
        where = "content_eval.json"
    else:
        text, where = Path(path).read_text("utf-8"), str(path)
    try:
        data = json.loads(text)
        if not isinstance(data, list):
            raise TypeError(f"a JSON {type(data).__name__}, not a list")
        cases = [ContentCase(str(item["id"]), str(item["workflow"]), str(item["objective"]),
                             tuple(str(x) for x in item.get("inputs", ())))
                 for item in data]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UsageError(f"{where} is not a list of content cases: {exc!r}.") from None
    bad = [c.id for c in cases if c.workflow not in WORKFLOWS]
    if bad:
        raise UsageError(f"{where}: case {bad[0]} names a workflow not in {', '.join(WORKFLOWS)}.")
    return cases
