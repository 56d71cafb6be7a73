"""The HTML run report and its SVG timeline."""
