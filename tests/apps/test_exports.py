"""The apps' modules export what they say they do, and names other code imports stay put.

A module split moves code into new modules and leaves the old one re-exporting what it listed;
these tests fail when a name in a module's ``__all__`` is missing, or when a name that the
benchmarks, the README or the command line import from a module is no longer there.
"""

import importlib
import pkgutil

import pytest

import delegate.apps

MODULES = sorted(m.name for m in pkgutil.walk_packages(delegate.apps.__path__, "delegate.apps."))

#: Names imported from a given module outside the apps (bench/, README.md, the CLI).
IMPORTED_ELSEWHERE = {
    "delegate.apps._common.checks": ["distinct_ngram_ratio", "is_cut_off", "is_empty",
                                     "repeated_line_ratio"],
    "delegate.apps.recommend": ["recommend"],
    "delegate.apps.recommend.catalog": ["CatalogError", "default_catalog", "load_catalog",
                                        "load_text", "tokenize"],
    "delegate.apps.recommend.grounding": ["grounding"],
    "delegate.apps.recommend.workflow": ["recommend"],
    "delegate.apps.recommend.eval": ["run_eval", "EvalCase", "EvalReport", "evaluate",
                                     "load_eval_set", "naive_prompt", "shop_catalog"],
    "delegate.apps.recommend.voice": ["BrandVoiceSynthesizer", "voice_problems", "activity",
                                      "customer_text", "need", "sentence_schema"],
    "delegate.apps.blog.workflow": ["run_blog", "blog_workers"],
    "delegate.apps.analysis.tools": ["DataError", "load_csv", "preprocess", "ColumnProfile",
                                     "LinearFit"],
    "delegate.apps.project.tools": ["WorkItem", "Resource", "validate_breakdown", "schedule"],
    "delegate.apps.project.workflow": ["copied_requirement", "ProjectPlan"],
    "delegate.apps.evals.content": ["run_content_eval", "ContentCase", "ContentRow",
                                    "score_output", "load_content_set"],
    "delegate.apps.evals.content_report": ["load_baseline", "BASELINE_MAX_BYTES"],
    "delegate.apps.workflows": ["WORKFLOWS", "csv_request", "pick_workflow", "run_workflow"],
}


def test_every_module_of_the_apps_is_found():
    assert "delegate.apps.recommend.eval_cases" in MODULES
    assert "delegate.apps._common.feedback" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_every_name_in_all_is_defined(name):
    module = importlib.import_module(name)
    missing = [n for n in getattr(module, "__all__", ()) if not hasattr(module, n)]
    assert missing == [], f"{name}.__all__ names what it does not define"


@pytest.mark.parametrize("name", sorted(IMPORTED_ELSEWHERE))
def test_names_imported_elsewhere_are_still_there(name):
    module = importlib.import_module(name)
    assert [n for n in IMPORTED_ELSEWHERE[name] if not hasattr(module, n)] == []
