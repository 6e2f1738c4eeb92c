"""Numbers as people read them: ε and δ rounded up, never toward the limit.

A printed ε is never below the computed one; a printed count that must fit is never above it.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal


def number(value: float | None) -> str:
    """Compact form of a number: 1e-5, 0.0002, 60, 1.1."""
    if value is None:
        return "none"
    text = f"{value:.6g}"
    return re.sub(
        r"e([+-])0*(\d)", lambda m: f"e{'' if m.group(1) == '+' else '-'}{m.group(2)}", text
    )


def up(value: float, digits: int = 4) -> str:
    """``value`` rounded up to ``digits`` significant digits: a printed ε is never below the
    computed one, and a printed noise multiplier never below the calibrated one."""
    return _significant(value, digits, ROUND_CEILING)


def up_fixed(value: float, decimals: int = 4) -> str:
    """``value`` rounded up to ``decimals`` places (2.3705, 0.0001): the fixed-point form of a
    shown ε, never below the computed one (a dataset over its limit by a hair never shows an ε at
    or below the limit)."""
    if not math.isfinite(value):
        return number(value)
    if abs(value) >= 1e15:  # beyond a Decimal quantize's precision; digits there are moot
        return up(value)
    exact = Decimal(repr(float(value)))
    return str(exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_CEILING))


def down_fixed(value: float, decimals: int = 4) -> str:
    """``value`` rounded down to ``decimals`` places: the fixed-point form of an empirical
    lower bound, never above the certified one (a bound just under the claimed ε never shows as
    reaching it)."""
    if not math.isfinite(value):
        return number(value)
    if abs(value) >= 1e15:
        return down(value)
    exact = Decimal(repr(float(value)))
    return str(exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_FLOOR))


def percent_up(fraction: float, decimals: int = 1) -> str:
    """A fraction as a percentage rounded up (100.1%, not 100.0%, for a budget over by a hair)."""
    if not math.isfinite(fraction):
        return number(fraction)
    exact = Decimal(repr(float(fraction))) * 100
    if abs(exact) >= Decimal("1e15"):
        return up(float(exact)) + "%"
    return f"{exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_CEILING)}%"


def given(value: float) -> str:
    """A policy input (a limit, a δ) as written: the compact form (10, 1e-06) when it reads
    back as the same number, else every digit, so a limit is never shown rounded either way."""
    text = f"{value:g}"
    return text if float(text) == value else repr(float(value))


def down(value: float, digits: int = 5) -> str:
    """Rounded down (a number of epochs that fits is never overstated)."""
    return _significant(value, digits, ROUND_FLOOR)


def _significant(value: float, digits: int, rounding: str) -> str:
    if not math.isfinite(value) or value == 0:
        return number(value)
    exact = Decimal(repr(value))  # the float's shortest decimal form, as it prints
    quantum = Decimal(1).scaleb(exact.adjusted() - digits + 1)
    rounded = exact.quantize(quantum, rounding=rounding)
    if -4 <= exact.adjusted() < 16:
        return format(rounded.normalize(), "f")
    # 1e-05, 1.235e-07: the rounded decimal's own digits, which ``g`` reproduces exactly
    return number(float(rounded))


def plural(count: int, singular: str, plural_form: str) -> str:
    """``count`` with its noun, singular for one: "1 entry", "3 entries", "0 tiers"."""
    return f"{count} {singular if abs(count) == 1 else plural_form}"
