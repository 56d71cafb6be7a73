"""What every benchmark shares: one subprocess per measurement, statistics, the machine's
description and Markdown formatting.

Each measurement runs in a fresh interpreter (``python bench/case.py BENCH PARAMS``) that
imports only the system it measures, so import costs, caches and peak memory never leak from
one case into another. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_DIR",
    "CaseFailed",
    "Stat",
    "fmt_stat",
    "machine",
    "markdown_table",
    "peak_rss_mib",
    "run_case",
    "stat",
]

BENCH_DIR = Path(__file__).resolve().parent
Stat = dict[str, float]


class CaseFailed(RuntimeError):
    """A measurement subprocess exited with an error or printed no result."""


def stat(values: Iterable[float]) -> Stat:
    """Median, min and max of ``values`` (and how many there were)."""
    data = [float(v) for v in values]
    if not data:
        raise ValueError("no values to summarise")
    return {"median": statistics.median(data), "min": min(data), "max": max(data),
            "n": len(data)}


def fmt_stat(s: Stat | None, spec: str = ".1f", unit: str = "") -> str:
    """``median (min-max)`` with ``spec`` for each number; a dash for no data."""
    if s is None:
        return "-"
    if s["n"] == 1 or s["min"] == s["max"]:
        return f"{s['median']:{spec}}{unit}"
    return f"{s['median']:{spec}}{unit} ({s['min']:{spec}}-{s['max']:{spec}})"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
                   align: str | None = None) -> str:
    """A GitHub Markdown table. ``align`` has an ``l`` or ``r`` per column; by default the
    first column is left-aligned and the others right."""
    align = align or "l" + "r" * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join(":--" if a == "l" else "--:" for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def peak_rss_mib() -> float:
    """The process's peak resident set size so far (``ru_maxrss``, KiB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(bench: str, params: dict[str, Any], *, timeout: float = 600,
             env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``bench.measure(**params)`` in a fresh interpreter and return its record.

    Raises:
        CaseFailed: the subprocess failed, timed out or printed no JSON record.
    """
    with tempfile.TemporaryDirectory(prefix="delegate-bench-") as tmp:
        out = Path(tmp) / "record.json"
        command = [sys.executable, str(BENCH_DIR / "case.py"), bench, json.dumps(params),
                   str(out)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, **(env or {})}, cwd=BENCH_DIR.parent)
        except subprocess.TimeoutExpired:
            raise CaseFailed(f"{bench} {params} ran past {timeout:g}s") from None
        if done.returncode != 0 or not out.is_file():
            tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-15:]
            raise CaseFailed(f"{bench} {params} failed (exit {done.returncode}):\n"
                             + "\n".join(tail))
        return json.loads(out.read_text())


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=BENCH_DIR, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, cwd=BENCH_DIR,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' (src/ has uncommitted changes)' if dirty else ''}" if head else "unknown"


def machine() -> dict[str, Any]:
    """Versions, machine, command, date: what anyone needs to reproduce a result."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(getattr(sys, "orig_argv", sys.argv)),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "delegate": _version("delegate"),
        "langgraph": _version("langgraph"),
        "pocketflow": _version("pocketflow"),
        "llama_cpp_python": _version("llama-cpp-python"),
        "git_commit": _git_commit(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "started": time.time(),
    }


@contextlib.contextmanager
def served(runtime: Any, token: str) -> Iterator[tuple[str, Any]]:
    """A ``delegate serve`` application on a new SQLite store, with ``runtime`` and ``token``,
    under uvicorn on 127.0.0.1 in a thread until the block ends; yields its URL and the app."""
    import socket
    import threading

    import uvicorn

    from delegate.server import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="delegate-bench-"))
    app = create_app(str(folder / "server.db"), token=token, port=port, recover=False,
                     runtime=runtime)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.01)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(30)
