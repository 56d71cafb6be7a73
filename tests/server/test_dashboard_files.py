"""What the dashboard ships: plain HTML, one ES module and one stylesheet inside the package,
no build step, nothing loaded from another host."""

from __future__ import annotations

import re
from importlib.resources import files

STATIC = files("delegate.server") / "static"


def test_the_dashboard_is_one_html_page_one_es_module_and_one_stylesheet():
    names = sorted(p.name for p in STATIC.iterdir() if not p.name.startswith("."))
    assert names == ["app.css", "app.js", "index.html"]
    page = (STATIC / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert len(scripts) == 1
    assert 'type="module"' in scripts[0] and 'src="/static/app.js"' in scripts[0]
    module = (STATIC / "app.js").read_text()
    assert not re.search(r"^\s*import\b|\bimport\(", module, re.MULTILINE)  # nothing else


def test_nothing_is_loaded_from_another_host():
    for name in ("index.html", "app.js", "app.css"):
        text = (STATIC / name).read_text()
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), name
        assert not re.search(r"url\(\s*[\"']?(https?:)?//", text), name
        assert not re.search(r"fetch\(\s*[\"'`]https?:", text), name
