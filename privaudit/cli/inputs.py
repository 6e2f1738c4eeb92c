"""What the user typed, checked before any work: numbers, lists, ``@FILE`` arguments, report
formats and output folders; and the library's argument errors renamed to the options typed."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from privaudit.errors import ARGUMENT, InputError
from privaudit.jsontext import load_json

ListOption = list[str] | None
"""A repeatable option whose values may also be comma-separated (``--epochs 1,2 --epochs 5``)."""


REPORT_FORMATS = ("html", "pdf")


def _typed_option(error: InputError) -> InputError | None:
    """``<argument>: batch_size.x`` -> ``--batch-size: batch_size.x``: a library argument is
    set by the option of the same name."""
    if not error.field:
        return None
    name = re.split(r"[.\[:]", error.field, maxsplit=1)[0]
    return InputError(f"--{name.replace('_', '-')}", error.field, error.problem)


@contextmanager
def options_named(
    rename: Callable[[InputError], InputError | None] = _typed_option,
) -> Iterator[None]:
    """The library names its own arguments (``<argument>: epochs``); re-raise its input errors
    naming the option the user typed (``--epochs``) instead. ``rename`` gives that error, or
    ``None`` where the library's own words must stand."""
    try:
        yield
    except InputError as error:
        renamed = rename(error) if error.source == ARGUMENT else None
        if renamed is None:
            raise
        raise renamed from None


def check_positive(option: str, value: float) -> None:
    if not (0 < value < math.inf):
        raise InputError(option, None, f"must be a finite number > 0; found {value!r}")


def check_delta(delta: float) -> None:
    if not 0 < delta < 1:
        raise InputError("--delta", None, f"must be in (0, 1); found {delta!r}")


def read_argument(value: str, option: str) -> tuple[str, str]:
    """The text of ``value``, or of the file it names as ``@FILE``, and its source for errors."""
    if not value.startswith("@"):
        return value, option
    path = Path(value[1:])
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(str(path), None, f"cannot read {option} file: {reason(error)}") from None


def json_object(text: str, source: str) -> dict[str, Any]:
    data = load_json(text, source)
    if not isinstance(data, dict):
        raise InputError(source, None, f"expected a JSON object; found {type(data).__name__}")
    return data


def reason(error: BaseException) -> str:
    """What went wrong with a file, without Python's ``[Errno 2]`` decoration."""
    return getattr(error, "strerror", None) or str(error)


def split_list(values: ListOption, option: str) -> list[str]:
    items: list[str] = []
    for value in values or []:
        for part in value.split(","):
            if not part.strip():
                raise InputError(option, None, f"expected a comma-separated list; found {value!r}")
            items.append(part.strip())
    return items


def whole_numbers(values: ListOption, option: str) -> list[int] | None:
    """The whole numbers >= 1 of a list option; ``None`` if it was not given."""
    numbers = []
    for item in split_list(values, option):
        try:
            number = int(item)
        except ValueError:
            number = 0
        if number < 1:
            raise InputError(option, None, f"expected a whole number >= 1; found {item!r}")
        numbers.append(number)
    return numbers or None


def positive_numbers(values: ListOption, option: str) -> list[float] | None:
    """The finite numbers > 0 of a list option; ``None`` if it was not given."""
    numbers = []
    for item in split_list(values, option):
        try:
            number = float(item)
        except ValueError:
            number = math.nan
        if not (0 < number < math.inf):
            raise InputError(option, None, f"expected a finite number > 0; found {item!r}")
        numbers.append(number)
    return numbers or None


def report_formats(text: str) -> list[str]:
    """``--formats html,pdf``: the chosen report formats, in order, each once."""
    chosen = []
    for part in text.split(","):
        name = part.strip().lower()
        if name not in REPORT_FORMATS:
            raise InputError("--formats", None, f"expected html and/or pdf; found {part!r}")
        if name not in chosen:
            chosen.append(name)
    return chosen


def make_folder(folder: Path) -> None:
    """Create ``folder`` unless it exists. Its parent must exist: a mistyped path is refused
    rather than built."""
    if not folder.exists():
        if not folder.parent.exists():
            raise InputError(str(folder), None, f"folder {folder.parent} does not exist")
        folder.mkdir()


def make_parent(path: Path) -> None:
    """Create the folder the file ``path`` goes in unless it exists, one level at most."""
    folder = path.parent
    if not folder.exists():
        if not folder.parent.exists():
            raise InputError(str(path), None, f"folder {folder} does not exist")
        folder.mkdir()
