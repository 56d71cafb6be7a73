"""The installed version of delegate (``0.0.0`` when run from a tree that is not installed)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("delegate")
except PackageNotFoundError:  # pragma: no cover - a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
