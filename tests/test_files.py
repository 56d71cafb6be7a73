"""The one reader of a file a user named (:func:`delegate.files.read_regular`): a regular file
within the cap is read; anything else is refused with a reason, before it is opened.

Nothing here can hang: the FIFO with no writer is read in a process of its own with a timeout,
and where the reader is made to open a FIFO, ``os.open`` refuses a blocking open instead of
making it.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from delegate.errors import UsageError
from delegate.files import FileRefused, read_regular

ROOT = Path(__file__).resolve().parents[1]


def _refused(path, max_bytes: int = 100) -> FileRefused:
    with pytest.raises(FileRefused) as info:
        read_regular(path, max_bytes=max_bytes)
    return info.value


def test_a_regular_file_within_the_cap_is_read_whole(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"x" * 100)
    os.symlink(tmp_path / "a.txt", tmp_path / "link")
    assert read_regular(tmp_path / "a.txt", max_bytes=100) == b"x" * 100
    assert read_regular(str(tmp_path / "link"), max_bytes=100) == b"x" * 100
    (tmp_path / "empty").write_bytes(b"")
    assert read_regular(tmp_path / "empty", max_bytes=0) == b""


def test_a_fifo_with_no_writer_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code = ("import sys\nfrom delegate.files import FileRefused, read_regular\n"
            "try:\n    read_regular(sys.argv[1], max_bytes=100)\n"
            "except FileRefused as exc:\n    print(exc.reason, exc, sep=': ')\n    sys.exit(2)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert (proc.returncode, proc.stderr) == (2, "")
    assert proc.stdout == (f"not_regular: {fifo} is not a regular file (a pipe, device or "
                           "socket); give a file\n")


def test_anything_but_a_regular_file_is_refused_before_it_is_opened(tmp_path, monkeypatch):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def open_(path, *args, **kwargs):
        raise AssertionError(f"{path} was opened")

    monkeypatch.setattr(os, "open", open_)
    assert [_refused(p).reason for p in (fifo, tmp_path)] == ["not_regular", "directory"]


def test_the_file_opened_is_checked_too_and_opened_without_blocking(tmp_path, monkeypatch):
    """The path passes ``stat`` as a regular file but a FIFO is what gets opened (it was
    swapped in between): the open must not wait for a writer, and ``fstat`` refuses it."""
    regular, fifo = tmp_path / "a.txt", tmp_path / "pipe"
    regular.write_bytes(b"x")
    os.mkfifo(fifo)
    real_stat, real_open = os.stat, os.open

    def stat(path, *args, **kwargs):
        return real_stat(regular if os.fspath(path) == str(fifo) else path, *args, **kwargs)

    def open_(path, flags, *args, **kwargs):
        if not flags & os.O_NONBLOCK:  # a blocking open of a FIFO with no writer never returns
            raise AssertionError(f"{path} opened without O_NONBLOCK")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "open", open_)
    refused = _refused(fifo)
    assert (refused.reason, refused.detail, refused.size) == ("not_regular", "", None)


def test_a_directory_is_refused(tmp_path):
    os.symlink(tmp_path, tmp_path / "link")
    for path in (tmp_path, tmp_path / "link"):
        refused = _refused(path)
        assert (refused.reason, refused.path, refused.detail) == ("directory", str(path), "")
        assert str(refused) == f"{path} is a directory; give a file"


def test_a_file_over_the_cap_is_refused_by_its_size_before_it_is_read(tmp_path, monkeypatch):
    (tmp_path / "big").write_bytes(b"x" * 101)
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    refused = _refused(tmp_path / "big", max_bytes=100)
    assert (refused.reason, refused.size, refused.max_bytes) == ("too_big", 101, 100)
    assert str(refused) == f"{tmp_path / 'big'} is over the limit of 100 bytes"
    assert opened == []


def test_a_file_found_over_the_cap_by_reading_is_refused_not_truncated(tmp_path, monkeypatch):
    """Its size said it fit (it grew after, or its size is not known ahead, as in /proc):
    what is read decides, and a file over the cap is refused rather than cut at the cap."""
    small, big = tmp_path / "small", tmp_path / "big"
    small.write_bytes(b"x" * 10)
    big.write_bytes(b"x" * 5000)
    real_stat, real_fstat = os.stat, os.fstat
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: real_stat(small, *a, **k)
                        if os.fspath(path) == str(big) else real_stat(path, *a, **k))
    monkeypatch.setattr(os, "fstat", lambda fd: real_stat(small))
    refused = _refused(big, max_bytes=100)
    assert (refused.reason, refused.size, refused.max_bytes) == ("too_big", None, 100)
    monkeypatch.setattr(os, "fstat", real_fstat)
    big.write_bytes(b"x" * 100)  # at the cap exactly: read whole
    assert read_regular(big, max_bytes=100) == b"x" * 100


def test_a_missing_file_is_refused_with_the_systems_words(tmp_path):
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    for path in (tmp_path / "nope.txt", tmp_path / "dangling"):
        refused = _refused(path)
        assert (refused.reason, refused.detail) == ("missing", "No such file or directory")
        assert str(refused) == f"no file at {path}"


@pytest.mark.parametrize(("name", "detail"), [
    ("a.txt/child", "Not a directory"),  # a file where a directory should be
    ("nul\x00byte", "embedded null byte"),
])
def test_a_path_that_cannot_be_read_is_refused_as_unreadable(tmp_path, name, detail):
    (tmp_path / "a.txt").write_bytes(b"x")
    path = os.path.join(tmp_path, name)
    refused = _refused(path)
    assert (refused.reason, refused.detail, refused.path) == ("unreadable", detail, path)
    assert str(refused) == f"cannot read {path}: {detail}"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root reads a file whatever its permissions")
def test_a_file_without_read_permission_is_refused_as_unreadable(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_bytes(b"x")
    path.chmod(0)
    refused = _refused(path)
    assert (refused.reason, refused.detail) == ("unreadable", "Permission denied")
    assert str(refused) == f"cannot read {path}: Permission denied"


def test_a_refusal_is_a_usage_error_that_survives_pickling(tmp_path):
    refused = _refused(tmp_path / "nope.txt", max_bytes=7)
    assert isinstance(refused, UsageError) and refused.reason == "missing"
    back = pickle.loads(pickle.dumps(refused))
    assert (type(back), str(back), back.reason, back.path, back.max_bytes, back.detail,
            back.size) == (FileRefused, str(refused), "missing", str(tmp_path / "nope.txt"),
                           7, "No such file or directory", None)
