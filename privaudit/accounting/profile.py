"""Privacy profiles δ(ε) and the membership-inference trade-off they certify.

A privacy profile is the whole curve δ(ε) of a composition instead of one (ε, δ) point (Balle,
Barthe & Gaboardi 2018, "Privacy amplification by subsampling", Sec. 2). It is computed with the
same certified backends as :mod:`privaudit.accounting.accountant`, composing once and reading δ
at every ε, so each value is at most the bound ``PrivacyAccountant.get_delta`` reports at that ε
(equal to it unless a smaller ε in the same call gave a smaller, equally certified, bound).

The hypothesis-testing view (Wasserman & Zhou 2010; Kairouz, Oh & Viswanath 2015, "The
composition theorem for differential privacy" [KOV15]; Dong, Roth & Su 2022, "Gaussian
differential privacy" [DRS22]) turns the profile into what an auditor asks: at a given false
positive rate α, how much power (true-positive rate) can any membership-inference test have?
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from privaudit.accounting import pld as pld_engine
from privaudit.accounting import rdp as rdp_engine
from privaudit.accounting.accountant import (
    DEFAULT_PLD_DISCRETISATION,
    DEFAULT_RDP_ORDERS,
    Method,
    PldAccountant,
    PrivacyAccountant,
    RdpAccountant,
)
from privaudit.accounting.dp_events import NeighbouringRelation, flatten
from privaudit.accounting.pld import FloatArray
from privaudit.errors import InputError, UnsupportedMechanismError
from privaudit.mechanisms import Mechanism, NonPrivate

MAX_GRID_EPSILON = 50.0
"""Top of :func:`default_epsilon_grid` when 3ε is larger or ε is infinite. A pair (ε, δ) only
constrains a test below false-positive rate ~e^{−ε}, and e^{−50} ≈ 2e-22 is below any rate an
audit can resolve, so larger ε add nothing to the trade-off."""

_ROUNDING = 8 * float(np.finfo(np.float64).eps)
"""Relative allowance for the rounding of the trade-off bound's few operations (each ≤ 1 ulp)."""

Counts = Mapping[Mechanism, int] | Sequence[tuple[Mechanism, int]]
Floats = Sequence[float] | npt.NDArray[np.float64]


def privacy_profile(
    counts: Counts,
    epsilons: Floats,
    *,
    relation: NeighbouringRelation,
    method: Method,
    discretisation: float = DEFAULT_PLD_DISCRETISATION,
    orders: Iterable[float] = DEFAULT_RDP_ORDERS,
) -> FloatArray:
    """Certified upper bounds on δ(ε) of the sequential composition, one per ``epsilons`` entry.

    ``counts`` gives each release and how many times it is made (a mapping, or pairs in which a
    release may repeat). The composition is done once; every δ is then read off it. δ is 1 for a
    composition holding a non-private release and 0 for an empty one.

    Raises :class:`UnsupportedMechanismError` if ``method`` cannot account for a release under
    ``relation`` (as the accountant would), :class:`InputError` for a bad count or ε.
    """
    merged = _merged_counts(counts)
    wanted = _check_epsilons(epsilons)
    accountant: PrivacyAccountant = (
        PldAccountant(relation, discretisation)
        if method is Method.PLD
        else RdpAccountant(relation, orders)
    )
    # Dry run first, like the accountant: a refused release fails before any PLD is built.
    for mechanism in merged:
        reason = accountant.unsupported_reason(mechanism)
        if reason is not None:
            raise UnsupportedMechanismError(method.value, mechanism.describe(), reason)
    if not merged or wanted.size == 0:
        return np.zeros(wanted.size)
    if any(isinstance(mechanism, NonPrivate) for mechanism in merged):
        return np.ones(wanted.size)
    # Extreme but legal parameters can overflow inside the backends (see accountant._run); the
    # overflowed quantities only ever push δ up, and a NaN is replaced by 1 below.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for mechanism, count in merged.items():
            accountant.compose(mechanism, count)
        if isinstance(accountant, PldAccountant):
            found = _pld_profile(accountant, wanted)
        else:
            assert isinstance(accountant, RdpAccountant)
            found, _ = rdp_engine.delta_from_rdp(accountant._rdp, accountant.orders, wanted)
    found = np.where(np.isnan(found), 1.0, np.clip(found, 0.0, 1.0))
    return _running_minimum(wanted, found)


