"""All-or-nothing writes: a file is either the old one or the new one, never half of either."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from privaudit.errors import InputError
from privaudit.files import atomic_write, create_new


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_atomic_write_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_bytes(b"old")

    atomic_write(target, b"new")

    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_atomic_write_gives_the_permissions_the_umask_allows(tmp_path: Path) -> None:
    target = tmp_path / "report.json"

    atomic_write(target, b"data")

    assert _mode(target) == 0o666 & ~_umask()


def test_atomic_write_into_a_missing_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        atomic_write(tmp_path / "missing" / "report.json", b"data")


def test_atomic_write_over_a_folder_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()

    with pytest.raises(InputError, match="is a folder"):
        atomic_write(tmp_path / "folder", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_create_new_sets_the_mode_asked_for(tmp_path: Path) -> None:
    key = tmp_path / "seal.key"

    create_new(key, b"secret", mode=0o600)

    assert key.read_bytes() == b"secret"
    assert _mode(key) == 0o600 & ~_umask()


def test_create_new_never_overwrites_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    key = tmp_path / "seal.key"
    key.write_bytes(b"the original")

    with pytest.raises(InputError, match="already exists"):
        create_new(key, b"another", mode=0o600)
    assert key.read_bytes() == b"the original"
    assert [p.name for p in tmp_path.iterdir()] == ["seal.key"]
