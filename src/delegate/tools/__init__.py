"""Toolsets a worker can use beyond the plain tools of :mod:`delegate.core.tools`."""
