"""Single-release pessimistic connect-the-dots PLDs of the Gaussian and Laplace mechanisms.

One job: build, with numpy and scipy.special only, the discretised privacy-loss distribution
(PLD) that dp_accounting 0.6 builds for one release of

- the Gaussian mechanism, unsampled or Poisson-subsampled (``from_gaussian_mechanism``),
- the Laplace mechanism, unsampled or Poisson-subsampled (``from_laplace_mechanism``),

under add-or-remove-one adjacency, with its defaults (sensitivity 1, pessimistic estimate,
connect-the-dots, Gaussian tail truncation log-mass −50), in both directions (REMOVE and ADD).
The result is the same PMF as dp_accounting's: same lowest loss index, same length, same
probabilities and infinity mass. dp_accounting inverts the privacy loss one grid point at a time
in Python and imports scipy.stats/signal/optimize to do so; here every step is one numpy
expression over the whole grid, and every floating-point operation is the one dp_accounting
performs, in the same order, so the numbers agree to the last bit on the platforms tested
(tests/accounting/test_connect_dots.py checks rtol 1e-10 against the library, imported there as
the oracle). Nothing here rounds in a direction dp_accounting does not.

The construction (Doroshenko, Ghazi, Kamath, Kumar & Manurangsi 2022, "Connect the Dots: Tighter
Discrete Approximations of Privacy Loss Distributions", PETS 2022, Alg. 1, fixed-gap case):

1. Grid. Losses ε_i = i·h for i = ⌊ε_lower/h⌋ … ⌈ε_upper/h⌉, where [ε_lower, ε_upper] holds
   every finite loss that matters (``connect_dots_bounds`` in dp_accounting): for the Gaussian
   the losses at the noise truncation points, for the Laplace its whole (bounded) loss range.
2. Hockey-stick curve. δ_i = δ(ε_i) = μ_upper(x ≤ x_i) − e^{ε_i}·μ_lower(x ≤ x_i), where x_i is
   the largest x whose loss is ≥ ε_i (the loss decreases in x), i.e. the inverse privacy loss.
   The e^{ε}·μ_lower term is evaluated as exp(ε + log μ_lower_cdf) so it cannot overflow.
3. PMF (Alg. 1, with d = h): p_1 = 1 − δ_1 + (δ_2 − δ_1)/(e^d − 1);
   p_i = ((δ_{i+1} − δ_i) − e^d·(δ_i − δ_{i−1}))/(e^d − 1) for 1 < i < n;
   p_n = (δ_n − δ_{n−1})/(e^{−d} − 1); and mass δ_n at +∞. The PLD whose hockey-stick curve
   linearly interpolates (in e^ε) the true curve through these points dominates the true PLD
   (Doroshenko et al. 2022, Thm. 3.1), so every δ(ε) it gives is an upper bound.

Mechanisms (dp_accounting's supplementary material "Privacy Loss Distributions", Sec. 2 and 4;
noise μ symmetric, sensitivity Δ = 1, privaudit's multipliers are relative to it):

- REMOVE: μ_upper = (1 − q)·μ + q·μ(· + Δ), μ_lower = μ. ADD: μ_upper = μ,
  μ_lower = (1 − q)·μ + q·μ(· − Δ). With q = 1 both directions give the same PLD, so only
  REMOVE is built (dp_accounting returns a symmetric PLD then).
- Poisson subsampling (Zhu, Dong & Wang 2022, "Optimal Accounting of Differential Privacy via
  Characteristic Function", AISTATS, Thm. 4 / Sec. 5; also dp_accounting's supplement, Sec. 4):
  L_q = log(1 − q + q·e^{L}) (REMOVE) and L_q = −log(1 − q + q·e^{−L}) (ADD) in terms of the
  unsampled loss L, so the unsampled loss at a sampled ε is log(1 + (e^{ε} − 1)/q) (REMOVE) and
  −log(1 + (e^{−ε} − 1)/q) (ADD), computed in log space as log(a·e^b + c) with a = 1/q,
  c = 1 − 1/q. For ε ≤ log(1 − q) (REMOVE) δ = 1 − e^{ε}; for ε ≥ −log(1 − q) (ADD) δ = 0.
- Gaussian N(0, σ²): unsampled REMOVE loss L(x) = Δ(−Δ/2 − x)/σ², inverse x = −Δ/2 − εσ²/Δ
  (ADD: shifted by +Δ). Truncation: x_lo = σ·Φ⁻¹(e^{−50}/2), x_hi = −x_lo, widened by Δ on the
  side the shift moves (dp_accounting's ``privacy_loss_tail``); μ's cdf is Φ(x/σ) (``ndtr``) and
  its log-cdf ``log_ndtr`` (accurate far into the lower tail, unlike log(ndtr)).
- Laplace Lap(0, b) (loss range [−Δ/b, Δ/b], so no truncation is needed): unsampled REMOVE
  loss L(x) = (|x| − |x + Δ|)/b, inverse x = −(Δ + εb)/2 on (−Δ/b, Δ/b], +∞ below, −∞ above;
  cdf ½e^{x/b} for x ≤ 0 and 1 − ½e^{−x/b} above; log-cdf x/b + log ½ resp. log1p(−½e^{−x/b})
  (scipy.stats.laplace's own formulas, which dp_accounting calls).

Float-level notes. δ_i is the difference of two nearly equal terms and the PMF takes second
differences of δ divided by e^h − 1 ≈ h, so an ulp of difference in δ would show as ~1e-12·δ/h
in a probability; that is why this module repeats dp_accounting's operations exactly rather than
use algebraically equal forms. dp_accounting clips δ to [0, 1], refuses a curve that increases by
more than 1e-12 between grid points (raised here as ValueError, which the accountant reports as a
numerical failure, never as a number), replaces the curve by its running minimum and clips
negative probabilities to 0; all of these are reproduced as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import special

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

Direction = Literal["remove", "add"]

SENSITIVITY = 1.0
"""Δ: privaudit's noise multipliers and Laplace scales are relative to the sensitivity."""

