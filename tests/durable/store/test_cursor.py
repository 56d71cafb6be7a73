"""The cursor that pages ``list_runs``: opaque, URL-safe, and refused with one line when it is
not one (the stores' use of it is in :mod:`.reads`)."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from delegate.durable.store.base import decode_cursor, encode_cursor
from delegate.errors import UsageError

from .contract import run_record
from .reads import T0


def test_a_cursor_is_url_safe_and_round_trips():
    run = run_record("run/ü+=?&", created_at=T0.astimezone(UTC))
    cursor = encode_cursor(run)
    assert cursor.isascii() and not set(cursor) & set("+/=?&% \n")
    assert decode_cursor(cursor) == (T0, "run/ü+=?&")
    later = replace(run, run_id="abc", created_at=datetime(2030, 1, 2, tzinfo=UTC))
    assert decode_cursor(encode_cursor(later)) == (datetime(2030, 1, 2, tzinfo=UTC), "abc")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "", "!!!!", "a", "not a cursor at all", _b64("not json"), _b64("[1, 2]"), _b64('["x"]'),
    _b64('["2026-03-01T12:00:00", "run-naive"]'), _b64('["2026-03-01T12:00:00+00:00", ""]'),
    _b64('["2026-03-01T12:00:00+00:00", 7]'), _b64('{"a": 1, "b": 2}'),
    _b64('["2026-13-01T12:00:00+00:00", "run"]'), "\u00e9" * 8, "x" * 500])
def test_a_malformed_cursor_is_a_one_line_usage_error(cursor):
    with pytest.raises(UsageError, match="invalid cursor") as error:
        decode_cursor(cursor)
    assert "\n" not in str(error.value) and len(str(error.value)) < 200


def test_a_run_without_a_time_has_no_cursor():
    with pytest.raises(ValueError, match="run-untimed"):
        encode_cursor(run_record("run-untimed"))
