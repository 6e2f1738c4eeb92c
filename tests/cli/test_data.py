"""``privaudit data fetch``: a destination is checked before any download, and only listed data
sets are known (no test downloads anything)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import cli


def test_data_fetch_refuses_a_destination_whose_parent_is_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = cli(capsys, "data", "fetch", "mnist", "--dest", tmp_path / "a" / "b")

    assert result.code == 2
    assert "does not exist" in result.err
    assert not (tmp_path / "a").exists()


def test_data_fetch_only_knows_listed_data_sets(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "data", "fetch", "cifar10")

    assert result.code == 2
    assert "mnist" in result.err
