"""``privaudit ledger copy SRC DST``: every entry of a verified ledger, byte for byte, into a new
or empty ledger; refused (nothing written) into one that holds entries or from a broken one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privaudit.ledger import append_entry, read_ledger
from tests.cli.helpers import cli, one_error_line


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.jsonl"
    for sigma in (2.0, 3.0, 4.0):
        append_entry(
            path,
            dataset="ds",
            mechanism={"type": "gaussian", "noise_multiplier": sigma},
            run="r",
            meta={"note": "é"},
        )
    return path


def test_a_copy_is_byte_identical_and_verifies(
    tmp_path: Path, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "copy.jsonl"

    result = cli(capsys, "ledger", "copy", source, target)

    assert result.code == 0, result.err
    assert target.read_bytes() == source.read_bytes()
    assert read_ledger(target).head == read_ledger(source).head
    assert "copied 3 entries" in result.out


def test_a_copy_of_a_copy_round_trips(
    tmp_path: Path, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    middle, back = tmp_path / "middle.jsonl", tmp_path / "back.jsonl"

    assert cli(capsys, "ledger", "copy", source, middle).code == 0
    assert cli(capsys, "ledger", "copy", middle, back).code == 0

    assert back.read_bytes() == source.read_bytes()


def test_a_copy_into_an_empty_file_is_allowed(
    tmp_path: Path, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "empty.jsonl"
    target.write_bytes(b"")

    result = cli(capsys, "ledger", "copy", source, target, "--format", "json")

    assert result.code == 0
    assert json.loads(result.out)["entries"] == 3
    assert target.read_bytes() == source.read_bytes()


def test_a_copy_into_a_ledger_with_entries_exits_2_and_leaves_it_unchanged(
    tmp_path: Path, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "target.jsonl"
    append_entry(target, dataset="other", mechanism={"type": "gaussian", "noise_multiplier": 5})
    before = target.read_bytes()

    result = cli(capsys, "ledger", "copy", source, target)

    assert result.code == 2
    assert "is not empty" in one_error_line(result)
    assert target.read_bytes() == before


def test_a_broken_source_exits_1_and_nothing_is_written(
    tmp_path: Path, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = source.read_bytes().splitlines(keepends=True)
    source.write_bytes(lines[0] + lines[2])  # the middle entry deleted
    target = tmp_path / "copy.jsonl"

    result = cli(capsys, "ledger", "copy", source, target)

    assert result.code == 1
    assert "line 2" in one_error_line(result)
    assert not target.exists()


def test_a_copy_onto_itself_exits_2_and_changes_nothing(
    source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = source.read_bytes()

    result = cli(capsys, "ledger", "copy", source, source)

    assert result.code == 2
    assert "is the source ledger" in one_error_line(result)
    assert source.read_bytes() == before
