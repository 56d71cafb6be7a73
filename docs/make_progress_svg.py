"""Render docs/progress.svg: the live progress display of a real run on the embedded model.

    .venv/bin/python docs/make_progress_svg.py
"""

import asyncio
import io
from pathlib import Path

from rich.console import Console

from delegate.apps.general import run_general
from delegate.observe.progress_tree import LiveProgress, summary_table

OBJECTIVE = "Create a short guide about Python decorators"


def main() -> None:
    live = LiveProgress(Console(width=110, force_terminal=True, file=io.StringIO()))
    result = asyncio.run(run_general(OBJECTIVE, subscribers=[live]))
    console = Console(record=True, width=110, force_terminal=True, file=io.StringIO())
    console.print(live)  # the tree as the run left it, then the summary
    console.print(summary_table(result))
    out = Path(__file__).with_name("progress.svg")
    console.save_svg(str(out), title=f'delegate run --workflow general "{OBJECTIVE}"')
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