LOG_MASS_TRUNCATION_BOUND = -50.0
"""dp_accounting's default: the Gaussian noise is cut where each tail holds e^{−50}/2."""

DELTA_DIFF_TOLERANCE = 1e-12
"""dp_accounting's ``_DELTA_DIFF_TOLERANCE``: a larger increase of δ(ε) along the grid is an
error (δ(ε) is non-increasing in ε)."""


@dataclass(frozen=True, eq=False)
class ConnectDotsPmf:
    """Mass ``probs[j]`` at loss ``(lower + j)·h`` and ``infinity`` at +∞ (one direction)."""

    h: float
    lower: int
    probs: FloatArray
    infinity: float


class _Noise:
    """A symmetric noise distribution μ with a loss that decreases in x (Gaussian, Laplace)."""

    def cdf(self, x: FloatArray) -> FloatArray:
        raise NotImplementedError

    def log_cdf(self, x: FloatArray) -> FloatArray:
        raise NotImplementedError

    def inverse_remove(self, losses: FloatArray) -> FloatArray:
        """Largest x whose unsampled REMOVE loss is ≥ each loss."""
        raise NotImplementedError

    def loss_bounds(self, q: float, direction: Direction) -> tuple[float, float]:
        """(ε_lower, ε_upper) of the connect-the-dots grid (dp_accounting's
        ``connect_dots_bounds``)."""
        raise NotImplementedError


