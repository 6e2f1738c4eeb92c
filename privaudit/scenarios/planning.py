"""The noise each kind of variant is planned with, and the secure sum distributed noise goes over.

Distributed noise is planned for the worst dropout the secure sum tolerates: σ is calibrated so
that even with only ``threshold`` of the silos surviving every round the target ε holds (fewer
survivors abort the secure sum, so nothing is released). The ledger records the survivors each
round really had, so the ε it reports is the one actually spent, never more than planned. Local
noise is calibrated per silo at the same ε.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Aggregator = Callable[[int, Mapping[int, Any]], Any]
"""A round's aggregation: round number and each client's input -> the aggregate."""

NOISE_HEADROOM = 60
"""Standard deviations of noise the secure sum's value bound leaves room for: a Gaussian share
beyond it would be refused, and 60σ is never reached in practice."""


def calibrate_distributed(
    epsilon: float, delta: float, sampling_rate: float, rounds: int, clients: int, threshold: int
) -> float:
    """σ such that ``rounds`` rounds stay within ε even if only ``threshold`` of ``clients``
    survive each one: the surviving noise is σ·√(k/m) (DistributedGaussian), so calibrate the
    effective multiplier at k = threshold and scale it back up."""
    from privaudit.accounting.calibrate import calibrate_noise

    effective = calibrate_noise(epsilon, delta, sampling_rate, rounds).value
    return float(effective * math.sqrt(clients / threshold))


@lru_cache(maxsize=64)
def calibrate_local(epsilon: float, delta: float, sampling_rate: float, rounds: int) -> float:
    """σ of local DP-SGD at the deployment's ε: each silo's own noise for its own sampling rate
    (parallel composition over the disjoint silos, so each silo's run alone must meet ε)."""
    from privaudit.accounting.calibrate import calibrate_noise

    return float(calibrate_noise(epsilon, delta, sampling_rate, rounds).value)


@dataclass(frozen=True)
class SecureSum:
    """The secure aggregator of a scenario's silos: a round's sum is revealed only when
    ``threshold`` of them take part; every input must lie within ``value_bound``. Called as an
    aggregator it runs the protocol in process; an engine of real processes reads its fields."""

    threshold: int
    value_bound: float

    def __call__(self, round: int, inputs: Mapping[int, Any]) -> Any:
        from privaudit.federated import secure_aggregator

        return secure_aggregator(self.threshold, self.value_bound, bits=64)(round, inputs)


def secure_sum(threshold: int, parts: Sequence[Any], clip_norm: float, sigma: float) -> SecureSum:
    """The secure aggregator of silos ``parts``. Its value bound covers the largest silo's
    clipped-gradient sum plus the noise headroom."""
    bound = max(len(p) for p in parts) * clip_norm + NOISE_HEADROOM * sigma * clip_norm
    return SecureSum(threshold, bound)
