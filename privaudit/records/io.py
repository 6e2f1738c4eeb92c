"""Record files on disk: a pydantic record written as JSON atomically, and read back strictly.

Reading refuses duplicate keys, NaN and infinity (:func:`~privaudit.jsontext.load_json`),
anything but a JSON object, and whatever the record's model refuses; every problem is one
:class:`~privaudit.errors.InputError` line naming the file. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from privaudit.errors import InputError, from_validation_error
from privaudit.files import atomic_write
from privaudit.jsontext import load_json

__all__ = ["read_json_record", "write_json_record"]

_Record = TypeVar("_Record", bound=BaseModel)


def write_json_record(record: BaseModel, path: Path) -> None:
    """Write ``record`` as indented JSON atomically (temporary file + rename)."""
    data = json.dumps(record.model_dump(mode="json"), indent=2, allow_nan=False) + "\n"
    atomic_write(path, data.encode("utf-8"))


def read_json_record(path: Path, model: type[_Record], what: str) -> _Record:
    """Read the ``model`` record at ``path``; ``what`` names it in errors ("the run record")."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(str(path), None, f"cannot read {what}: {error}") from None
    data = load_json(text, str(path))
    if not isinstance(data, dict):
        raise InputError(str(path), None, f"expected a JSON object; found {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise from_validation_error(str(path), error) from None
