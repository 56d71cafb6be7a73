"""The package's layers, enforced: every import in src/ is parsed and checked against the rules.

The rules (the README's Layout section draws the tree):

1. ``errors`` (with ``error_info``, errors as data) imports nothing else from delegate;
   ``llm/`` imports only ``errors`` and itself.
2. ``core/`` imports ``errors``, ``llm.base``, itself, the standard library and pydantic: never
   ``limits``, ``durable``, ``observe``, ``backends``, ``tools``, ``apps``, ``cli``, ``server``,
   the runner, an SDK, rich or SQLAlchemy.
3. ``limits``, ``durable``, ``observe``, ``backends`` and ``tools`` import ``core``, ``llm`` and
   ``errors`` (and themselves), not each other.
4. ``runner.py`` and ``runtime.py`` compose: they may import every layer but the interfaces and
   the apps; model strings are resolved there (``core`` cannot reach ``llm.registry``).
5. An app (a folder or module of ``apps/``) imports public modules (no ``_private`` module of
   another package) and ``apps/_common``; apps never import each other, ``cli`` or ``server``.
   ``apps/workflows.py`` (the index of the apps) and ``apps/evals/`` (evaluations across them)
   may import the apps; nothing in an app imports them.
6. ``cli/`` and ``server/`` may import anything below them; nothing imports them (but
   ``__main__``, and ``cli/serve.py``, the command that starts the server); no module imports
   the package root.
7. The top-level helpers (``files``, ``run_requests``, ``client`` and its ``_client_wire``)
   import only ``errors`` and each other: the apps, the CLI and the server lean on them, so
   they reach for no layer.

An import under ``if TYPE_CHECKING:`` runs only for the type checker and is not checked.
A violation names its file, line and rule.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "delegate"

SERVICE_LAYERS = ("limits", "durable", "observe", "backends", "tools")
INTERFACES = ("cli", "server")
COMPOSERS = ("delegate.runner", "delegate.runtime")
HELPERS = ("files", "run_requests", "client", "_client_wire")
APPS_FRONT = ("delegate.apps.workflows", "delegate.apps.evals")
#: Third-party packages the core may use.
CORE_THIRD_PARTY = {"pydantic", "pydantic_core", "typing_extensions", "annotated_types"}
#: Optional dependencies (the extras): ``import delegate`` must not import any of them.
OPTIONAL = ("sqlalchemy", "alembic", "psycopg", "opentelemetry", "rich", "openai", "anthropic",
            "llama_cpp", "matplotlib", "numpy", "pandas", "ray", "fastapi", "mcp")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports, dotted (a module, or a module's attribute)
    line: int
    path: str


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(source: str, module: str, is_package: bool, path: str = "") -> list[Import]:
    """Every import in ``source`` (a module's text), resolved to absolute dotted names; an
    ``from X import name`` gives ``X.name`` (a submodule or an attribute of X)."""
    tree = ast.parse(source)
    skip = _type_checking_lines(tree)
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [Import(module, a.name, node.lineno, path) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                    if node.level else node.module or "")
            found += [Import(module, f"{base}.{a.name}" if a.name != "*" else base,
                             node.lineno, path) for a in node.names]
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _layer(name: str) -> str:
    """The layer of a delegate module: errors, llm, core, limits, ..., apps, cli, server,
    runner, runtime, root, main."""
    parts = name.split(".")
    if len(parts) == 1:
        return "root"
    return {"__main__": "main", "_version": "version",
            "error_info": "errors"}.get(parts[1], parts[1])


def _app(name: str) -> str | None:
    """The app a module of apps/ belongs to (``recommend``, ``general``), ``_common``, the
    front (``workflows``, ``evals``) or None outside apps."""
    parts = name.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "apps" else None


def _third_party(target: str) -> str | None:
    top = target.split(".")[0]
    if top == "delegate" or top in sys.stdlib_module_names or top == "__future__":
        return None
    return top


def rule_violations(imp: Import) -> list[str]:
    """What is wrong with one import, as messages naming the rule (empty when it is fine)."""
    src, dst = imp.module, imp.target
    where = f"{imp.path or src}:{imp.line}: {src} imports {dst}"
    own = _layer(src)
    third = _third_party(dst)
    if third is not None:
        if own == "core" and third not in CORE_THIRD_PARTY:
            return [f"{where} (rule 2: core uses the standard library and pydantic only)"]
        return []
    if not _under(dst, "delegate"):
        return []
    if dst == "delegate" or (dst.count(".") == 1 and not _is_module(dst)):
        if own != "main":
            return [f"{where} (rule 6: no module imports the package root)"]
        return []
    to = _layer(dst)
    problems: list[str] = []
    serve = imp.module == "delegate.cli.serve" and to == "server"  # the command that starts it
    if to in INTERFACES and own != to and own != "main" and not serve:
        problems.append(f"{where} (rule 6: nothing imports {to}/)")
    if own == "errors" or own == "version":
        if to != own:
            problems.append(f"{where} (rule 1: {own} imports nothing from delegate)")
    elif own == "llm":
        if to not in ("llm", "errors", "version"):
            problems.append(f"{where} (rule 1: llm/ imports only errors)")
    elif own == "core":
        if not (to in ("core", "errors", "version") or _under(dst, "delegate.llm.base")):
            problems.append(f"{where} (rule 2: core imports errors, llm.base and itself)")
    elif own in SERVICE_LAYERS:
        if to not in (own, "core", "llm", "errors", "version"):
            problems.append(f"{where} (rule 3: {own}/ imports core, llm and errors, "
                            "not the other layers)")
    elif own in HELPERS:
        if to not in (*HELPERS, "errors", "version"):
            problems.append(f"{where} (rule 7: the top-level helpers import only errors)")
    elif src in COMPOSERS:
        if to in ("apps", *INTERFACES):
            problems.append(f"{where} (rule 4: the composition root does not import {to})")
    elif own == "apps":
        app, other = _app(src), _app(dst)
        front = any(_under(src, f) for f in APPS_FRONT)
        if to == "apps" and other != app and other != "_common" and not front:
            problems.append(f"{where} (rule 5: apps never import each other)")
        if to == "apps" and app == "_common" and other != "_common":
            problems.append(f"{where} (rule 5: apps/_common imports no app)")
        if to == "apps" and any(_under(dst, f) for f in APPS_FRONT) and not front:
            problems.append(f"{where} (rule 5: an app does not import the apps' index)")
        if to != "apps" and any(p.startswith("_") and not p.startswith("__")
                                for p in dst.split(".")[1:-1]):
            problems.append(f"{where} (rule 5: apps import public modules only)")
    return problems


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def all_imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue  # Alembic's scripts, run by Alembic
        name = module_name(path)
        found += imports_of(path.read_text("utf-8"), name, path.name == "__init__.py",
                            str(path.relative_to(SRC.parent)))
    return found


def test_every_import_in_src_keeps_the_layers():
    problems = [p for imp in all_imports() if imp.module != "delegate"
                for p in rule_violations(imp)]
    assert problems == [], "imports that break the layers:\n" + "\n".join(problems)


BAD = '''
from typing import TYPE_CHECKING
import rich
from ..limits.budget import Budget
from ..llm.registry import get_model
from .. import __version__
from ..cli import main
if TYPE_CHECKING:
    from ..durable.journal import Journal
'''


def test_a_deliberately_wrong_import_fails_with_its_line_and_rule():
    problems = [p for imp in imports_of(BAD, "delegate.core.fake", False, "core/fake.py")
                for p in rule_violations(imp)]
    assert problems == [
        "core/fake.py:3: delegate.core.fake imports rich (rule 2: core uses the standard "
        "library and pydantic only)",
        "core/fake.py:4: delegate.core.fake imports delegate.limits.budget.Budget (rule 2: "
        "core imports errors, llm.base and itself)",
        "core/fake.py:5: delegate.core.fake imports delegate.llm.registry.get_model (rule 2: "
        "core imports errors, llm.base and itself)",
        "core/fake.py:6: delegate.core.fake imports delegate.__version__ (rule 6: no module "
        "imports the package root)",
        "core/fake.py:7: delegate.core.fake imports delegate.cli.main (rule 6: nothing "
        "imports cli/)",
        "core/fake.py:7: delegate.core.fake imports delegate.cli.main (rule 2: core imports "
        "errors, llm.base and itself)",
    ]  # the TYPE_CHECKING import (line 9) is for the type checker only


@pytest.mark.parametrize(("module", "source", "rule"), [
    ("delegate.errors", "from .core.plan import Plan", "rule 1"),
    ("delegate.error_info", "from .core.plan import Plan", "rule 1"),
    ("delegate.llm.openai_compat", "from ..core.events import Event", "rule 1"),
    ("delegate.limits.metering", "from ..durable.journal import request_key", "rule 3"),
    ("delegate.observe.otel", "from ..limits.budget import Budget", "rule 3"),
    ("delegate.runner", "from .apps.general import run_general", "rule 4"),
    ("delegate.apps.blog.workflow", "from ..recommend.catalog import Catalog", "rule 5"),
    ("delegate.apps._common.staged", "from ..blog.outline import Outline", "rule 5"),
    ("delegate.apps.report.workflow", "from ...core._execution import Execution", "rule 5"),
    ("delegate.apps.general", "from .workflows import WORKFLOWS", "rule 5"),
    ("delegate.apps.general", "from ..cli.commands import main", "rule 6"),
    ("delegate.durable.journal", "import delegate", "rule 6"),
    ("delegate.files", "from .runner import run", "rule 7"),
    ("delegate.run_requests", "from .apps.workflows import WORKFLOWS", "rule 7"),
    ("delegate.client", "from .core.events import Event", "rule 7"),
])
def test_each_rule_catches_its_own_kind_of_import(module, source, rule):
    problems = [p for imp in imports_of(source, module, False) for p in rule_violations(imp)]
    assert any(f"({rule}:" in p for p in problems), problems


@pytest.mark.parametrize(("module", "source"), [
    ("delegate.errors", "from .error_info import ErrorInfo"),
    ("delegate.error_info", "from .errors import RunError"),
    ("delegate.core.scheduler", "from ..llm.base import Model\nfrom .plan import Plan"),
    ("delegate.limits.metering", "from ..core.events import ModelCalled"),
    ("delegate.apps.blog.workflow", "from .._common.prose import whole_sentences\n"
                                    "from ...runner import run\nfrom .outline import Outline"),
    ("delegate.apps.workflows", "from .blog import run_blog"),
    ("delegate.cli.commands", "from ..apps.workflows import run_workflow\nfrom .runs import x"),
    ("delegate.__main__", "from .cli import main"),
    ("delegate.cli.serve", "from ..server import create_app"),
    ("delegate.client", "from ._client_wire import sse_messages\nfrom .errors import UsageError"),
    ("delegate.apps.analysis.data", "from ...files import read_regular"),
])
def test_what_the_layers_allow_passes(module, source):
    assert [p for imp in imports_of(source, module, False) for p in rule_violations(imp)] == []


def test_importing_delegate_imports_no_optional_dependency():
    code = ("import sys, delegate; print(' '.join(sorted({m.split('.')[0] for m in sys.modules} "
            f"& set({list(OPTIONAL)!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=SRC.parent)
    assert out.stdout.strip() == ""
