"""Options every command that runs work shares: budgets, prices, rate limits, progress,
tracing and the HTML report. :func:`add_run_options` declares them; :func:`setup` turns the
parsed arguments into what the library takes, and fails with a :class:`UsageError` on bad
input before anything runs (the ``--report`` path is checked, the prices file is read with a
cap). :class:`CliState` is what one command invocation prints: it watches the runs' events
and guarantees a single JSON object on standard output with ``--json``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.events import Event, RunFinished, RunStarted, Subscriber
from ..errors import UsageError
from ..limits.budget import Budget
from ..llm.base import Model
from ..run_requests import FileRef
from ..runtime import Runtime
from .files import PRICES_MAX_BYTES, check_out_file, decode_text, digest, read_bytes

__all__ = ["CliState", "RunSetup", "add_run_options", "common_request", "read_checked",
           "setup"]


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
    runtime: Runtime = field(default_factory=Runtime)
    close: list[Callable[[], Any]] = field(default_factory=list)
    report: Path | None = None
    prices: FileRef | None = None
    rate_limit: str | None = None

    def model(self, spec: str | None) -> Model:
        """The command's model, resolved (and later closed) by its runtime."""
        return self.runtime.model(spec)

    def finish(self) -> None:
        while self.close:
            self.close.pop()()
        if not self.runtime.closed:
            asyncio.run(self.runtime.aclose())


def setup(args: argparse.Namespace, *, quiet: bool) -> RunSetup:
    """Check the shared options of ``args`` and build the run's pieces."""
    from ..limits import pricing
    from ..limits.ratelimit import parse_rate_limits

    result = RunSetup()
    args.run_setup = result  # main() finishes it (flushes traces) however the command ends
    state = getattr(args, "state", None)
    if state is not None:
        result.subscribers.append(state)
    if any(v is not None for v in (args.budget_tokens, args.budget_usd, args.budget_seconds)):
        result.budget = Budget(tokens=args.budget_tokens, usd=args.budget_usd,
                               seconds=args.budget_seconds, on_exceed=args.on_budget)
    if args.report:
        if getattr(args, "no_store", False):
            raise UsageError("--report needs the run store; drop --no-store")
        result.report = check_out_file(args.report, option="--report")
    prices = args.prices or os.environ.get("DELEGATE_PRICES")
    if prices:
        result.prices, text = read_checked(args, prices, what="prices",
                                           max_bytes=PRICES_MAX_BYTES)
        table = pricing.PriceTable().overridden(pricing.parse_prices(text, prices))
    else:
        table = pricing.PriceTable()
    limits = {}
    spec = args.rate_limit or os.environ.get("DELEGATE_RATE_LIMITS")
    if spec:
        limits = parse_rate_limits(spec)
        result.rate_limit = spec
    result.runtime = Runtime(prices=table, rate_limits=limits)
    if not quiet:
        result.subscribers.append(progress())
    if args.trace:
        from ..observe.otel import OTelTracing, make_tracer_provider

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
        from ..observe.progress_tree import LiveProgress

        return LiveProgress()
    from ..observe.progress_lines import LineProgress

    return LineProgress(sys.stderr)


def read_checked(args: argparse.Namespace, path: str, *, what: str, max_bytes: int,
                 text: bool = True) -> tuple[FileRef, Any]:
    """Read a file the command was given (see :func:`delegate.cli.files.read_bytes`): its
    :class:`FileRef` for the stored request and its text (bytes with ``text=False``).

    On resume, ``args.expect_files`` maps each absolute path the run read to the sha256 it
    had then; a file whose content changed is refused.

    Raises:
        UsageError: the file cannot be read, is not a capped regular UTF-8 text file, or
            changed since the run being resumed started.
    """
    data = read_bytes(path, what=what, max_bytes=max_bytes)
    ref = FileRef(path=os.path.abspath(path), sha256=digest(data))
    expected = (getattr(args, "expect_files", None) or {}).get(ref.path)
    if expected is not None and expected != ref.sha256:
        raise UsageError(f"the {what} file {path} changed since the run started; a resume "
                         "needs the same content")
    return ref, decode_text(data, path, what=what) if text else data


def common_request(args: argparse.Namespace, run_setup: RunSetup) -> dict[str, Any]:
    """The stored-request fields every command that runs shares."""
    return {"model": args.model, "budget_tokens": args.budget_tokens,
            "budget_usd": args.budget_usd, "budget_seconds": args.budget_seconds,
            "on_budget": args.on_budget, "rate_limit": run_setup.rate_limit,
            "prices": run_setup.prices}


@dataclass
class CliState:
    """One invocation's output: a subscriber that keeps the last run's id and the result its
    ``RunFinished`` reported, so that a run that raised still prints its result.

    Attributes:
        json: whether standard output takes one JSON object.
        printed: whether that object was printed (never two).
        run_id: the run under way or last run (``None`` before any).
        result: the ``RunResult`` of the last ``RunFinished`` of the current run.
        runs: summaries of the runs already finished (``examples``).
        unwritten: one line for each output that could not be written after its run
            (:meth:`writing`); ``main`` prints them after the answer and exits 1.
        terminated: SIGTERM was received (the command ends as after Ctrl-C, exit 143).
        idle: nothing is running that SIGTERM should cancel first (``chat`` between runs):
            the command ends at once.
    """

    json: bool = False
    printed: bool = False
    run_id: str | None = None
    result: Any = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    unwritten: list[str] = field(default_factory=list)
    terminated: bool = False
    idle: bool = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            if event.run_id != self.run_id:
                self.result = None
            self.run_id = event.run_id
        elif isinstance(event, RunFinished):
            self.run_id, self.result = event.run_id, event.result

    def new_run(self, run_id: str | None) -> None:
        """A new run begins (its id may be known before it starts, from its journal)."""
        self.run_id, self.result = run_id, None

    @contextlib.contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Write the outputs of a run that ended: a :class:`UsageError` or an ``OSError``
        (said as ``WHAT could not be written: ...``) in the block is kept in :attr:`unwritten`
        instead of raised, so that the answer is still printed and the run stays stored."""
        try:
            yield
        except BrokenPipeError:  # the output stream closed, not the outputs
            raise
        except UsageError as exc:
            self.unwritten.append(" ".join(str(exc).split()))
        except OSError as exc:
            line = f"{what} could not be written: {exc.strerror or exc}"
            self.unwritten.append(" ".join(line.split()))

    def emit(self, data: dict[str, Any], text: str | None) -> None:
        """Print the outcome: ``data`` as JSON with ``--json``, else ``text`` (if any)."""
        if self.json:
            if not self.printed:
                self.printed = True
                error = data.get("error") or ("; ".join(self.unwritten) or None)
                print(_dumps({**data, "error": error}))
        elif text is not None:
            print(text)

    def fail(self, message: str, code: int, *, status: str | None = None,
             prefix: str = "delegate: error: ") -> int:
        """Report an error: one line on stderr, and with ``--json`` the one object (the
        run's last reported result with ``error`` set, else ``status``, ``error`` and
        ``run_id``). Returns ``code``."""
        line = " ".join(str(message).split())
        print(f"{prefix}{line}", file=sys.stderr)
        if self.json and not self.printed:
            self.printed = True
            data: dict[str, Any]
            if self.result is not None and hasattr(self.result, "to_dict"):
                data = self.result.to_dict()
                data["error"] = data.get("error") or line
            else:
                data = {"run_id": self.run_id,
                        "status": status or ("cancelled" if code == 130 else "failed"),
                        "error": line}
            if self.runs:
                data["runs"] = self.runs
            print(_dumps(data))
        return code


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)
