"""Options every command that runs work shares: budgets, prices, rate limits, progress,
tracing and the HTML report. :func:`add_run_options` declares them; :func:`setup` turns the
parsed arguments into what the library takes, and fails with a :class:`UsageError` on bad
input before anything runs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .budget import Budget
from .errors import UsageError
from .events import Subscriber
from .llm.base import Model

__all__ = ["RunSetup", "add_run_options", "setup"]


def add_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits, observability")
    group.add_argument("--budget-tokens", type=int, default=None, metavar="N",
                       help="stop starting work before the run would use more tokens")
    group.add_argument("--budget-usd", type=float, default=None, metavar="USD",
                       help="stop starting work before the run would cost more")
    group.add_argument("--budget-seconds", type=float, default=None, metavar="S",
                       help="stop starting work after this long")
    group.add_argument("--on-budget", choices=["finish", "cancel"], default="finish",
                       help="what running tasks do when the budget is reached (default finish)")
    group.add_argument("--prices", metavar="FILE", default=None,
                       help="JSON prices per million tokens, over the built-in table "
                            "(default $DELEGATE_PRICES)")
    group.add_argument("--rate-limit", metavar="SPEC", default=None,
                       help="e.g. openai:gpt-4o-mini=500rpm/200000tpm,groq=30rpm "
                            "(default $DELEGATE_RATE_LIMITS)")
    group.add_argument("--trace", choices=["console", "otlp"], default=None,
                       help="OpenTelemetry spans to the console or an OTLP endpoint "
                            "(needs the otel extra)")
    group.add_argument("--trace-content", action="store_true",
                       help="put prompts and outputs in the spans (off by default)")
    group.add_argument("--report", metavar="FILE", default=None,
                       help="write the HTML run report here when the run ends")


@dataclass
class RunSetup:
    """What the parsed options become."""

    budget: Budget | None = None
    subscribers: list[Subscriber] = field(default_factory=list)
    wrap_model: Callable[[Model], Model] = lambda model: model
    close: list[Callable[[], Any]] = field(default_factory=list)
    report: Path | None = None

    def finish(self) -> None:
        while self.close:
            self.close.pop()()


def setup(args: argparse.Namespace, *, quiet: bool) -> RunSetup:
    """Check the shared options of ``args`` and build the run's pieces."""
    from . import pricing
    from .ratelimit import parse_rate_limits, rate_limited

    result = RunSetup()
    args.run_setup = result  # main() finishes it (flushes traces) however the command ends
    if any(v is not None for v in (args.budget_tokens, args.budget_usd, args.budget_seconds)):
        result.budget = Budget(tokens=args.budget_tokens, usd=args.budget_usd,
                               seconds=args.budget_seconds, on_exceed=args.on_budget)
    prices = args.prices or os.environ.get("DELEGATE_PRICES")
    if prices:
        pricing.set_default_prices(pricing.PriceTable().overridden(pricing.load_prices(prices)))
    spec = args.rate_limit or os.environ.get("DELEGATE_RATE_LIMITS")
    if spec:
        limits = parse_rate_limits(spec)
        result.wrap_model = lambda model: rate_limited(model, limits)
    if args.report:
        if getattr(args, "no_store", False):
            raise UsageError("--report needs the run store; drop --no-store")
        result.report = Path(args.report)
        if result.report.is_dir():
            raise UsageError(f"--report {args.report} is a directory; give a file name")
    if not quiet:
        result.subscribers.append(progress())
    if args.trace:
        from .telemetry import OTelTracing, make_tracer_provider

        provider = make_tracer_provider(args.trace)
        tracing = OTelTracing(provider, capture_content=args.trace_content)
        result.subscribers.append(tracing)
        result.close += [provider.shutdown, tracing.close]  # closed last to first
    elif args.trace_content:
        raise UsageError("--trace-content needs --trace")
    return result


def progress() -> Subscriber:
    """Live progress when stderr is a terminal, plain lines otherwise."""
    if sys.stderr.isatty() and os.environ.get("TERM") != "dumb":
        from .live import LiveProgress

        return LiveProgress()
    from .console import LineProgress

    return LineProgress(sys.stderr)
