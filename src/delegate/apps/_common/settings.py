"""A workflow's settings: the run's :class:`~delegate.core.config.RunConfig`, checked against
what the workflow applies.

Every workflow takes ``config=RunConfig(...)``; the settings it used to take as keywords
(``max_concurrency=``, ``budget=``, ``strategy=``) keep working for one release with a
:class:`DeprecationWarning`. A setting changed from its default that the workflow does not
apply (``failure_policy`` for the blog, whose stages wait on each other anyway) is refused
with its name rather than ignored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ...core.config import RunConfig, config_from

__all__ = ["ENGINE_SETTINGS", "workflow_config"]

#: What every workflow applies: how many tasks at once, how long they and their model calls
#: may take, how transient failures are retried, what the run may spend, and whether a
#: person approves its plan first.
ENGINE_SETTINGS = ("max_concurrency", "task_timeout", "call_timeout", "retry", "budget",
                   "approve_plan", "approval_timeout", "on_approval_timeout")


def workflow_config(config: RunConfig | None, legacy: Mapping[str, Any], *, workflow: str,
                    supported: Collection[str], caller: str) -> RunConfig:
    """``config`` (default ``RunConfig()``) with the deprecated keywords in ``legacy`` applied,
    checked to change only what ``workflow`` applies (``supported``).

    Raises:
        UsageError: a bad setting, or one the workflow does not apply.
        TypeError: a keyword that is not a setting.
    """
    return config_from(config, legacy, caller=caller).check_supported(supported, workflow)
