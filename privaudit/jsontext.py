"""Strict JSON text → plain data, for every file and argument privaudit reads.

``json.loads`` keeps the last of repeated keys and accepts ``NaN`` and ``Infinity``; two readers
of one policy or ledger could then disagree about what it says, and a NaN could slip past a
comparison. Here both are errors, and every failure is one :class:`InputError` line.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from privaudit.errors import InputError


class DuplicateKeyError(ValueError):
    """A JSON object repeats a key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"expected unique keys; found {key!r} twice")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that refuses repeated keys."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return result


def reject_constant(name: str) -> NoReturn:
    """``parse_constant`` that refuses NaN, Infinity and -Infinity."""
    raise ValueError(f"expected a finite number; found {name}")


def load_json(text: str, source: str) -> Any:
    """Parse ``text``; raise :class:`InputError` naming ``source``, the line and the problem."""
    try:
        return json.loads(text, object_pairs_hook=unique_keys, parse_constant=reject_constant)
    except DuplicateKeyError as error:
        raise InputError(source, None, f"invalid JSON: {error}") from None
    except json.JSONDecodeError as error:
        raise InputError(
            source, f"line {error.lineno}", f"invalid JSON: {error.msg} (column {error.colno})"
        ) from None
    except RecursionError:
        raise InputError(source, None, "invalid JSON: nested too deeply") from None
    except ValueError as error:  # a NaN constant, or an integer longer than Python converts
        raise InputError(source, None, f"invalid JSON: {error}") from None
