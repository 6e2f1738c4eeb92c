"""Closed-form and numerically integrated privacy curves used as test oracles.

None of these call dp_accounting or privaudit: they are independent of the code under test.
"""

from __future__ import annotations

import math

from scipy import integrate, optimize, stats


def gaussian_delta(epsilon: float, mu: float) -> float:
    """Exact δ(ε) of the Gaussian mechanism with sensitivity/σ = μ (Balle & Wang 2018, Thm. 8;
    Dong, Roth & Su 2019, Cor. 2.13): δ = Φ(-ε/μ + μ/2) - e^ε Φ(-ε/μ - μ/2)."""
    return float(
        stats.norm.cdf(-epsilon / mu + mu / 2)
        - math.exp(epsilon) * stats.norm.cdf(-epsilon / mu - mu / 2)
    )


def gaussian_epsilon(delta: float, mu: float) -> float:
    """Exact ε(δ) of the Gaussian mechanism, by bracketed root-finding on the monotone δ(ε)."""
    if gaussian_delta(0.0, mu) <= delta:
        return 0.0
    high = 1.0
    while gaussian_delta(high, mu) > delta:
        high *= 2
    return float(optimize.brentq(lambda e: gaussian_delta(e, mu) - delta, 0.0, high, xtol=1e-12))


def subsampled_gaussian_delta(epsilon: float, q: float, sigma: float) -> float:
    """Exact δ(ε) of ONE Poisson-subsampled Gaussian step under add-or-remove-one, by numerical
    integration of the hockey-stick divergence in both directions between
    P = (1-q)·N(0, σ²) + q·N(1, σ²) and Q = N(0, σ²)."""

    def p(x: float) -> float:
        return (1 - q) * stats.norm.pdf(x, 0, sigma) + q * stats.norm.pdf(x, 1, sigma)

    def qd(x: float) -> float:
        return float(stats.norm.pdf(x, 0, sigma))

    # The likelihood ratio P/Q = (1-q) + q·exp((2x-1)/(2σ²)) increases in x, so each hockey-stick
    # integrand is positive on one half-line whose end solves P/Q = e^{±ε}.
    def threshold(ratio: float) -> float:
        return sigma**2 * math.log((ratio - (1 - q)) / q) + 0.5

    width = 60 * sigma + 2
    upper = threshold(math.exp(epsilon))
    remove, _ = integrate.quad(
        lambda x: p(x) - math.exp(epsilon) * qd(x), upper, upper + width, epsabs=1e-15, limit=200
    )
    add = 0.0
    if math.exp(-epsilon) > 1 - q:
        lower = threshold(math.exp(-epsilon))
        add, _ = integrate.quad(
            lambda x: qd(x) - math.exp(epsilon) * p(x),
            lower - width,
            lower,
            epsabs=1e-15,
            limit=200,
        )
    return max(float(remove), float(add))


def subsampled_gaussian_epsilon(delta: float, q: float, sigma: float) -> float:
    if subsampled_gaussian_delta(0.0, q, sigma) <= delta:
        return 0.0
    high = 1.0
    while subsampled_gaussian_delta(high, q, sigma) > delta:
        high *= 2
    return float(
        optimize.brentq(
            lambda e: subsampled_gaussian_delta(e, q, sigma) - delta, 0.0, high, xtol=1e-10
        )
    )
