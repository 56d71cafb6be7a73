"""Watching a run: progress lines, the live tree, OpenTelemetry and the HTML report."""
