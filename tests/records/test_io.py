"""Any record model goes to disk as indented JSON and comes back equal, or as one error line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from privaudit.errors import InputError
from privaudit.records.io import read_json_record, write_json_record


class _Note(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    count: int = 0


def test_a_record_round_trips_as_indented_json(tmp_path: Path) -> None:
    path = tmp_path / "note.json"
    write_json_record(_Note(text="é", count=2), path)
    assert path.read_text(encoding="utf-8") == '{\n  "text": "\\u00e9",\n  "count": 2\n}\n'
    assert read_json_record(path, _Note, "the note") == _Note(text="é", count=2)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff", "cannot read the note"),
        (b'{"text": "a", "text": "b"}', "twice"),
        (b'"text"', "expected a JSON object; found str"),
        (b'{"text": "a", "extra": 1}', "extra"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "note.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        read_json_record(path, _Note, "the note")
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
