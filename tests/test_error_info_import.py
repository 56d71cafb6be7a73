"""``delegate.errors`` and ``delegate.error_info`` import each other's names: either may be
imported first (the package's ``__init__`` bypassed), and both spellings give the same objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

CODE = """
import importlib, sys, types
package = types.ModuleType("delegate")
package.__path__ = [sys.argv[2]]
sys.modules["delegate"] = package
importlib.import_module("delegate." + sys.argv[1])
from delegate import error_info, errors
from delegate.errors import ErrorInfo, describe, is_transient
assert (ErrorInfo, describe, is_transient) == (
    error_info.ErrorInfo, error_info.describe, error_info.is_transient)
info = ErrorInfo.of(errors.RateLimitError("slow down", retry_after=2))
assert info.transient and isinstance(info.exception(), errors.RateLimitError)
print("ok")
"""


@pytest.mark.parametrize("first", ["error_info", "errors"])
def test_either_module_may_be_imported_first(first):
    out = subprocess.run([sys.executable, "-c", CODE, first, str(SRC / "delegate")],
                         capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "ok"), out.stderr


def test_an_unknown_name_is_still_an_attribute_error():
    import delegate.errors

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        delegate.errors.nope  # noqa: B018
