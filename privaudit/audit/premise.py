"""Which bound an audit uses: the f-DP bound where the claim is a Gaussian trade-off curve, the
(ε, δ) bound otherwise (``--method auto``), and why.

The f-DP bound of Mahloujifar, Melis & Chaudhuri 2024 [MMC24] refutes μ-Gaussian DP; it is a
proof against a claim only if the claimed mechanism's trade-off curve lies above a Gaussian
curve G_μd with ε_μd(δ) close to the claimed ε. Poisson-subsampled Gaussian steps are close to
Gaussian after many steps (the central limit theorems of Dong, Roth & Su 2022 [DRS22], Sec. 3
and 5) but not exactly: their privacy loss has a heavier right tail, so the curve matched at
(ε, δ) dips a little below G_μ* at tiny false-positive rates. This module measures it for the
claimed mechanism:

- the certified privacy profile δ(ε) of the claim (privaudit's PLD accountant, an upper bound
  on every δ) gives an upper bound on any test's power at each false-positive rate α
  ([KOV15] Thm. 2.1, :func:`~privaudit.accounting.profile.tradeoff_upper_bound`);
- μd is the smallest μ whose Gaussian power 1 − G_μ(α) = Φ(μ + Φ⁻¹(α)) ([DRS22] Def. 2.6)
  is at least that bound at every α of a log grid from 1e-10 to 1/2 (bisection), so the
  mechanism is μd-GDP there;
- the premise holds when μd ≤ (1 + :data:`GAUSSIAN_SLACK`)·μ*, μ* the Gaussian μ with the
  claimed ε at δ. The f-DP bound's refuted μ is then scaled by μ*/μd before it is turned into ε
  (:func:`~privaudit.audit.bounds.scaled_fdp_epsilon`): the bound exceeds the claim only when it
  refutes G_μd, which the mechanism satisfies, so a correct trainer is flagged with
  probability ≤ β as for any claim.

Otherwise (a claim far from Gaussian: few sampled steps, a Laplace release) ``auto`` uses
Steinke, Nasr & Jagielski's (ε, δ) bound [SNJ23], valid for any mechanism.

Measured (PLD, δ = 1e-5, q = 0.1, 400 steps): μd/μ* = 1.051, 1.019, 1.017, 1.013 at claimed
ε = 1, 2, 4, 8; 1.050 at ε = 2 over 100 steps. With q = 0.01 it is 1.29 over 500 steps and 1.58
over 10, and ``auto`` falls back to ``one_run``; a Laplace release is far from any Gaussian
curve. Within the slack the scaling costs at most 10% of the refuted μ, and the f-DP bound
remains far tighter than the (ε, δ) one against a near-Gaussian claim.

References: [MMC24], [SNJ23], [DRS22] as in :mod:`privaudit.audit.bounds`; [KOV15] Kairouz,
Oh & Viswanath 2015, "The Composition Theorem for Differential Privacy", ICML 2015.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import special

from privaudit.mechanisms import Mechanism

__all__ = ["GAUSSIAN_SLACK", "MethodChoice", "choose_method", "dominating_mu"]

GAUSSIAN_SLACK: Final = 0.10
"""How far above μ* the dominating μd may lie for the claim to count as a Gaussian curve."""

_ALPHAS: Final = np.logspace(-10.0, np.log10(0.5), 600)
_PROFILE_POINTS: Final = 1201
_BISECTION_STEPS: Final = 50


@dataclass(frozen=True)
class MethodChoice:
    """The bound an audit uses and why."""

    method: str
    """``one_run`` or ``one_run_fdp``."""
    requested: str
    """``auto``, ``one_run`` or ``one_run_fdp``."""
    reason: str
    gaussian_mu: float
    """μ*: the Gaussian curve with the claimed ε at δ."""
    dominating_mu: float | None
    """μd (with ``auto``): the claimed mechanism is μd-GDP on the checked false-positive rates."""
    mu_scale: float = 1.0
    """μ*/μd, applied to the f-DP bound's μ under ``auto``; 1 otherwise."""


def choose_method(
    requested: str, mechanism: Mechanism, epsilon_claimed: float, delta: float
) -> MethodChoice:
    """The bound for ``requested`` (``auto``: see the module docstring)."""
    from privaudit.audit.ceiling import gaussian_mu

    mu_star = gaussian_mu(epsilon_claimed, delta)
    if requested != "auto":
        return MethodChoice(requested, requested, "requested", mu_star, None)
    mu_d = dominating_mu(mechanism, epsilon_claimed, mu_star)
    ratio = mu_d / mu_star
    if ratio <= 1.0 + GAUSSIAN_SLACK:
        return MethodChoice(
            "one_run_fdp",
            requested,
            f"the claim is a Gaussian trade-off curve: the accountant's profile lies above"
            f" G_μ with μ = {mu_d:.4g} = {ratio:.4f}·μ* (μ* = {mu_star:.4g}, the Gaussian curve"
            f" with the claimed ε at δ); f-DP bound (Mahloujifar et al. 2024), its μ scaled by"
            f" μ*/μ = {1 / ratio:.4f}",
            mu_star,
            mu_d,
            min(1.0, 1.0 / ratio),
        )
    return MethodChoice(
        "one_run",
        requested,
        f"the claim is not a Gaussian trade-off curve (its profile needs μ = {mu_d:.4g} ="
        f" {ratio:.3g}·μ*, above the {1 + GAUSSIAN_SLACK:g}·μ* allowed): (ε, δ) bound"
        " (Steinke et al. 2023), valid for any mechanism",
        mu_star,
        mu_d if np.isfinite(mu_d) else None,
    )


def dominating_mu(mechanism: Mechanism, epsilon_claimed: float, mu_star: float) -> float:
    """μd ≥ μ*: the smallest μ whose Gaussian power bounds ``mechanism``'s certified power at
    every checked false-positive rate (∞ when none up to 64·μ* does)."""
    from privaudit.accounting.accountant import Method
    from privaudit.accounting.dp_events import NeighbouringRelation
    from privaudit.accounting.profile import privacy_profile, tradeoff_upper_bound

    top = min(50.0, 4.0 * epsilon_claimed + 2.0)
    epsilons = np.linspace(0.0, top, _PROFILE_POINTS)
    deltas = privacy_profile(
        [(mechanism, 1)],
        epsilons,
        relation=NeighbouringRelation.ADD_OR_REMOVE_ONE,
        method=Method.PLD,
    )
    power = tradeoff_upper_bound(epsilons, deltas, _ALPHAS)
    # Φ(μ + Φ⁻¹(α)) in log space: log Φ keeps the tiny powers at α ~ 1e-10 exact.
    log_power = np.log(np.maximum(power, np.finfo(np.float64).tiny))
    quantiles = special.ndtri(_ALPHAS)

    def dominates(mu: float) -> bool:
        return bool(np.all(special.log_ndtr(mu + quantiles) >= log_power))

    if dominates(mu_star):
        return mu_star
    low, high = mu_star, 2.0 * mu_star
    while not dominates(high):
        low, high = high, 2.0 * high
        if high > 64.0 * mu_star:
            return float("inf")
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if dominates(middle):
            high = middle
        else:
            low = middle
    return high
