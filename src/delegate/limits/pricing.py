"""What model calls cost: a price table per provider and model, which the user can override.

Prices are US dollars per million tokens, input and output apart. The built-in table holds
the list prices the providers published for their common models (late 2025); they change,
so a user gives their own with ``--prices FILE`` or ``DELEGATE_PRICES=FILE``: a JSON object
``{"provider:model": {"input": 0.15, "output": 0.6}, "provider": {...}}``, where a bare
provider name prices every model of that provider. The embedded model, the scripted model
and Ollama cost nothing. A model with no price has an unknown cost (``None``), never a
made-up one; a dollar budget refuses to run on such a model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

__all__ = ["DEFAULT_PRICES", "Price", "PriceTable", "default_prices", "load_prices",
           "parse_prices"]


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million input (prompt) and output (completion) tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


FREE = Price(0.0, 0.0)
DEFAULT_PRICES: Mapping[str, Price] = {
    "local": FREE, "scripted": FREE, "ollama": FREE,
    "openai:gpt-4o-mini": Price(0.15, 0.60),
    "openai:gpt-4o": Price(2.50, 10.00),
    "openai:gpt-4.1": Price(2.00, 8.00),
    "openai:gpt-4.1-mini": Price(0.40, 1.60),
    "openai:gpt-4.1-nano": Price(0.10, 0.40),
    "groq:llama-3.1-8b-instant": Price(0.05, 0.08),
    "groq:llama-3.3-70b-versatile": Price(0.59, 0.79),
    "anthropic:claude-3-5-haiku-latest": Price(0.80, 4.00),
    "anthropic:claude-haiku-4-5": Price(1.00, 5.00),
    "anthropic:claude-sonnet-4-5": Price(3.00, 15.00),
}


class PriceTable:
    """Looks a price up by ``provider:model``, then by ``provider``."""

    def __init__(self, prices: Mapping[str, Price] = DEFAULT_PRICES) -> None:
        self.prices = dict(prices)

    def price(self, provider: str, model: str) -> Price | None:
        return self.prices.get(f"{provider}:{model}") or self.prices.get(provider)

    def cost(self, provider: str, model: str, prompt_tokens: int,
             completion_tokens: int) -> float | None:
        """The cost in dollars, or ``None`` when the model has no price."""
        price = self.price(provider, model)
        return None if price is None else price.cost(prompt_tokens, completion_tokens)

    def overridden(self, prices: Mapping[str, Price]) -> PriceTable:
        return PriceTable({**self.prices, **prices})


def load_prices(path: str | Path) -> dict[str, Price]:
    """Read a prices file (see the module docstring).

    Raises:
        UsageError: the file is missing, is not JSON, or a price is malformed.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no prices file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the prices file {path}: {exc}") from None
    return parse_prices(text, str(path))


def parse_prices(text: str, source: str = "prices") -> dict[str, Price]:
    """Prices from the JSON text of a prices file; ``source`` names it in errors.

    Raises:
        UsageError: the text is not JSON, or a price is malformed.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"cannot read the prices file {source}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"the prices file {source} must hold a JSON object")
    prices = {}
    for key, value in data.items():
        if not (isinstance(value, dict) and set(value) == {"input", "output"}
                and all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1e6
                        for v in value.values())):
            raise UsageError(f"the prices file {source}: {key!r} needs "
                             '{"input": USD, "output": USD} per million tokens, each 0 or more')
        prices[str(key)] = Price(float(value["input"]), float(value["output"]))
    return prices


def default_prices() -> PriceTable:
    """The built-in table, overridden by the prices file ``DELEGATE_PRICES`` names. Read
    anew at each call: a :class:`~delegate.runtime.Runtime` keeps the table it was given."""
    table = PriceTable()
    path = os.environ.get("DELEGATE_PRICES")
    return table.overridden(load_prices(path)) if path else table