class _Gaussian(_Noise):
    def __init__(self, sigma: float) -> None:
        if not sigma > 0:
            raise ValueError(f"Gaussian noise multiplier must be > 0; found {sigma!r}")
        self.sigma = float(sigma)
        self.variance = self.sigma**2

    def cdf(self, x: FloatArray) -> FloatArray:
        # scipy.stats.norm(scale=σ).cdf(x) is ndtr((x − 0)/σ).
        return np.asarray(special.ndtr(x / self.sigma), dtype=np.float64)

    def log_cdf(self, x: FloatArray) -> FloatArray:
        return np.asarray(special.log_ndtr(x / self.sigma), dtype=np.float64)

    def inverse_remove(self, losses: FloatArray) -> FloatArray:
        # −Δ/2 − ε·σ²/Δ, in dp_accounting's operation order.
        return np.asarray(
            -0.5 * SENSITIVITY - losses * self.variance / SENSITIVITY, dtype=np.float64
        )

    def _loss_remove(self, x: float) -> float:
        unsampled = SENSITIVITY * (-0.5 * SENSITIVITY - x) / self.variance
        return unsampled

    def loss_bounds(self, q: float, direction: Direction) -> tuple[float, float]:
        # Noise truncated where each tail of N(0, σ²) holds e^{−50}/2 (scipy's ppf: Φ⁻¹(p)·σ + 0),
        # widened by Δ on the side the shifted component reaches; the grid spans the sampled
        # losses at the two truncation points.
        lower_x = float(special.ndtri(0.5 * math.exp(LOG_MASS_TRUNCATION_BOUND)) * self.sigma)
        upper_x = -lower_x
        if direction == "add":
            upper_x += SENSITIVITY
        else:
            lower_x -= SENSITIVITY
        return (
            self._sampled_loss(upper_x, q, direction),
            self._sampled_loss(lower_x, q, direction),
        )

    def _sampled_loss(self, x: float, q: float, direction: Direction) -> float:
        # ADD's loss at x is minus REMOVE's at −x (μ symmetric).
        if direction == "add":
            return -self._sampled_loss_remove(-x, q)
        return self._sampled_loss_remove(x, q)

    def _sampled_loss_remove(self, x: float, q: float) -> float:
        unsampled = self._loss_remove(x)
        if q == 1.0:
            return unsampled
        # log(q·e^{L} + (1 − q)) (Zhu, Dong & Wang 2022, Thm. 4), as dp_accounting's
        # common.log_a_times_exp_b_plus_c with a = q > 0, c = 1 − q > 0.
        if unsampled == 0:
            return float(np.log(q + (1 - q)))
        d = unsampled + np.log(q)
        c = np.log(1 - q)
        low, high = min(d, c), max(d, c)
        return float(high + np.log1p(np.exp(low - high)))


class _Laplace(_Noise):
    def __init__(self, scale: float) -> None:
        if not scale > 0:
            raise ValueError(f"Laplace scale must be > 0; found {scale!r}")
        self.scale = float(scale)

    def cdf(self, x: FloatArray) -> FloatArray:
        # scipy.stats.laplace: ½e^{z} for z ≤ 0, 1 − ½e^{−z} above, z = x/b; ±∞ give 0 and 1.
        z = x / self.scale
        with np.errstate(over="ignore"):
            return np.asarray(
                np.where(z > 0, 1.0 - 0.5 * np.exp(-z), 0.5 * np.exp(z)), dtype=np.float64
            )

    def log_cdf(self, x: FloatArray) -> FloatArray:
        # scipy.stats' generic log-cdf split at the median 0: log(cdf(z)) below, log1p(−sf(z))
        # at and above, with sf(z) = cdf(−z) = ½e^{−z} there.
        z = x / self.scale
        with np.errstate(over="ignore", divide="ignore"):
            below = np.log(0.5 * np.exp(z))
            above = np.log1p(-(0.5 * np.exp(-z)))
        return np.asarray(np.where(z < 0, below, above), dtype=np.float64)

    def inverse_remove(self, losses: FloatArray) -> FloatArray:
        # Loss (|x| − |x + Δ|)/b ∈ [−Δ/b, Δ/b]: no x reaches a loss above Δ/b (−∞), every x
        # reaches one at or below −Δ/b (+∞), in between x = ½(−Δ − ε·b).
        threshold = losses * self.scale
        with np.errstate(invalid="ignore"):
            inside = 0.5 * (-SENSITIVITY - threshold)
        return np.asarray(
            np.where(
                threshold > SENSITIVITY,
                -math.inf,
                np.where(threshold <= -SENSITIVITY, math.inf, inside),
            ),
            dtype=np.float64,
        )

    def loss_bounds(self, q: float, direction: Direction) -> tuple[float, float]:
        # The whole loss range, mapped through subsampling (math.exp: dp_accounting's; an
        # OverflowError for b below ~1/709 is reported as a numerical failure, as it is there).
        top = SENSITIVITY / self.scale
        if q == 1.0:
            return -top, top
        if direction == "add":
            return (
                -math.log(1 - q + q * math.exp(top)),
                -math.log(1 - q + q * math.exp(-top)),
            )
        return (
            math.log(1 - q + q * math.exp(-top)),
            math.log(1 - q + q * math.exp(top)),
        )


