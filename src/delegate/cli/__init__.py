"""The command line: ``delegate`` and its subcommands, a thin shell over the library."""

from .commands import main

__all__ = ["main"]
