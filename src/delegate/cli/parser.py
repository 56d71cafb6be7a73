"""The ``delegate`` command's arguments: the parser of every subcommand.

The parser raises :class:`ArgumentError` instead of exiting, so that ``main`` can print the
error (as a JSON object with ``--json``); see :mod:`delegate.cli.commands`.
"""

from __future__ import annotations

import argparse

from .._version import __version__
from ..llm.registry import DEFAULT_MODEL
from .files import CATALOG_MAX_BYTES, INPUT_MAX_BYTES, VOICE_MAX_BYTES
from .options import add_run_options
from .runs import add_runs_parser, add_store_options
from .serve import add_serve_parser

__all__ = ["EXAMPLE_NAMES", "WORKFLOW_NAMES", "ArgumentError", "build_parser"]

WORKFLOW_NAMES = ["general", "blog", "report", "analysis", "project"]
EXAMPLE_NAMES = ["blog", "report", "analysis", "project"]


class ArgumentError(Exception):
    """A command line argparse refused; ``main`` prints it (as JSON too with ``--json``)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser, self.message = parser, message


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of exiting, so that ``--json`` still gets
    its object (subcommand parsers are of this class too)."""

    def error(self, message: str):  # type: ignore[override]
        raise ArgumentError(self, message)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``delegate`` and every subcommand."""
    parser = _Parser(
        prog="delegate",
        description="Plan a request into tasks for specialised workers, run them, and answer.",
    )
    parser.add_argument("--version", action="version", version=f"delegate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run_p = sub.add_parser("run", help="plan and run an objective with the general workers")
    run_p.add_argument("objective", help="what you want done, in plain words")
    run_p.add_argument("--model", default=None,
                       help=f"provider:model (default: $DELEGATE_MODEL or {DEFAULT_MODEL})")
    run_p.add_argument("--max-concurrency", type=int, default=4, metavar="N",
                       help="most tasks running at once (default 4)")
    run_p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                       help="time limit for one attempt of one task")
    run_p.add_argument("--fail-fast", action="store_true",
                       help="stop the run at the first failed task")
    run_p.add_argument("--strategy", choices=["static", "dynamic", "hybrid"], default="static",
                       help="plan once, grow the plan after each wave, or replan on failure")
    run_p.add_argument("--approve-plan", action="store_true",
                       help="ask before any worker starts: approve, edit or reject the plan "
                            "(at a terminal: here; else the run waits, exit 3, for delegate "
                            "runs answer and runs resume); only the general workflow's plan "
                            "can be edited, the others' approved or rejected")
    run_p.add_argument("--workflow", choices=["auto", *WORKFLOW_NAMES], default="auto",
                       help="which workflow (default: picked from the request's words)")
    run_p.add_argument("--input", action="append", default=[], metavar="FILE",
                       help="an input for the report workflow (text, Markdown or CSV, at most "
                            f"{INPUT_MAX_BYTES // 1_000_000} MB); repeat")
    run_p.add_argument("--out", metavar="DIR",
                       help="write the Markdown, figures and the JSON summary here")
    run_p.add_argument("--json", action="store_true", help="print one JSON object")
    run_p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_store_options(run_p)
    add_run_options(run_p)

    ex = sub.add_parser("examples", help="run the built-in examples of the content workflows")
    ex.add_argument("--example", choices=[*EXAMPLE_NAMES, "all"], default="all")
    ex.add_argument("--model", default=None, help="provider:model")
    ex.add_argument("--out", default="examples-out", metavar="DIR",
                    help="where to write each example's outputs (default examples-out)")
    ex.add_argument("--json", action="store_true",
                    help="print one JSON object: the status and each example's summary")
    ex.add_argument("--quiet", action="store_true", help="no progress lines")
    add_store_options(ex)
    add_run_options(ex)

    ch = sub.add_parser("chat", help="an interactive session over the workflows")
    ch.add_argument("--model", default=None, help="provider:model")

    rec = sub.add_parser("recommend", help="product advice from the KETL Mtn. catalog "
                         "(or your own)")
    rec.add_argument("query", help="the customer's request")
    rec.add_argument("--catalog", metavar="FILE",
                     help="a JSON list of product records, at most "
                          f"{CATALOG_MAX_BYTES // 1_000_000} MB (default: the KETL Mtn. catalog)")
    rec.add_argument("--brand-voice", metavar="FILE", help="a brand voice guide (text, at most "
                     f"{VOICE_MAX_BYTES // 1_000_000} MB)")
    rec.add_argument("--model", default=None, help="provider:model")
    rec.add_argument("--top-k", type=int, default=3, metavar="N",
                     help="products to recommend for a product type or an open request "
                     "(default 3); a kit gets one of each kind it needs, up to 5")
    rec.add_argument("--max-price", type=float, default=None, metavar="USD",
                     help="price ceiling (default: the one the query states, if any)")
    rec.add_argument("--approve-plan", action="store_true",
                     help="ask before any worker starts: approve or reject the plan (at a "
                          "terminal: here; else the run waits, exit 3)")
    rec.add_argument("--json", action="store_true", help="print one JSON object")
    rec.add_argument("--quiet", action="store_true", help="no progress lines")
    add_store_options(rec)
    add_run_options(rec)

    ev = sub.add_parser("eval", help="score the recommender or the content workflows on "
                        "their shipped evaluation sets")
    ev.add_argument("workflow", choices=["recommend", "content"])
    ev.add_argument("--model", default=None, help="provider:model")
    ev.add_argument("--limit", type=int, default=None, metavar="N", help="first N queries only")
    ev.add_argument("--concurrency", type=int, default=2, metavar="N",
                    help="queries at once (default 2)")
    ev.add_argument("--out", default="bench/results", metavar="DIR",
                    help="where to write <workflow>_eval.json and .md (default bench/results)")
    ev.add_argument("--baseline", default=None, metavar="FILE",
                    help="content only: an earlier content_eval.json to compare with, goal "
                    "by goal (a 'Before and after' table)")
    ev.add_argument("--shop", choices=["ketlmtn", "unseen"], default="ketlmtn",
                    help="recommend only: KETL Mtn.'s catalog and set (default), or another "
                    "shop's catalog the recommender was not built for (written to "
                    "recommend_eval_unseen.*)")
    ev.add_argument("--no-review", action="store_true",
                    help="content only: run the blog, report and project without their "
                    "reviewer, to see what it buys")

    add_runs_parser(sub)
    add_serve_parser(sub)
    sub.add_parser("models", help="list model providers and how to configure each")
    return parser
