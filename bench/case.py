"""One measurement in a fresh interpreter: ``python bench/case.py BENCH 'PARAMS-JSON' [OUT]``.

Imports the bench module ``BENCH`` (overhead, efficiency, makespan, embedded, end_to_end),
calls its ``measure(**params)`` and writes the record as JSON to the file ``OUT`` (a file,
since llama.cpp may write to the same standard output), or prints it when ``OUT`` is not
given. The bench module imports the system it measures only inside ``measure``, so nothing
else is loaded.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

BENCHES = ("overhead", "efficiency", "makespan", "embedded", "end_to_end")


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4) or argv[1] not in BENCHES:
        print(f"usage: python bench/case.py {{{','.join(BENCHES)}}} PARAMS-JSON [OUT]",
              file=sys.stderr)
        return 2
    record = json.dumps(importlib.import_module(argv[1]).measure(**json.loads(argv[2])))
    if len(argv) == 4:
        Path(argv[3]).write_text(record)
    else:
        print(record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
