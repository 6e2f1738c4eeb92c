"""Calibration: the noise, number of steps or sampling rate that meets a target ε at δ.

Every answer is found by bracketed bisection on a monotone certified bound and ends on the
passing side: the returned value is re-accounted and its ε is reported, and it is never above
the target (the opposite of overshooting is wasting a little privacy, which the tolerance bounds).
RDP (an upper bound on ε, so its calibrated σ is always feasible) gives the bracket; PLD, which is
within 0.1% of the exact ε, decides the answer. As in dp_accounting's mechanism_calibration.py
and Opacus' get_noise_multiplier, but the search ends on the feasible side by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from privaudit.accounting.accountant import PldAccountant
from privaudit.errors import InputError
from privaudit.mechanisms import Gaussian, Mechanism, PoissonSampled, SelfComposed

CALIBRATION_DISCRETISATION = 2e-4
"""PLD grid for calibration: within ~0.02% of exact ε on DP-SGD, 3× cheaper than 1e-4."""


@dataclass(frozen=True)
class Calibration:
    """A calibrated parameter and the certified ε it gives (always ≤ the target)."""

    parameter: str
    value: float
    epsilon: float
    delta: float
    target_epsilon: float
    evaluations: int
    method: str = "pld"


def dpsgd_mechanism(noise_multiplier: float, sampling_rate: float, steps: int) -> Mechanism:
    step: Mechanism = Gaussian(noise_multiplier=noise_multiplier)
    if sampling_rate < 1:
        step = PoissonSampled(sampling_rate=sampling_rate, event=step)
    return step if steps == 1 else SelfComposed(event=step, count=steps)


def epsilon_of(
    noise_multiplier: float,
    sampling_rate: float,
    steps: int,
    delta: float,
    discretisation: float = CALIBRATION_DISCRETISATION,
) -> float:
    """Certified (PLD) ε of ``steps`` Poisson-subsampled Gaussian steps."""
    step = dpsgd_mechanism(noise_multiplier, sampling_rate, 1)
    return PldAccountant(discretisation=discretisation).compose(step, steps).get_epsilon(delta)


def calibrate_noise(
    target_epsilon: float,
    delta: float,
    sampling_rate: float,
    steps: int,
    *,
    tolerance: float = 1e-3,
    discretisation: float = CALIBRATION_DISCRETISATION,
) -> Calibration:
    """Smallest noise multiplier (to relative ``tolerance``) whose ε at δ is ≤ the target."""
    _check(target_epsilon, delta, sampling_rate, steps)
    evaluations = 0

    def feasible(sigma: float) -> tuple[bool, float]:
        nonlocal evaluations
        evaluations += 1
        eps = epsilon_of(sigma, sampling_rate, steps, delta, discretisation)
        return eps <= target_epsilon, eps

    # ε decreases in σ. Walk down from a large σ so the first failing σ is at most ~4× over
    # the target: accounting a wildly private-less configuration would need a huge PLD window.
    high, high_eps = _bracket_up(feasible, start=64.0)
    low = high / 2
    while True:
        ok, eps = feasible(low)
        if not ok:
            break
        high, high_eps = low, eps
        low /= 2
        if low < 1e-4:
            raise InputError("<argument>", "target_epsilon", "is met by any noise; nothing to do")
    while high / low - 1 > tolerance:
        middle = math.sqrt(low * high)
        ok, eps = feasible(middle)
        if ok:
            high, high_eps = middle, eps
        else:
            low = middle
    return Calibration("noise_multiplier", high, high_eps, delta, target_epsilon, evaluations)


def calibrate_steps(
    target_epsilon: float,
    delta: float,
    noise_multiplier: float,
    sampling_rate: float,
    *,
    max_steps: int = 10**8,
    discretisation: float = CALIBRATION_DISCRETISATION,
) -> Calibration:
    """Largest number of steps whose ε at δ is ≤ the target (0 if even one step exceeds it)."""
    _check(target_epsilon, delta, sampling_rate, 1)
    evaluations = 0

    def eps_at(steps: int) -> float:
        nonlocal evaluations
        evaluations += 1
        return epsilon_of(noise_multiplier, sampling_rate, steps, delta, discretisation)

    first = eps_at(1)
    if first > target_epsilon:
        return Calibration("steps", 0, 0.0, delta, target_epsilon, evaluations)
    good, good_eps, bad = 1, first, 2
    while bad <= max_steps:
        eps = eps_at(bad)
        if eps > target_epsilon:
            break
        good, good_eps, bad = bad, eps, bad * 2
    else:
        return Calibration("steps", good, good_eps, delta, target_epsilon, evaluations)
    while bad - good > 1:
        middle = (good + bad) // 2
        eps = eps_at(middle)
        if eps <= target_epsilon:
            good, good_eps = middle, eps
        else:
            bad = middle
    return Calibration("steps", good, good_eps, delta, target_epsilon, evaluations)


def calibrate_sampling_rate(
    target_epsilon: float,
    delta: float,
    noise_multiplier: float,
    steps: int,
    *,
    tolerance: float = 1e-3,
    discretisation: float = CALIBRATION_DISCRETISATION,
) -> Calibration:
    """Largest sampling rate (to relative ``tolerance``) whose ε at δ is ≤ the target."""
    _check(target_epsilon, delta, 1.0, steps)
    evaluations = 0

    def feasible(rate: float) -> tuple[bool, float]:
        nonlocal evaluations
        evaluations += 1
        eps = epsilon_of(noise_multiplier, rate, steps, delta, discretisation)
        return eps <= target_epsilon, eps

    # ε grows with q: start small and double, so the first failing rate is near the target.
    low = 2.0**-12
    ok, low_eps = feasible(low)
    while not ok:
        low /= 2
        if low < 1e-12:
            return Calibration("sampling_rate", 0.0, 0.0, delta, target_epsilon, evaluations)
        ok, low_eps = feasible(low)
    while True:
        high = min(1.0, 2 * low)
        ok, eps = feasible(high)
        if not ok:
            break
        low, low_eps = high, eps
        if high == 1.0:
            return Calibration("sampling_rate", 1.0, eps, delta, target_epsilon, evaluations)
    while high / low - 1 > tolerance:
        middle = math.sqrt(low * high)
        ok, eps = feasible(middle)
        if ok:
            low, low_eps = middle, eps
        else:
            high = middle
    return Calibration("sampling_rate", low, low_eps, delta, target_epsilon, evaluations)


def _bracket_up(
    feasible: Callable[[float], tuple[bool, float]], start: float
) -> tuple[float, float]:
    sigma = start
    while True:
        ok, eps = feasible(sigma)
        if ok:
            return sigma, eps
        sigma *= 2
        if sigma > 1e6:
            raise InputError(
                "<argument>", "target_epsilon", "cannot be met with any noise multiplier ≤ 1e6"
            )


def _check(target_epsilon: float, delta: float, sampling_rate: float, steps: int) -> None:
    if not (isinstance(target_epsilon, float | int) and 0 < target_epsilon < math.inf):
        raise InputError("<argument>", "target_epsilon", f"must be > 0; found {target_epsilon!r}")
    if not (isinstance(delta, float | int) and 0 < delta < 1):
        raise InputError("<argument>", "delta", f"must be in (0, 1); found {delta!r}")
    if not (isinstance(sampling_rate, float | int) and 0 < sampling_rate <= 1):
        raise InputError(
            "<argument>", "sampling_rate", f"must be in (0, 1]; found {sampling_rate!r}"
        )
    if not (isinstance(steps, int) and steps >= 1):
        raise InputError("<argument>", "steps", f"must be an integer >= 1; found {steps!r}")
