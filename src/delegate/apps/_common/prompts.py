"""The content workflows' prompts, kept as data beside the workers in ``prompts/<workflow>.toml``.

Each table of a file is one worker: ``system`` (its instructions) and optionally ``example``
(one example of the expected shape, on another topic, so that a small model copies the shape
rather than the words). Placeholders are written ``<name>`` and filled with :func:`fill`, so
that JSON examples keep their braces.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Any

__all__ = ["WorkerPrompt", "fill", "prompts"]


class WorkerPrompt:
    """One worker's prompt: ``system`` and ``example`` (``""`` when it has none)."""

    def __init__(self, system: str, example: str = "") -> None:
        self.system = system.strip()
        self.example = example.strip()

    def instructions(self, **values: Any) -> str:
        """The system prompt: the instructions, then the example, placeholders filled."""
        text = self.system if not self.example else f"{self.system}\n\n{self.example}"
        return fill(text, **values)


@functools.cache
def prompts(workflow: str) -> dict[str, WorkerPrompt]:
    """The prompts of ``workflow`` by worker name (read once from the shipped file)."""
    text = resources.files("delegate.apps.prompts").joinpath(f"{workflow}.toml").read_text(
        "utf-8")
    return {name: WorkerPrompt(**table) for name, table in tomllib.loads(text).items()}


def fill(text: str, **values: Any) -> str:
    """``text`` with each ``<name>`` replaced by ``values[name]``."""
    for name, value in values.items():
        text = text.replace(f"<{name}>", str(value))
    return text