def _pld_profile(accountant: PldAccountant, epsilons: FloatArray) -> FloatArray:
    components = accountant._components()
    if any(part.non_private for part, _ in components):
        return np.ones(epsilons.size)
    # The same directions and composition as pld_engine.delta, so each value equals get_delta's;
    # only the FFT, the expensive part, is done once instead of once per ε.
    composed = [
        pld_engine.compose_direction(parts) for parts in pld_engine._by_direction(components)
    ]
    # add-or-remove-one: δ(ε) is the larger of the two directions' hockey-stick divergences.
    return np.array(
        [max(direction.delta(float(epsilon)) for direction in composed) for epsilon in epsilons],
        dtype=np.float64,
    )


def _running_minimum(epsilons: FloatArray, deltas: FloatArray) -> FloatArray:
    # δ(ε) = sup E[(1 − e^{ε−L})₊] is non-increasing in ε (the integrand is), so a bound at ε
    # also bounds every larger ε: the running minimum over increasing ε is still certified, and it
    # removes round-off wiggles between neighbouring ε.
    order = np.argsort(epsilons, kind="stable")
    result = np.empty_like(deltas)
    result[order] = np.minimum.accumulate(deltas[order])
    return result


def default_epsilon_grid(epsilon_at_delta: float, points: int = 60) -> tuple[float, ...]:
    """``points`` evenly spaced ε from 0 to about 3 × ``epsilon_at_delta``, plus that ε itself.

    The top is at least 1 (so ε = 0 still gives a curve) and at most :data:`MAX_GRID_EPSILON`
    (so an infinite or huge ε still gives a finite grid; ε itself is then left out).
    """
    if not (isinstance(epsilon_at_delta, float | int) and epsilon_at_delta >= 0):
        raise InputError(
            "<argument>", "epsilon_at_delta", f"must be >= 0; found {epsilon_at_delta!r}"
        )
    if not (isinstance(points, int) and not isinstance(points, bool) and points >= 2):
        raise InputError("<argument>", "points", f"must be an integer >= 2; found {points!r}")
    top = min(max(3.0 * float(epsilon_at_delta), 1.0), MAX_GRID_EPSILON)
    grid = {float(value) for value in np.linspace(0.0, top, points)}
    if epsilon_at_delta <= top:
        grid.add(float(epsilon_at_delta))
    return tuple(sorted(grid))


