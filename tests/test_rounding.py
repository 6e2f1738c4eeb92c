"""rounding.py: shown figures never move toward the limit they are compared with."""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from privaudit.rounding import down_fixed, up_fixed

FINITE = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(FINITE)
def test_a_lower_bound_is_shown_at_or_below_its_value(value: float) -> None:
    shown = Decimal(down_fixed(value))
    assert shown <= Decimal(repr(value)) < shown + Decimal("0.0001")


@given(FINITE)
def test_an_upper_bound_is_shown_at_or_above_its_value(value: float) -> None:
    shown = Decimal(up_fixed(value))
    assert shown - Decimal("0.0001") < Decimal(repr(value)) <= shown


def test_a_lower_bound_just_under_a_claim_never_shows_as_the_claim() -> None:
    assert down_fixed(1.99999) == "1.9999"
    assert down_fixed(math.inf) == "inf"
