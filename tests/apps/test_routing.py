"""How a request picks its workflow: only a named ``.csv`` file makes an analysis, and an
analysis request is split into the file and the question it asks."""

from __future__ import annotations

import pytest

from delegate.apps.workflows import csv_request, pick_workflow


@pytest.mark.parametrize(("request_", "expected"), [
    ("Analyze the causes of the French revolution", "general"),
    ("Analyse this dataset for trends", "general"),
    ("An analysis of remote work", "general"),
    ("Write a report analysing the market", "report"),
    ("Analyze sales.csv and find what drives revenue", "analysis"),
    ("What drives revenue in data/sales.CSV?", "analysis"),
    ('Analyse "my sales.csv", please', "analysis"),
])
def test_only_a_named_csv_file_picks_the_analysis(request_, expected):
    assert pick_workflow(request_)[0] == expected


@pytest.mark.parametrize(("request_", "expected"), [
    ("Analyze sales.csv and find what drives revenue",
     ("sales.csv", "Analyze sales.csv and find what drives revenue")),
    ("What drives revenue in data/q1/sales.csv?",
     ("data/q1/sales.csv", "What drives revenue in sales.csv?")),
    ('Analyse "my sales.csv", which region sells most?',
     ("my sales.csv", "Analyse my sales.csv, which region sells most?")),
    ("analyse the file data/sales.csv.", ("data/sales.csv", "")),
    ("sales.csv", ("sales.csv", "")),
    ("/dev/zero", ("/dev/zero", "")),
    ("Analyze the French revolution", ("Analyze the French revolution", "")),
])
def test_a_request_is_split_into_its_csv_and_its_question(request_, expected):
    assert csv_request(request_) == expected


def test_a_file_named_as_the_whole_request_is_the_csv(tmp_path):
    path = tmp_path / "q1 sales.csv"
    path.write_text("a,b\n1,2\n")
    assert csv_request(f"  {path} ") == (str(path), "")
