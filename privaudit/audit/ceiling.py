"""The ceiling of a one-run audit: the ε lower bound an ideal auditor certifies against a
mechanism that is exactly the claimed Gaussian trade-off, and the guess count that maximises it.

The claim "ε at δ" of a Gaussian-shaped mechanism is the μ*-Gaussian trade-off curve
G_μ* = T(N(0, 1), N(μ*, 1)) with ε_μ*(δ) = ε ([DRS22] Def. 2.6, Cor. 2.13). Against exactly that
mechanism, the most powerful score of one canary is the likelihood ratio (Neyman–Pearson), which
orders canaries as the observation itself: score ~ N(μ*, 1) if included, N(0, 1) if not. The
ideal auditor plants the same m canaries (each included with probability 1/2), guesses "in" on
the ⌊k/2⌋ highest and "out" on the k − ⌊k/2⌋ lowest scores with the same k, and computes the same
bound. Its expected number of correct guesses is, as m grows (law of large numbers for the
order statistics of the mixture ½N(0, 1) + ½N(μ*, 1)),

    E[correct] = m/2 · (Φ̄(t_in − μ*) + Φ(t_out)),   ½Φ̄(t_in − μ*) + ½Φ̄(t_in) = ⌊k/2⌋/m,
                                                      ½Φ(t_out − μ*) + ½Φ(t_out) = (k − ⌊k/2⌋)/m,

and the ceiling is the bound at ⌊E[correct]⌋ (the bound is monotone in the count, so this is the
median bound up to the count's spread, O(√k)). Tails are solved in log space (log Φ). No audit
of a mechanism that meets its claim can expect more; an audit reaching a good fraction of the
ceiling is strong, whatever fraction of the claimed ε that is.

The guess count k of an audit is fixed before training as the one maximising this ceiling over
a grid of fractions of m: it depends on public numbers only (m, the claimed ε and δ, β), so the
bound pays no union bound for it.

References:
  [DRS22]  Dong, Roth & Su 2022, "Gaussian Differential Privacy", JRSS B, arXiv:1905.02383.
  [SNJ23]  Steinke, Nasr & Jagielski 2023, "Privacy Auditing with One (1) Training Run".
  [MMC24]  Mahloujifar, Melis & Chaudhuri 2024, "Auditing f-Differential Privacy in One Run".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from scipy import optimize, special

from privaudit.checks import ARGUMENT, require_count
from privaudit.errors import InputError

__all__ = [
    "CEILING_FRACTIONS",
    "GuessPlan",
    "expected_correct",
    "gaussian_mu",
    "ideal_bound",
    "plan_for_ceiling",
]

CEILING_FRACTIONS: Final = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.007,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.07,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    0.7,
    1.0,
)
"""Guess counts k = round(f·m) the plan chooses among (at least 1)."""


def gaussian_mu(epsilon: float, delta: float) -> float:
    """μ* of the Gaussian trade-off curve whose ε at ``delta`` is ``epsilon`` ([DRS22] Cor. 2.13;
    δ_μ(ε) rises with μ, so bisection on log δ_μ(ε) = log δ)."""
    from privaudit.audit.bounds import _gdp_log_delta

    if not (math.isfinite(epsilon) and epsilon > 0 and 0 < delta < 1):
        raise InputError(ARGUMENT, "epsilon", f"expected ε > 0 and 0 < δ < 1; found {epsilon}")
    log_delta = math.log(delta)
    low, high = 0.0, 1.0
    while _gdp_log_delta(high, epsilon) < log_delta:
        low, high = high, 2.0 * high
    for _ in range(60):
        middle = 0.5 * (low + high)
        if _gdp_log_delta(middle, epsilon) < log_delta:
            low = middle
        else:
            high = middle
    return high


def expected_correct(canaries: int, guesses: int, mu: float) -> float:
    """E[correct] of top/bottom guessing on ``canaries`` μ-Gaussian canaries (module docstring)."""
    require_count(canaries, "canaries", minimum=1)
    require_count(guesses, "guesses", minimum=0)
    m = int(canaries)
    if guesses > m:
        raise InputError(ARGUMENT, "guesses", f"expected at most {m}; found {guesses}")
    guesses_in = guesses // 2
    guesses_out = guesses - guesses_in
    total = 0.0
    if guesses_in:
        # log of the mixture's upper tail ½Φ̄(t − μ) + ½Φ̄(t) = log ½ + logaddexp(log Φ(μ − t),
        # log Φ(−t)); both fall in t, so one root.
        target = math.log(guesses_in / m)
        t_in = _root(lambda t: _log_mixture_tail(-t, mu) - target)
        total += 0.5 * m * math.exp(float(special.log_ndtr(mu - t_in)))
    if guesses_out:
        # By symmetry, the lower tail ½Φ(t − μ) + ½Φ(t) at t is the upper tail at μ − t.
        target = math.log(guesses_out / m)
        t_out = _root(lambda t: _log_mixture_tail(t - mu, mu) - target)
        total += 0.5 * m * math.exp(float(special.log_ndtr(t_out)))
    return min(total, float(guesses))


def _log_mixture_tail(minus_t: float, mu: float) -> float:
    """log(½Φ(μ + minus_t) + ½Φ(minus_t)): the mixture's upper tail at t = −minus_t."""
    return math.log(0.5) + float(
        special.logsumexp([special.log_ndtr(mu + minus_t), special.log_ndtr(minus_t)])
    )


def _root(function: Callable[[float], float]) -> float:
    # The tails are monotone in t and cover every target in (log 1e-300, 0] on [−60, 60].
    return float(optimize.brentq(function, -60.0, 60.0, xtol=1e-12))


def ideal_bound(
    canaries: int,
    guesses: int,
    mu: float,
    *,
    method: str,
    delta: float,
    beta: float,
    mu_scale: float = 1.0,
) -> float:
    """The bound ``method`` gives for ⌊E[correct]⌋ of ``guesses`` on μ-Gaussian canaries:
    the ideal auditor's (median) bound against exactly G_μ, at the same k, δ and β."""
    from privaudit.audit.bounds import one_run_epsilon_lower_bound, scaled_fdp_epsilon

    correct = math.floor(expected_correct(canaries, guesses, mu))
    if method == "one_run":
        return one_run_epsilon_lower_bound(canaries, guesses, correct, delta=delta, beta=beta)
    if method == "one_run_fdp":
        return scaled_fdp_epsilon(canaries, guesses, correct, delta, beta, mu_scale)
    raise InputError(ARGUMENT, "method", f"expected one_run or one_run_fdp; found {method!r}")


@dataclass(frozen=True)
class GuessPlan:
    """The guess count fixed before training and the ceiling it gives."""

    guesses: int
    ceiling: float
    """The ideal auditor's bound against exactly the claimed Gaussian at this k."""
    mu: float
    """μ* of the claimed Gaussian curve."""


def plan_for_ceiling(
    canaries: int,
    mu: float,
    *,
    method: str,
    delta: float,
    beta: float,
    mu_scale: float = 1.0,
) -> GuessPlan:
    """The k (from :data:`CEILING_FRACTIONS`) with the highest ceiling, and that ceiling."""
    choices = sorted({max(1, round(canaries * f)) for f in CEILING_FRACTIONS})
    best: GuessPlan | None = None
    for k in choices:
        value = ideal_bound(
            canaries, k, mu, method=method, delta=delta, beta=beta, mu_scale=mu_scale
        )
        if best is None or value > best.ceiling:
            best = GuessPlan(k, value, mu)
    assert best is not None
    return best