def tradeoff_upper_bound(
    epsilons: Floats,
    deltas: Floats,
    false_positive_rates: Floats,
) -> FloatArray:
    """Highest true-positive rate any membership-inference test can reach at each false-positive
    rate α, for a mechanism that is (ε_i, δ_i)-DP for every i (e.g. a privacy profile).

    One pair (ε, δ) makes every test's type I/II errors satisfy β ≥ f_{ε,δ}(α) =
    max{0, 1 − δ − e^ε α, e^{−ε}(1 − δ − α)} (KOV15, Thm. 2.1; DRS22, Prop. 2.5), i.e.
        TPR = 1 − β ≤ min{1, δ + e^ε α, 1 − e^{−ε}(1 − δ − α)}.
    Being (ε_i, δ_i)-DP for every i means being f_{ε_i,δ_i}-DP for every i, so the smallest of
    these bounds holds, and over a full profile it is the exact trade-off (DRS22, Prop. 2.12).
    With no pairs there is no constraint and the bound is 1. Every pair's bound is ≥ α.
    """
    eps, dlt = _check_pairs(epsilons, deltas)
    alpha = _as_1d("false_positive_rates", false_positive_rates)
    if np.any((alpha < 0) | (alpha > 1)):
        raise InputError(
            "<argument>", "false_positive_rates", "must be in [0, 1] (false-positive rates)"
        )
    if eps.size == 0:
        return np.ones(alpha.size)
    e_col, d_col, a_row = eps[:, None], dlt[:, None], alpha[None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        # α·e^ε rather than e^{ε + log α}: exp(ε) ≥ 1 and rounding is monotone, so the product is
        # never below α. For ε > 709 it overflows to ∞, which only overstates (still sound);
        # at α = 0 the term is δ whatever ε (∞·0 would be NaN).
        grow = np.where(a_row == 0, d_col, d_col + a_row * np.exp(e_col))
    # 1 − e^{−ε}(1 − δ − α) rewritten as (1 − e^{−ε}) + e^{−ε}(δ + α): a sum of non-negative
    # terms, so no cancellation when e^{−ε}(1 − δ − α) is close to 1 (small ε, small α).
    shrink = -np.expm1(-e_col) + np.exp(-e_col) * (d_col + a_row)
    # Each term is a few operations on non-negative numbers, each within 1 ulp (exp and expm1
    # faithfully rounded), so its relative error is ≤ 4u; raising it by 8u keeps it at or above
    # its exact value, and the bound never understates the attacker through rounding.
    bound = np.minimum(grow, shrink) * (1 + _ROUNDING)
    result: FloatArray = np.minimum(bound.min(axis=0), 1.0)
    return result


def tpr_at(
    fpr: float,
    epsilons: Floats,
    deltas: Floats,
) -> float:
    """:func:`tradeoff_upper_bound` at one false-positive rate."""
    return float(tradeoff_upper_bound(epsilons, deltas, [fpr])[0])


# --- validation --------------------------------------------------------------------------------


def _merged_counts(counts: Counts) -> Counter[Mechanism]:
    # Sugar (dpsgd, dpfedavg, ...) is expanded and equal base releases merged, as account() does,
    # so a release given twice, or once inside a self_composed, is composed as one count.
    pairs = counts.items() if isinstance(counts, Mapping) else counts
    merged: Counter[Mechanism] = Counter()
    for position, (mechanism, count) in enumerate(pairs):
        if not (isinstance(count, int) and not isinstance(count, bool) and count >= 1):
            raise InputError(
                "<argument>",
                f"counts[{position}]",
                f"count must be an integer >= 1; found {count!r}",
            )
        for base, times in flatten([mechanism]).items():
            merged[base] += times * count
    return merged


def _as_1d(name: str, values: Floats) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError("<argument>", name, f"must be numbers; found {values!r}") from error
    if array.ndim != 1:
        raise InputError("<argument>", name, f"must be a 1-D list; found shape {array.shape}")
    if np.isnan(array).any():
        raise InputError("<argument>", name, "must not be NaN")
    return array


def _check_epsilons(values: Floats) -> FloatArray:
    array = _as_1d("epsilons", values)
    if np.any(array < 0):
        raise InputError("<argument>", "epsilons", f"must be >= 0; found {float(array.min())!r}")
    return array


def _check_pairs(
    epsilons: Floats,
    deltas: Floats,
) -> tuple[FloatArray, FloatArray]:
    eps = _check_epsilons(epsilons)
    dlt = _as_1d("deltas", deltas)
    if eps.size != dlt.size:
        raise InputError(
            "<argument>",
            "deltas",
            f"must have one δ per ε ({eps.size}); found {dlt.size}",
        )
    if np.any((dlt < 0) | (dlt > 1)):
        raise InputError("<argument>", "deltas", "must be in [0, 1]")
    return eps, dlt


__all__ = [
    "MAX_GRID_EPSILON",
    "Counts",
    "default_epsilon_grid",
    "privacy_profile",
    "tpr_at",
    "tradeoff_upper_bound",
]