def gaussian_pmf(sigma: float, q: float, h: float, direction: Direction) -> ConnectDotsPmf:
    """Pessimistic connect-the-dots PMF of one (Poisson-subsampled at rate ``q``) Gaussian
    release with noise multiplier ``sigma``, on loss grid ``h``, in ``direction``."""
    return _pmf(_Gaussian(sigma), q, h, direction)


def laplace_pmf(scale: float, q: float, h: float, direction: Direction) -> ConnectDotsPmf:
    """Pessimistic connect-the-dots PMF of one (Poisson-subsampled at rate ``q``) Laplace
    release with scale ``scale`` (relative to the L1 sensitivity), on grid ``h``."""
    return _pmf(_Laplace(scale), q, h, direction)


def _pmf(noise: _Noise, q: float, h: float, direction: Direction) -> ConnectDotsPmf:
    if not 0 < q <= 1:
        raise ValueError(f"sampling rate must be in (0, 1]; found {q!r}")
    if not h > 0:
        raise ValueError(f"discretisation must be > 0; found {h!r}")
    epsilon_lower, epsilon_upper = noise.loss_bounds(q, direction)
    lower = math.floor(epsilon_lower / h)
    upper = math.ceil(epsilon_upper / h)
    epsilons = np.asarray(np.arange(lower, upper + 1, dtype=np.int64) * h, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        deltas = _hockey_stick(noise, q, direction, epsilons)
    return _connect_dots(h, lower, upper, deltas)


# --- δ(ε) on the grid (dp_accounting's AdditiveNoisePrivacyLoss.get_delta_for_epsilon) --------


def _hockey_stick(
    noise: _Noise, q: float, direction: Direction, epsilons: FloatArray
) -> FloatArray:
    deltas = np.zeros_like(epsilons, dtype=np.float64)
    if q == 1.0:
        inside = np.ones_like(epsilons, dtype=bool)
    elif direction == "add":
        # δ = 0 once e^{ε}·μ_lower ≥ μ_upper everywhere, i.e. ε ≥ −log(1 − q).
        inside = epsilons < -math.log1p(-q)
    else:
        # δ = 1 − e^{ε} once e^{ε}·μ_lower ≤ μ_upper everywhere, i.e. ε ≤ log(1 − q).
        inside = epsilons > math.log1p(-q)
        deltas[~inside] = -np.expm1(epsilons[~inside])
    kept = epsilons[inside]
    cutoffs = _inverse_loss(noise, q, direction, kept)
    deltas[inside] = _mu_upper_cdf(noise, q, direction, cutoffs) - np.exp(
        kept + _mu_lower_log_cdf(noise, q, direction, cutoffs)
    )
    return np.asarray(np.clip(deltas, 0, 1), dtype=np.float64)


def _inverse_loss(
    noise: _Noise, q: float, direction: Direction, epsilons: FloatArray
) -> FloatArray:
    """Largest x whose (sampled) loss is ≥ ε, for every ε on the grid."""
    if q == 1.0:
        if direction == "add":
            return np.asarray(SENSITIVITY + noise.inverse_remove(epsilons), dtype=np.float64)
        return noise.inverse_remove(epsilons)
    if direction == "add":
        # Unsampled loss −log(1 + (e^{−ε} − 1)/q); at ε = −log(1 − q) it is +∞ (x = −∞).
        at_edge = _isclose(epsilons, -math.log(1 - q))
        unsampled = -_log_a_exp_b_plus_c(1 / q, -epsilons, 1 - 1 / q, at_edge)
        unsampled = np.where(at_edge, math.inf, unsampled)
        return np.asarray(SENSITIVITY + noise.inverse_remove(unsampled), dtype=np.float64)
    # REMOVE: unsampled loss log(1 + (e^{ε} − 1)/q); at ε = log(1 − q) it is −∞ (x = +∞).
    at_edge = _isclose(epsilons, math.log(1 - q))
    unsampled = _log_a_exp_b_plus_c(1 / q, epsilons, 1 - 1 / q, at_edge)
    unsampled = np.where(at_edge, -math.inf, unsampled)
    return noise.inverse_remove(unsampled)


def _log_a_exp_b_plus_c(
    a: float, b: FloatArray, c: float, skipped: np.ndarray[Any, np.dtype[np.bool_]]
) -> FloatArray:
    """log(a·e^b + c) for a > 0 ≥ c, elementwise, as dp_accounting's
    ``common.log_a_times_exp_b_plus_c`` computes it (including its b = 0 and c = 0 cases);
    entries where ``skipped`` is set are special-cased by the caller and never checked."""
    d = b + np.log(a)
    if c == 0:
        return np.asarray(d, dtype=np.float64)
    log_minus_c = np.log(-c)
    # dp_accounting's _log_sub refuses log(e^d − e^{log(−c)}) when log(−c) ≥ d (the argument of
    # the log would be ≤ 0); it cannot happen inside the ranges callers pass, but if float
    # rounding ever produced it, it is an error (reported as a numerical failure), never a 0.
    if np.any((log_minus_c >= d) & (b != 0) & ~skipped):
        raise ValueError("log(a·e^b + c) of a non-positive number in the subsampled loss inverse")
    general = d + np.log1p(-np.exp(log_minus_c - d))
    return np.asarray(np.where(b == 0, np.log(a + c), general), dtype=np.float64)


def _isclose(values: FloatArray, target: float) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """``math.isclose(value, target)`` (rel_tol 1e-9, symmetric; abs_tol 0), elementwise."""
    result: np.ndarray[Any, np.dtype[np.bool_]] = np.abs(values - target) <= 1e-9 * np.maximum(
        np.abs(values), abs(target)
    )
    return result


def _mu_upper_cdf(noise: _Noise, q: float, direction: Direction, x: FloatArray) -> FloatArray:
    if direction == "add":
        return noise.cdf(x)
    if q == 1.0:
        return noise.cdf(np.add(x, SENSITIVITY))
    return np.asarray(
        (1 - q) * noise.cdf(x) + q * noise.cdf(np.add(x, SENSITIVITY)), dtype=np.float64
    )


def _mu_lower_log_cdf(noise: _Noise, q: float, direction: Direction, x: FloatArray) -> FloatArray:
    if direction == "remove":
        return noise.log_cdf(x)
    if q == 1.0:
        return noise.log_cdf(np.add(x, -SENSITIVITY))
    # log((1 − q)·μ_cdf(x) + q·μ_cdf(x − Δ)), in log space.
    return np.asarray(
        np.logaddexp(
            np.log1p(-q) + noise.log_cdf(x), np.log(q) + noise.log_cdf(np.add(x, -SENSITIVITY))
        ),
        dtype=np.float64,
    )


# --- δ curve → PMF (Doroshenko et al. 2022, Alg. 1; dp_accounting's
# pld_pmf.create_pmf_pessimistic_connect_dots_fixed_gap) -------------------------------------


def _connect_dots(h: float, lower: int, upper: int, deltas: FloatArray) -> ConnectDotsPmf:
    if upper < lower or deltas.size != upper - lower + 1:
        raise ValueError("connect-the-dots grid and δ curve disagree in length")
    if np.any(deltas < 0) or np.any(deltas > 1):
        raise ValueError("δ outside [0, 1] on the connect-the-dots grid")
    if lower == upper:
        # One grid point: mass 1 − δ₁ there and δ₁ at +∞.
        return ConnectDotsPmf(h, lower, np.array([1 - deltas[0]]), float(deltas[0]))
    if np.any(np.diff(deltas) > DELTA_DIFF_TOLERANCE):
        raise ValueError("δ(ε) increases along the connect-the-dots grid beyond round-off")
    deltas = np.minimum.accumulate(deltas)
    diffs = np.diff(deltas)
    probs = np.zeros_like(deltas)
    probs[0] = 1 - deltas[0] + diffs[0] / math.expm1(h)
    probs[1:-1] = (diffs[1:] - diffs[:-1] * math.exp(h)) / math.expm1(h)
    probs[-1] = diffs[-1] / math.expm1(-h)
    probs = np.maximum(0.0, probs)
    return ConnectDotsPmf(h, lower, probs, float(deltas[-1]))
