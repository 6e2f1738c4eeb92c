"""Audit records round-trip through JSON and refuse edited or malformed files with one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from privaudit.audit.planted import PLANTED_BUGS_CONSENT, PLANTED_BUGS_VARIABLE, PlantedBug
from privaudit.errors import InputError
from privaudit.records.audit import read_audit_record, write_audit_record
from tests.audit.blobs import Blobs, dpsgd_audit, two_blobs


@pytest.fixture(scope="module")
def blobs() -> Blobs:
    return two_blobs()


@pytest.fixture
def allow_bugs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLANTED_BUGS_VARIABLE, PLANTED_BUGS_CONSENT)


@pytest.mark.usefixtures("allow_bugs")
def test_record_round_trips_through_json(blobs: Blobs, tmp_path: Path) -> None:
    for record in (dpsgd_audit(blobs), dpsgd_audit(blobs, planted_bug=PlantedBug.SAMPLING_X4)):
        path = tmp_path / "audit.json"
        write_audit_record(record, path)
        assert read_audit_record(path) == record
        json.loads(path.read_text(encoding="utf-8"))  # plain JSON


def _written(blobs: Blobs, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "audit.json"
    write_audit_record(dpsgd_audit(blobs), path)
    return path, json.loads(path.read_text(encoding="utf-8"))


def _one_line_error(path: Path, match: str) -> None:
    with pytest.raises(InputError, match=match) as error:
        read_audit_record(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_an_edited_verdict_is_refused(blobs: Blobs, tmp_path: Path) -> None:
    path, data = _written(blobs, tmp_path)
    data["epsilon_lower_bound"] = data["epsilon_claimed"] + 1  # still says "consistent"
    path.write_text(json.dumps(data), encoding="utf-8")
    _one_line_error(path, "verdict")


def test_bad_record_files_are_one_line_errors(blobs: Blobs, tmp_path: Path) -> None:
    path, data = _written(blobs, tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"kind": "audit"', '"kind": "audit", "kind": "audit"'))
    _one_line_error(path, "twice")
    path.write_text(text.replace('"delta": 1e-05', '"delta": NaN'))
    _one_line_error(path, "NaN")
    path.write_text(json.dumps({**data, "extra": 1}), encoding="utf-8")
    _one_line_error(path, "unknown field")
    path.write_text(json.dumps({**data, "mechanism": {"type": "nope"}}), encoding="utf-8")
    _one_line_error(path, "mechanism")
    path.write_text("[]", encoding="utf-8")
    _one_line_error(path, "JSON object")
    path.write_bytes(b"\xff\xfe")
    _one_line_error(path, "cannot read")
    _one_line_error(tmp_path / "missing.json", "cannot read")
