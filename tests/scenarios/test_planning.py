"""Distributed noise planned for dropouts (privaudit.scenarios.planning): ε holds when only the
threshold survive, and is not wasted."""

from __future__ import annotations

import pytest

from privaudit.accounting.accountant import account
from privaudit.mechanisms import DistributedGaussian
from privaudit.scenarios.planning import calibrate_distributed


@pytest.mark.parametrize(("clients", "threshold"), [(3, 2), (10, 7)])
def test_noise_planned_for_the_threshold_keeps_epsilon_when_only_threshold_survive(
    clients: int, threshold: int
) -> None:
    sigma = calibrate_distributed(1.0, 1e-6, 0.01, 300, clients, threshold)
    worst = DistributedGaussian(
        noise_multiplier=sigma,
        clients=clients,
        survivors=threshold,
        sampling_rate=0.01,
        steps=300,
    )
    epsilon = account([worst], 1e-6).epsilon
    assert epsilon <= 1.0
    assert epsilon > 0.98  # calibrated, not wasted
    everyone = worst.model_copy(update={"survivors": clients})
    assert account([everyone], 1e-6).epsilon < epsilon
