"""Rate limits as a user writes them: ``openai:gpt-4o-mini=500rpm/200000tpm,groq=30rpm``.

:func:`parse_rate_limits` turns such a spec into :class:`RateLimit` values by key (``provider``
or ``provider:model``); :mod:`delegate.limits.ratelimit` holds runs to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UsageError

__all__ = ["MAX_PER_MINUTE", "RateLimit", "parse_rate_limits"]

#: Largest limit a spec may give (a larger number is a typo, not a limit).
MAX_PER_MINUTE = 1_000_000_000
_LIMIT = re.compile(r"(\d[\d_]*)\s*(rpm|tpm)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Requests and tokens per minute; ``None`` leaves that dimension unlimited."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 0 < value <= MAX_PER_MINUTE):
                raise UsageError(f"{name} must be a whole number from 1 to {MAX_PER_MINUTE:,}; "
                                 f"got {value!r}")
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise UsageError("a rate limit needs requests_per_minute, tokens_per_minute or both")


def parse_rate_limits(text: str) -> dict[str, RateLimit]:
    """Parse ``KEY=LIMIT[/LIMIT],...`` where KEY is ``provider:model`` or ``provider`` (all
    its models, sharing one window) and LIMIT is ``<n>rpm`` or ``<n>tpm``; blank text is none.

    Raises:
        UsageError: one line naming the faulty part (empty part, unknown unit, duplicate
            key or unit, zero or a number above :data:`MAX_PER_MINUTE`).
    """
    limits: dict[str, RateLimit] = {}
    for part in (p.strip() for p in text.split(",")) if text.strip() else ():
        if not part:
            raise UsageError(f"empty entry in rate limits {text!r}; use e.g. groq=30rpm/6000tpm")
        key, sep, spec = (s.strip() for s in part.partition("="))
        provider, colon, name = key.partition(":")
        if not sep or not provider or (colon and not name) or any(c.isspace() for c in key):
            raise UsageError(f"rate limit {part!r} needs PROVIDER[:MODEL]=LIMITS, e.g. groq=30rpm")
        key = f"{provider.lower()}:{name}" if colon else provider.lower()
        if key in limits:
            raise UsageError(f"rate limits give {key!r} twice")
        found: dict[str, int] = {}
        for item in (s.strip() for s in spec.split("/")):
            match = _LIMIT.fullmatch(item)
            if match is None:
                raise UsageError(f"rate limit {item!r} for {key!r} is not <number>rpm or "
                                 "<number>tpm")
            unit, number = match[2].lower(), int(match[1].replace("_", ""))
            if unit in found:
                raise UsageError(f"rate limits for {key!r} give {unit} twice")
            if not 0 < number <= MAX_PER_MINUTE:
                raise UsageError(f"rate limit {item!r} for {key!r} must be from 1 to "
                                 f"{MAX_PER_MINUTE:,}")
            found[unit] = number
        limits[key] = RateLimit(found.get("rpm"), found.get("tpm"))
    return limits
