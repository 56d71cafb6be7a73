"""The HTTP API and live dashboard over the run store (its place, for ``delegate serve``)."""
