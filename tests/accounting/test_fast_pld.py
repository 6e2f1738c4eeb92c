"""The batched subsampled-Gaussian PLD must be dp_accounting's PLD, not an approximation of it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dp_accounting.pld import privacy_loss_distribution as pld_lib
from dp_accounting.pld import privacy_loss_mechanism as mechanisms

from privaudit.accounting.fast_pld import VectorisedGaussianPrivacyLoss, subsampled_gaussian_pld

CASES = [(256 / 60000, 1.1), (0.01, 1.0), (0.5, 0.8), (1.0, 2.0), (0.999, 0.6)]


@pytest.mark.parametrize(("q", "sigma"), CASES)
@pytest.mark.parametrize(
    "adjacency", [mechanisms.AdjacencyType.ADD, mechanisms.AdjacencyType.REMOVE]
)
def test_batched_hockey_stick_curve_equals_the_scalar_one(
    q: float, sigma: float, adjacency: mechanisms.AdjacencyType
) -> None:
    edges = [math.log1p(-q), -math.log1p(-q)] if q < 1 else []
    epsilons = np.concatenate([np.linspace(-6, 6, 1201), edges])
    reference = mechanisms.GaussianPrivacyLoss(sigma, sampling_prob=q, adjacency_type=adjacency)
    batched = VectorisedGaussianPrivacyLoss(sigma, sampling_prob=q, adjacency_type=adjacency)
    expected = np.array([reference.get_delta_for_epsilon(float(e)) for e in epsilons])
    np.testing.assert_allclose(
        batched.get_delta_for_epsilon(epsilons), expected, rtol=1e-12, atol=1e-16
    )


def test_scalar_epsilon_gives_a_float() -> None:
    loss = VectorisedGaussianPrivacyLoss(1.0, sampling_prob=0.1)
    assert isinstance(loss.get_delta_for_epsilon(0.5), float)


@pytest.mark.parametrize(("q", "sigma"), CASES)
def test_pld_equals_dp_accountings_public_constructor(q: float, sigma: float) -> None:
    reference = pld_lib.from_gaussian_mechanism(
        sigma, sampling_prob=q, value_discretization_interval=1e-3
    )
    batched = subsampled_gaussian_pld(sigma, q, 1e-3)
    for delta in (1e-3, 1e-5, 1e-9):
        assert batched.get_epsilon_for_delta(delta) == pytest.approx(
            reference.get_epsilon_for_delta(delta), rel=1e-9, abs=1e-12
        )
