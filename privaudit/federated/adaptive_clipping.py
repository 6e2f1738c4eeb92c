"""Adaptive clipping's server side (Andrew et al. 2021): the noise split and the clip norm's
geometric update towards a target quantile of the update norms."""

from __future__ import annotations

import math

import numpy as np

from privaudit.checks import ARGUMENT
from privaudit.errors import InputError


def update_noise_multiplier(noise_multiplier: float, count_noise: float) -> float:
    """The deltas' multiplier z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2) that, with the clipped-count query
    at noise σ_b, makes one round a Gaussian mechanism of multiplier z (Andrew et al. 2021,
    Thm. 1: the centred bit bᵢ − ½ has sensitivity ½, so the count's multiplier is 2σ_b and
    the inverse squared multipliers add)."""
    if noise_multiplier == 0:
        return 0.0
    if not (2 * count_noise > noise_multiplier):
        raise InputError(
            ARGUMENT,
            "adaptive_clipping.count_noise",
            f"must be > z/2 = {noise_multiplier / 2:g} for the deltas to keep any noise budget "
            f"(Andrew et al. 2021, Thm. 1); found {count_noise:g}",
        )
    return float((noise_multiplier**-2 - (2 * count_noise) ** -2) ** -0.5)


def noisy_unclipped_fraction(
    centred_bits: float, count_noise: float, expected_clients: float, rng: np.random.Generator
) -> float:
    """b̄ = ½ + (Σᵢ (bᵢ − ½) + N(0, σ_b²)) / (q·N): the private estimate of the fraction of
    updates with ‖Δ‖ ≤ C (Andrew et al. 2021, Alg. 1, with centred bits and the expected
    number of clients as the fixed denominator)."""
    noise = rng.normal(0.0, count_noise) if count_noise > 0 else 0.0
    return 0.5 + (centred_bits + noise) / expected_clients


def geometric_clip_update(
    clip_norm: float, unclipped_fraction: float, target_quantile: float, learning_rate: float
) -> float:
    """C ← C·exp(−η_C (b̄ − γ)) (Andrew et al. 2021, §2.2, the geometric update): C shrinks
    while more than the target fraction γ of the updates fit under it."""
    return float(clip_norm * math.exp(-learning_rate * (unclipped_fraction - target_quantile)))
