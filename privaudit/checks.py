"""Argument checks for the Python API: one home for "is this a usable number / array".

Training, federated and audit entry points validate their arguments before any work starts
and refuse bad ones with an :class:`~privaudit.errors.InputError` whose source is
``<argument>`` and whose message says what was expected and what was found (OpenDP's habit).
Files and command-line options are validated where they are parsed, not here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from privaudit.errors import ARGUMENT as ARGUMENT
from privaudit.errors import InputError, describe_value


def is_finite(value: object) -> bool:
    """A real number (not a bool) that is neither NaN nor infinite."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(value)
    )


def is_integer(value: object) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def require(ok: bool, field_name: str, problem: str, found: object) -> None:
    """Refuse ``found`` for ``field_name`` unless ``ok``: "``field``: ``problem``; found ..."."""
    if not ok:
        raise InputError(ARGUMENT, field_name, f"{problem}; found {describe_value(found)}")


def require_positive(value: object, field_name: str) -> None:
    """A finite number > 0."""
    require(is_finite(value) and value > 0, field_name, "must be > 0", value)  # type: ignore[operator]


def require_non_negative(value: object, field_name: str) -> None:
    """A finite number >= 0."""
    require(is_finite(value) and value >= 0, field_name, "must be >= 0", value)  # type: ignore[operator]


def require_count(value: object, field_name: str, minimum: int = 1) -> None:
    """An integer >= ``minimum``."""
    require(
        is_integer(value) and value >= minimum,  # type: ignore[operator]
        field_name,
        f"must be an integer >= {minimum}",
        value,
    )


def require_rate(value: object, field_name: str) -> None:
    """A probability in (0, 1]: a sampling rate."""
    require(is_finite(value) and 0 < value <= 1, field_name, "must be in (0, 1]", value)  # type: ignore[operator]


def require_unit_interval(value: object, field_name: str) -> None:
    """A number in [0, 1): momentum, a decay."""
    require(is_finite(value) and 0 <= value < 1, field_name, "must be in [0, 1)", value)  # type: ignore[operator]


def float_features(x: Any, field_name: str) -> np.ndarray[Any, Any]:
    """``x`` as a finite float array of shape (n, d)."""
    array = np.asarray(x)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        raise InputError(
            ARGUMENT,
            field_name,
            f"expected float features of shape (n, d); found {array.dtype} {array.shape}",
        )
    if not np.all(np.isfinite(array)):
        raise InputError(ARGUMENT, field_name, "contains NaN or infinite values")
    return array


def integer_labels(y: Any, field_name: str, n: int | None = None) -> np.ndarray[Any, Any]:
    """``y`` as an integer array of shape (n,); with ``n``, exactly one label per example."""
    array = np.asarray(y)
    shape_ok = array.ndim == 1 if n is None else array.shape == (n,)
    if not shape_ok or not np.issubdtype(array.dtype, np.integer):
        expected = "integer labels of shape (n,)" if n is None else f"{n} integer labels"
        suffix = "" if n is None else ", one per example"
        raise InputError(
            ARGUMENT,
            field_name,
            f"expected {expected}{suffix}; found {array.dtype} {array.shape}",
        )
    return array
