"""One error scheme for privaudit.

Every error the library raises on purpose derives from :class:`PrivauditError`. The CLI catches
that base class once, prints ``str(error)`` as a single line and picks the exit code from
:attr:`PrivauditError.exit_code`: 2 for bad input or usage, 1 for a broken ledger or an exceeded
budget. Messages follow OpenDP's habit: say what was expected and what was found.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2

ARGUMENT = "<argument>"
"""The source an argument check of the Python API names; the CLI renames it to the option typed."""


class PrivauditError(Exception):
    """Base class of every error privaudit raises deliberately."""

    exit_code: int = EXIT_USAGE


class InputError(PrivauditError):
    """Input that cannot be used: malformed file, unknown field, wrong type, NaN, bad value.

    ``source`` names the file (or ``<argument>`` / ``--option``), ``field`` the dotted path inside
    it (``tiers.medical.epsilon``, ``line 3: mechanism.noise_multiplier``), ``problem`` what was
    expected and what was found.
    """

    exit_code = EXIT_USAGE

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = _one_line(problem)
        where = f"{_escaped(source)}: {_escaped(field)}" if field else _escaped(source)
        super().__init__(f"{where}: {self.problem}")


class LedgerIntegrityError(PrivauditError):
    """The ledger's hash chain is broken: a line was edited, deleted, reordered or truncated."""

    exit_code = EXIT_FAIL

    def __init__(self, source: str, line: int, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = _one_line(problem)
        super().__init__(f"{_escaped(source)}: line {line}: {self.problem}")


class LedgerAnchorError(PrivauditError):
    """The ledger does not end where an anchor says it must (an expected head hash, a signed
    seal), or a seal itself is forged, edited or missing: entries were cut off the end or
    rewritten, which the hash chain alone cannot see.

    ``code`` names the kind of problem for the gate's findings (``ledger_head_mismatch``,
    ``ledger_seal_invalid``, ``ledger_below_seal``, ``ledger_not_sealed``).
    """

    exit_code = EXIT_FAIL

    def __init__(self, source: str, problem: str, *, code: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.code = code
        self.problem = _one_line(problem)
        where = _escaped(source) if line is None else f"{_escaped(source)}: line {line}"
        super().__init__(f"{where}: {self.problem}")


class UnsupportedMechanismError(PrivauditError):
    """An accountant cannot account for a (sub-)mechanism; names the offending sub-mechanism."""

    exit_code = EXIT_FAIL

    def __init__(self, accountant: str, mechanism: str, reason: str) -> None:
        self.accountant = accountant
        self.mechanism = mechanism
        self.reason = _one_line(reason)
        super().__init__(f"{accountant} cannot account for {mechanism}: {self.reason}")


class BudgetExceededError(PrivauditError):
    """Raised before a release that would take a dataset past its privacy budget."""

    exit_code = EXIT_FAIL


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _escaped(text: str) -> str:
    # File names and field paths (built from keys in the file) may hold newlines or control
    # characters; escape them so the message stays on one line and shows what is there.
    text = str(text)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def describe_value(value: Any) -> str:
    """A short, safe rendering of a found value for error messages."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def location(loc: Sequence[int | str]) -> str:
    """Dotted path of a Pydantic error location, skipping union-tag noise."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif parts:
            parts.append(f".{item}")
        else:
            parts.append(str(item))
    return "".join(parts)


def from_validation_error(
    source: str, error: ValidationError, prefix: str | None = None
) -> InputError:
    """Turn the first problem of a Pydantic ``ValidationError`` into an :class:`InputError`."""
    first = error.errors(include_url=False)[0]
    loc = [part for part in first["loc"] if not _is_union_tag(part)]
    field = location(loc) or None
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    message = str(first["msg"])
    if "input" in first and first["type"] not in {"missing", "extra_forbidden"}:
        message = f"{message}; found {describe_value(first['input'])}"
    elif first["type"] == "extra_forbidden":
        message = "unknown field"
    return InputError(source, field, message)


def _is_union_tag(part: int | str) -> bool:
    # Pydantic inserts the discriminator value and function-validator names into error locations.
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))
