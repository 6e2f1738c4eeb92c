"""What every reader of another framework's privacy record returns: the releases, as ledger
entries, and the framework's own ε beside them.

A reader turns a file a user exported from Opacus, TensorFlow Privacy or JAX Privacy into an
:class:`ImportedRun`. Readers parse JSON or YAML text only: they never unpickle, never import the
framework and never run user code, so a file from anywhere is safe to read.

Ledger ``meta`` written for an imported or guarded run (schemas only grow; every key optional)::

    framework  {"name": "opacus" | "tf-privacy" | "jax-privacy",
                "version": str | null,       the framework's version, when known
                "accountant": str,           the framework's accountant: "rdp", "prv", "gdp", "pld"
                "epsilon": float | null,     the framework's own ε for the run up to and including
                                             this entry, at "delta"; null when not known here
                "delta": float | null,
                "how": str,                  one line: where that ε comes from
                "via": "import" | "guard"}
    imported   {"file": str, "sha256": str, "format": str, "config": {...}} (imports only)

Only the last entry of a run carries a non-null ``framework.epsilon`` for an import (the figure is
for the whole run); a guard writes the cumulative figure on every entry.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from privaudit.errors import InputError, describe_value
from privaudit.files import read_input

if TYPE_CHECKING:
    # Only named in annotations: `privaudit ledger import --help` needs Format, not pydantic.
    from privaudit.mechanisms import Mechanism


class Format(StrEnum):
    """The formats ``privaudit ledger import --from`` reads."""

    OPACUS = "opacus"
    TF_PRIVACY = "tf-privacy"
    JAX_PRIVACY = "jax-privacy"


@dataclass(frozen=True)
class FrameworkFigure:
    """The privacy figure the framework itself reports for a run."""

    name: str
    version: str | None
    accountant: str
    epsilon: float | None
    delta: float | None
    how: str

    def to_meta(self, via: str, epsilon: float | None = None) -> dict[str, Any]:
        """The ``meta.framework`` object; ``epsilon`` overrides the figure (None on entries
        before a run's last)."""
        return {
            "name": self.name,
            "version": self.version,
            "accountant": self.accountant,
            "epsilon": epsilon,
            "delta": self.delta,
            "how": self.how,
            "via": via,
        }


@dataclass(frozen=True)
class ImportedRun:
    """A run read from another framework's record: one ledger entry per mechanism, in order."""

    mechanisms: tuple[Mechanism, ...]
    framework: FrameworkFigure
    config: dict[str, Any]
    """The configuration as read (plain JSON values), stored in ``meta.imported.config``."""
    privacy_unit: str | None = None
    notes: tuple[str, ...] = field(default=())
    """Lines a reviewer must read (e.g. what was not certified); printed by the import."""


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def require_number(
    data: dict[str, Any],
    key: str,
    source: str,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    default: float | None = None,
    prefix: str = "",
) -> float:
    """``data[key]`` as a finite number within bounds, or an :class:`InputError` naming the
    field. ``bool`` is not a number here."""
    where = f"{prefix}{key}"
    if key not in data:
        if default is not None:
            return default
        raise InputError(source, where, "required field is missing")
    value = data[key]
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(source, where, f"expected {kind}; found {describe_value(value)}")
    if not math.isfinite(value):
        raise InputError(source, where, f"expected a finite number; found {describe_value(value)}")
    if integer and not float(value).is_integer():
        raise InputError(source, where, f"expected an integer; found {describe_value(value)}")
    if minimum is not None and value < minimum:
        raise InputError(source, where, f"must be >= {minimum:g}; found {describe_value(value)}")
    if above is not None and value <= above:
        raise InputError(source, where, f"must be > {above:g}; found {describe_value(value)}")
    if maximum is not None and value > maximum:
        raise InputError(source, where, f"must be <= {maximum:g}; found {describe_value(value)}")
    return int(value) if integer else float(value)


def refuse_unknown(data: dict[str, Any], known: set[str], source: str, prefix: str = "") -> None:
    """An :class:`InputError` for the first key of ``data`` not in ``known`` (sorted order)."""
    for key in sorted(set(data) - known):
        raise InputError(
            source, f"{prefix}{key}", f"unknown field; expected one of {', '.join(sorted(known))}"
        )


_PICKLE_OR_ZIP = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_EXPORT_HINT = {
    Format.OPACUS: (
        "export the accountant as JSON instead: "
        "json.dump(privacy_engine.accountant.state_dict(), open('accountant.json', 'w'))"
    ),
    Format.TF_PRIVACY: "write the arguments of compute_dp_sgd_privacy_statement as JSON or YAML",
    Format.JAX_PRIVACY: "write the DP-SGD accounting configuration as JSON or YAML",
}


def read_structured(path: str | Path, fmt: Format) -> tuple[object, str]:
    """A JSON or YAML file's plain data and its SHA-256. Binary files (``torch.save`` and pickle
    files above all) are refused unread: unpickling runs code."""
    from privaudit.jsontext import load_json
    from privaudit.policy import load_yaml

    file = Path(path)
    source = str(path)
    raw = read_input(file)
    if raw.startswith(_PICKLE_OR_ZIP):
        raise InputError(
            source,
            None,
            "is a pickle or torch.save file, which privaudit never loads (unpickling runs code); "
            + _EXPORT_HINT[fmt],
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            source,
            None,
            f"expected UTF-8 JSON or YAML text; found byte 0x{raw[error.start]:02x} at offset"
            f" {error.start} (binary data); " + _EXPORT_HINT[fmt],
        ) from None
    if "\x00" in text:
        raise InputError(source, None, "expected text; found a NUL byte (binary data)")
    if not text.strip():
        raise InputError(source, None, "the file is empty; expected a JSON or YAML object")
    if file.suffix.lower() in {".yaml", ".yml"}:
        data = load_yaml(text, source)
    else:
        data = load_json(text, source)
    return data, hashlib.sha256(raw).hexdigest()


def require_object(data: object, source: str, field: str | None = None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InputError(
            source, field, f"expected a JSON object (a mapping); found {describe_value(data)}"
        )
    return data


def require_row(item: object, names: tuple[str, ...], source: str, where: str) -> dict[str, Any]:
    """A list of ``len(names)`` values (``[noise_multiplier, sample_rate, steps]``) as a mapping
    from those names, so each value is checked and named like a field."""
    if not isinstance(item, list) or len(item) != len(names):
        raise InputError(
            source, where, f"expected [{', '.join(names)}]; found {describe_value(item)}"
        )
    return dict(zip(names, item, strict=True))


def require_fields(
    data: object, known: set[str], source: str, field: str | None = None
) -> dict[str, Any]:
    """``data`` as a mapping whose keys are all strings in ``known``, or an :class:`InputError`
    naming ``field`` (a YAML mapping may have number or null keys; they are refused here)."""
    mapping = require_object(data, source, field)
    prefix = f"{field}." if field else ""
    for key in mapping:
        if not isinstance(key, str):
            raise InputError(
                source,
                f"{prefix}{describe_value(key)}",
                f"expected a text key, one of {', '.join(sorted(known))};"
                f" found {describe_value(key)}",
            )
    refuse_unknown(mapping, known, source, prefix)
    return mapping


def require_bool(
    data: dict[str, Any], key: str, source: str, *, default: bool, prefix: str = ""
) -> bool:
    """``data[key]`` as true or false (``default`` when missing); 0, 1 and "yes" are refused."""
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise InputError(
            source, f"{prefix}{key}", f"expected true or false; found {describe_value(value)}"
        )
    return value


def require_choice(
    data: dict[str, Any],
    key: str,
    source: str,
    choices: tuple[str, ...],
    *,
    default: str | None = None,
    prefix: str = "",
) -> str:
    """``data[key]`` as one of ``choices`` (``default`` when missing, required if None)."""
    if key not in data and default is not None:
        return default
    if key not in data:
        raise InputError(source, f"{prefix}{key}", "required field is missing")
    value = data[key]
    if not isinstance(value, str) or value not in choices:
        raise InputError(
            source,
            f"{prefix}{key}",
            f"expected one of {', '.join(choices)}; found {describe_value(value)}",
        )
    return value


def optional_integer(
    data: dict[str, Any], key: str, source: str, *, minimum: int, prefix: str = ""
) -> int | None:
    """``data[key]`` as an integer >= ``minimum``, or None when missing or null."""
    if data.get(key) is None:
        return None
    return int(require_number(data, key, source, minimum=minimum, integer=True, prefix=prefix))


def resolve_delta(
    data: dict[str, Any], key: str, source: str, given: float | None, prefix: str = ""
) -> tuple[float, str | None]:
    """The δ of a run: the file's ``data[key]`` when present (not null), else ``given``
    (``--delta``), else an :class:`InputError` naming the missing field. Both must lie in (0, 1).
    The second value is a note when ``given`` was overridden by a different δ in the file."""
    where = f"{prefix}{key}"
    if given is not None and (
        isinstance(given, bool) or not isinstance(given, int | float) or not 0 < given < 1
    ):
        raise InputError("--delta", None, f"expected δ in (0, 1); found {describe_value(given)}")
    if data.get(key) is None:
        if given is None:
            raise InputError(
                source, where, "required field is missing (or give --delta); expected δ in (0, 1)"
            )
        return given, None
    delta = _check_delta(data, key, source, prefix)
    if given is not None and given != delta:
        return delta, f"δ = {delta:g} is the file's {where}; the --delta {given:g} was not used"
    return delta, None


def _check_delta(data: dict[str, Any], key: str, source: str, prefix: str) -> float:
    delta = require_number(data, key, source, above=0, prefix=prefix)
    if delta >= 1:
        raise InputError(source, f"{prefix}{key}", f"must be < 1; found {describe_value(delta)}")
    return delta
