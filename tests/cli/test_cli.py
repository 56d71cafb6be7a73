"""The CLI in process (fast paths) and as a real process on the embedded model."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from delegate.cli.commands import main

ROOT = Path(__file__).resolve().parents[2]


def test_models_lists_every_provider(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("local", "openai", "groq", "ollama", "anthropic"):
        assert f"\n{name}:" in out
    assert "OPENAI_API_KEY" in out and "GROQ_API_KEY" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", ""], "objective is empty"),
        (["run", "x" * 50_000], "limit is 20,000"),
        (["run", "hi", "--max-concurrency", "0"], "at least 1"),
        (["run", "hi", "--model", "nosuch:thing"], "unknown model provider 'nosuch'"),
        (["run", "hi", "--model", "openai"], "names no model"),
        (["run", "hi", "--timeout", "-1"], "positive"),
        (["run", "a blog post about owls", "--fail-fast"],
         "the blog workflow does not take: --fail-fast"),
        (["run", "a project roadmap for a bakery", "--strategy", "hybrid", "--fail-fast"],
         "the project workflow does not take: --strategy"),
        (["run", "explain owls", "--input", "README.md"],
         "the general workflow does not take: --input"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_api_key_is_one_clear_line(capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["run", "hi", "--model", "openai:gpt-4o-mini"]) == 2
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY" in err and err.count("\n") == 1


@pytest.mark.embedded
def test_run_json_finishes_on_the_embedded_model(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("DELEGATE_MODEL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "delegate", "run", "--workflow", "general",
         "Create a short guide about Python decorators", "--json",
         "--store", str(tmp_path / "fresh.db")],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert set(data) >= {"run_id", "plan", "outcomes", "text", "usage", "wall_seconds"}
    assert data["text"].strip()
    assert {o["status"] for o in data["outcomes"]} == {"succeeded"}
    ids = {t["id"] for t in data["plan"]["tasks"]}
    assert {o["task_id"] for o in data["outcomes"]} == ids
    for o in data["outcomes"]:
        assert set(o) >= {"task_id", "status", "attempts", "started_at", "finished_at", "error"}
    usage = data["usage"]
    # plan, each task, synthesis; the store is new, so a request answered from it is one
    # this run had already sent (two tasks asking the very same thing)
    assert usage["model_calls"] + usage["cache_hits"] >= len(ids) + 2
    assert usage["model_calls"] >= 3
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert "Traceback" not in proc.stderr


@pytest.mark.embedded
def test_ctrl_c_cancels_running_work_and_exits_130():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "delegate", "run", "Write a guide to knots",
         "--workflow", "general", "--max-concurrency", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # as in a terminal: a shell's background job starts with Ctrl-C ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    for line in proc.stderr:  # wait until a worker is running
        seen.append(line)
        if " started" in line and "run " not in line:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130
    assert "cancelled" in rest and "Traceback" not in rest
    assert "run cancelled" in rest  # the final summary still came out


@pytest.mark.embedded
def test_recommend_json_on_the_embedded_model():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("DELEGATE_MODEL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "delegate", "recommend", "--json", "--quiet",
         "I need lightweight hiking gear for a summer trek in Colorado."],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert set(data) >= {"run_id", "products", "text", "plan", "outcomes", "usage",
                         "wall_seconds"}
    from delegate.apps.recommend.catalog import default_catalog
    from delegate.apps.recommend.grounding import grounding

    catalog = default_catalog()
    assert data["products"]
    for product in data["products"]:
        assert catalog.get(product["id"]).price == product["price"]
        assert product["name"] in data["text"]
    grounded, named = grounding(data["text"], catalog)
    assert grounded == named >= len(data["products"])


@pytest.mark.embedded
def test_every_example_finishes_on_the_embedded_model_and_writes_its_outputs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("DELEGATE_MODEL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "delegate", "examples", "--example", "all", "--out",
         str(tmp_path), "--quiet"],
        capture_output=True, text=True, env=env, timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for name in ("blog", "report", "analysis", "project"):
        markdown = (tmp_path / name / f"{name}.md").read_text(encoding="utf-8")
        summary = json.loads((tmp_path / name / f"{name}.json").read_text(encoding="utf-8"))
        assert markdown.strip() and summary["status"] == "succeeded"
        assert {o["status"] for o in summary["outcomes"]} == {"succeeded"}
        assert summary["usage"]["model_calls"] >= 1
        for artifact in summary["artifacts"]:  # every figure is written and referenced
            assert (tmp_path / name / artifact).stat().st_size > 0
            assert f"]({artifact})" in markdown
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert any(a.endswith(".png") for a in report["artifacts"])
    for name in ("blog", "report", "project"):
        assert_reads_well(name, (tmp_path / name / f"{name}.md").read_text(encoding="utf-8"))

    # the blog's sections depend only on the outline: at least two of them ran at once (a
    # section whose rewrite stood has the rewrite's times, and such a section was judged
    # again in round 2: those are left out)
    blog = json.loads((tmp_path / "blog" / "blog.json").read_text(encoding="utf-8"))
    rewritten = {r["task_id"] for r in blog["reviews"] if r["round"] > 1}
    sections = [t["id"] for t in blog["plan"]["tasks"]
                if t["depends_on"] == ["outline"] and t["id"] not in rewritten]
    spans = {o["task_id"]: (o["started_at"], o["finished_at"]) for o in blog["outcomes"]
             if o["task_id"] in sections}
    assert len(spans) >= 2
    assert any(spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]
               for a in spans for b in spans if a < b)


def assert_reads_well(name: str, markdown: str) -> None:
    """The content evaluation's deterministic checks on what an example wrote: no empty,
    repeated or title-equal heading; every section the model wrote non-empty, ending in a
    whole sentence, without repeated lines and with distinct 4-word phrases."""
    from delegate.apps._common import checks
    from delegate.apps.blog import workflow as blog
    from delegate.apps.project import workflow as project
    from delegate.apps.report import workflow as report

    objective = {"blog": blog.EXAMPLE_TOPIC, "report": report.EXAMPLE_TOPIC,
                 "project": project.EXAMPLE_DESCRIPTION}[name]
    title, _, sections = checks.split_sections(markdown)
    found = checks.heading_problems([s.heading for s in sections], title, objective)
    assert found.problems == (), (name, found.problems)
    computed = {"team", "work breakdown", "timeline"}  # tables computed from data
    for section in sections:
        if checks.normalise(section.heading) in computed:
            continue
        text = checks.prose(section.text)
        where = f"{name}: {section.heading}"
        assert not checks.is_empty(text), where
        assert not checks.is_cut_off(text), where
        assert checks.repeated_line_ratio(text) <= 0.05, where
        assert (checks.distinct_ngram_ratio(text) or 1.0) >= 0.8, where
