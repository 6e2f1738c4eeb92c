"""Shamir secret sharing over GF(2^521 − 1) (Shamir, CACM 1979; Bonawitz et al. 2017, Sec. 3):
``t``-of-``n`` shares of the 32-byte secrets that let the server survive dropouts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from privaudit.federated.secagg.errors import SecureAggregationError
from privaudit.federated.secagg.randomness import RandomSource

FIELD_PRIME: Final = 2**521 - 1
"""Shamir shares live in GF(2^521 - 1), a Mersenne prime above every 32-byte secret."""
SHARE_BYTES: Final = 66
SECRET_BYTES: Final = 32


def shamir_split(
    secret: bytes, threshold: int, holders: Iterable[int], random: RandomSource
) -> dict[int, bytes]:
    """``threshold``-of-n shares of ``secret``: holder ``h`` gets ``f(h + 1)`` for a random
    polynomial ``f`` over GF(2^521 - 1) of degree ``threshold - 1`` with ``f(0) = secret``."""
    coefficients = [int.from_bytes(secret, "big")]
    coefficients += [random.below(FIELD_PRIME) for _ in range(threshold - 1)]
    shares = {}
    for holder in holders:
        x = holder + 1
        y = 0
        for coefficient in reversed(coefficients):  # Horner
            y = (y * x + coefficient) % FIELD_PRIME
        shares[holder] = y.to_bytes(SHARE_BYTES, "big")
    return shares


def lagrange_at_zero(holders: Sequence[int]) -> list[int]:
    """Coefficients λ_h with ``f(0) = Σ λ_h f(h + 1)`` for any ``f`` of degree < len(holders).

    They depend on the holders only, so one set serves every secret rebuilt from those holders.
    """
    xs = [holder + 1 for holder in holders]
    coefficients = []
    for i, xi in enumerate(xs):
        numerator = 1
        denominator = 1
        for j, xj in enumerate(xs):
            if i != j:
                numerator = numerator * xj % FIELD_PRIME
                denominator = denominator * (xj - xi) % FIELD_PRIME
        coefficients.append(numerator * pow(denominator, -1, FIELD_PRIME) % FIELD_PRIME)
    return coefficients


def shamir_combine(shares: Mapping[int, bytes], *, lagrange: Sequence[int] | None = None) -> bytes:
    """The 32-byte secret behind ``shares`` (holder → share), by Lagrange interpolation at 0.

    Needs at least ``threshold`` shares; with fewer the result is a random field element and,
    when it does not fit 32 bytes, is refused. ``lagrange`` are precomputed coefficients for
    ``sorted(shares)``.
    """
    holders = sorted(shares)
    if lagrange is None:
        lagrange = lagrange_at_zero(holders)
    value = 0
    for holder, coefficient in zip(holders, lagrange, strict=True):
        value += coefficient * int.from_bytes(shares[holder], "big")
    value %= FIELD_PRIME
    if value >= 2 ** (8 * SECRET_BYTES):
        raise SecureAggregationError(
            f"Shamir shares from clients {holders} are inconsistent: the interpolated secret"
            f" does not fit {SECRET_BYTES} bytes"
        )
    return value.to_bytes(SECRET_BYTES, "big")
