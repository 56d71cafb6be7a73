"""``delegate run`` picks the analysis workflow only for a request that names a ``.csv`` file,
analyses that file with the request as its question, and refuses a missing or bad file in one
line with exit 2 before a run is stored or a model is called."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("pandas")
pytest.importorskip("scipy")

from delegate.apps.analysis import EXAMPLE_CSV
from delegate.cli.commands import main
from delegate.durable.store import open_store
from delegate.errors import ModelRequestError
from delegate.llm import ScriptedModel


@pytest.fixture
def model(monkeypatch):
    """A scripted interpreter in place of whatever ``--model`` names."""
    scripted = ScriptedModel(function=lambda call: "Revenue follows units.")
    monkeypatch.setattr("delegate.runtime.get_model", lambda spec=None: scripted)
    return scripted


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err


def test_a_request_naming_a_csv_analyses_it_with_the_request_as_its_question(
        tmp_path, monkeypatch, model, capsys):
    shutil.copy(EXAMPLE_CSV, tmp_path / "sales.csv")
    monkeypatch.chdir(tmp_path)
    request = "Analyze sales.csv and find what drives revenue"
    assert main(["run", request]) == 0
    out, err = capsys.readouterr()
    assert "workflow analysis (the request names a CSV file)" in err
    assert "# Analysis of sales.csv" in out
    [call] = model.calls
    assert f"Answer the question: {request}" in call.last_user
    [run] = open_store().list_runs()
    assert run.status == "succeeded" and run.request["objective"] == request


@pytest.mark.parametrize(("request_", "expected"), [
    ("Analyze missing.csv and find what drives revenue", "no CSV file at missing.csv"),
    ("Summarise empty.csv", "the CSV file empty.csv is empty"),
])
def test_a_missing_or_bad_csv_is_one_line_exit_2_and_no_run(tmp_path, monkeypatch, model,
                                                            capsys, request_, expected):
    (tmp_path / "empty.csv").write_text("")
    monkeypatch.chdir(tmp_path)
    assert main(["run", request_]) == 2
    out, err = capsys.readouterr()
    assert expected in _one_line(err) and "resume" not in err
    assert out == "" and model.calls == []
    assert open_store().list_runs() == []


def test_a_request_to_analyse_without_a_file_goes_to_the_general_workflow(monkeypatch,
                                                                         capsys):
    refused = ModelRequestError("400 refused", provider="scripted", model="m")
    scripted = ScriptedModel(function=lambda call: refused)
    monkeypatch.setattr("delegate.runtime.get_model", lambda spec=None: scripted)
    assert main(["run", "Analyze the causes of the French revolution"]) == 1
    err = capsys.readouterr().err
    assert "delegate: workflow general (no workflow's words in the request)" in err
    assert "no such file" not in err and "CSV" not in err
    assert [r.kind for r in open_store().list_runs()] == ["general"]


def test_workflow_analysis_on_words_is_one_line_and_no_run(model, capsys):
    assert main(["run", "--workflow", "analysis", "Analyze the French revolution"]) == 2
    err = capsys.readouterr().err
    assert "no CSV file at Analyze the French revolution" in _one_line(err)
    assert model.calls == [] and open_store().list_runs() == []
