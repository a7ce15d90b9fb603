"""seeds_verify.files.atomic_write_bytes: ordinary permissions, old-or-new content, no debris."""

from __future__ import annotations

import os
import stat

import pytest

from seeds_verify.files import atomic_write_bytes

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.fixture
def umask():
    """Set the process umask for one test; the previous one is restored afterwards."""
    previous = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_gets_the_mode_of_an_ordinary_open(tmp_path, umask, mask, expected):
    umask(mask)
    target = tmp_path / "results.json"
    atomic_write_bytes(target, b'{"a": 1}')
    assert target.read_bytes() == b'{"a": 1}'
    assert mode(target) == expected
    # The same as open() gives a new file under this umask.
    plain = tmp_path / "plain.json"
    with open(plain, "wb") as fh:
        fh.write(b"x")
    assert mode(target) == mode(plain)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.json", "results.json"]


def test_replacing_a_file_resets_its_mode_and_content(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "page.png"
    target.write_bytes(b"old")
    os.chmod(target, 0o600)
    atomic_write_bytes(str(target), bytearray(b"new"))
    assert target.read_bytes() == b"new" and mode(target) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["page.png"]


def test_data_that_is_not_bytes_leaves_the_old_file(tmp_path):
    target = tmp_path / "results.json"
    target.write_bytes(b"previous")
    with pytest.raises(TypeError, match="data"):
        atomic_write_bytes(target, "text, not bytes")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


@pytest.mark.parametrize("where", ["write", "replace"])
def test_failure_half_way_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, where):
    target = tmp_path / "verification.pdf"
    target.write_bytes(b"previous report")

    def broken(*args, **kwargs):
        raise OSError(f"disk trouble during {where}")

    monkeypatch.setattr(os, "fsync" if where == "write" else "replace", broken)
    with pytest.raises(OSError, match="disk trouble"):
        atomic_write_bytes(target, b"new report" * 1000)
    monkeypatch.undo()
    assert target.read_bytes() == b"previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["verification.pdf"]


def test_interrupt_leaves_no_temporary(tmp_path, monkeypatch):
    """KeyboardInterrupt (Ctrl-C during a long study) cleans up like any exception."""
    target = tmp_path / "results.json"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"{}")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_an_error_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "missing" / "results.json", b"{}")
    assert list(tmp_path.iterdir()) == []


def test_plots_and_the_convergence_cli_use_the_shared_function():
    from seeds_verify.convergence import plots

    assert plots.atomic_write_bytes is atomic_write_bytes
