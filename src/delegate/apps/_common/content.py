"""What the content workflows (blog, report, analysis, project, general) return, and how
their outputs are written to a folder.

Every workflow returns a :class:`WorkflowResult`: the final Markdown, any artifacts (figures),
the typed final output, and the underlying run. ``WorkflowResult.write(out_dir)`` writes
``<name>.md``, the artifacts, and ``<name>.json`` (the run's summary).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ...core.outcomes import RunResult

__all__ = ["Artifact", "WorkflowResult"]


@dataclass(frozen=True)
class Artifact:
    """A file a workflow produced besides its Markdown (a chart, a table)."""

    name: str
    content: bytes | str
    media_type: str = "image/png"


@dataclass(frozen=True)
class WorkflowResult:
    """A finished content workflow.

    Attributes:
        workflow: ``blog``, ``report``, ``analysis``, ``project`` or ``general``.
        title: the document's title.
        markdown: the final document; it references artifacts by file name.
        run: the run behind it (plan versions, outcomes, reviews, usage).
        data: the typed final output (a pydantic model), where the workflow has one.
        artifacts: figures and other files the Markdown refers to.
    """

    workflow: str
    title: str
    markdown: str
    run: RunResult
    data: Any = None
    artifacts: tuple[Artifact, ...] = field(default=())

    def summary(self) -> dict[str, Any]:
        """The JSON summary: the run's record plus the typed output."""
        data = self.data.model_dump(mode="json") if isinstance(self.data, BaseModel) else self.data
        return {"workflow": self.workflow, "title": self.title, **self.run.to_dict(),
                "text": self.markdown, "data": data,
                "artifacts": [a.name for a in self.artifacts]}

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write the Markdown, the artifacts and the JSON summary; return the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / f"{self.workflow}.md", out / f"{self.workflow}.json"]
        paths[0].write_text(self.markdown, encoding="utf-8")
        paths[1].write_text(json.dumps(self.summary(), indent=2, default=str), encoding="utf-8")
        for artifact in self.artifacts:
            path = out / artifact.name
            if isinstance(artifact.content, bytes):
                path.write_bytes(artifact.content)
            else:
                path.write_text(artifact.content, encoding="utf-8")
            paths.append(path)
        return paths
