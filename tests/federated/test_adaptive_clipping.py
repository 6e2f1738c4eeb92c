"""Adaptive clipping (Andrew et al. 2021): the noise split keeps the stated multiplier and C
moves to the target quantile."""

from __future__ import annotations

import math

import numpy as np
import pytest

from privaudit.errors import InputError
from privaudit.federated.adaptive_clipping import geometric_clip_update, update_noise_multiplier
from privaudit.federated.config import AdaptiveClipping, DpFedAvgConfig
from privaudit.federated.messages import UpdateMessage
from privaudit.federated.simulation import simulate
from privaudit.federated.strategies import DpFedAvgStrategy
from privaudit.train.dpsgd import make_generator
from privaudit.train.models import softmax_regression
from tests.federated.support import FixedClient, fedavg_server


def test_adaptive_clipping_noise_split_gives_the_stated_multiplier() -> None:
    z, sigma_b = 1.1, 2.0
    z_delta = update_noise_multiplier(z, sigma_b)
    # Andrew et al. 2021, Thm. 1: the two releases together are one Gaussian of multiplier z.
    assert (z_delta**-2 + (2 * sigma_b) ** -2) ** -0.5 == pytest.approx(z, rel=1e-12)
    assert z_delta > z
    assert update_noise_multiplier(0.0, 0.0) == 0.0
    with pytest.raises(InputError, match="count_noise"):
        update_noise_multiplier(1.0, 0.5)
    assert geometric_clip_update(2.0, 0.7, 0.5, 0.2) == pytest.approx(2.0 * math.exp(-0.04))
    assert geometric_clip_update(2.0, 0.5, 0.5, 0.2) == 2.0


def test_adaptive_clipping_moves_c_to_the_target_quantile() -> None:
    population, d = 50, 30
    rng = np.random.default_rng(5)
    norms = np.exp(rng.normal(np.log(4.0), 0.5, size=population))  # median ≈ 4
    directions = rng.normal(size=(population, d))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    model = softmax_regression(14, 2)  # 30 parameters
    config = DpFedAvgConfig(
        rounds=150,
        client_sampling_rate=1.0,
        noise_multiplier=0.5,
        clip_norm=0.1,
        adaptive_clipping=AdaptiveClipping(target_quantile=0.3, learning_rate=0.2, count_noise=1.0),
    )
    server = fedavg_server(config, population, model)
    clients = {i: FixedClient(i, directions[i] * norms[i]) for i in range(population)}
    result = simulate(server, clients, 150, environment=make_generator(6))
    target = float(np.quantile(norms, 0.3))
    final = np.mean([r.clip_norm for r in result.rounds[-30:]])
    assert result.rounds[0].clip_norm == 0.1
    assert 0.8 * target < final < 1.25 * target
    assert all(m.unclipped is not None for m in server.received if isinstance(m, UpdateMessage))
    assert all(r.unclipped_fraction is not None for r in result.rounds)
    # The ledger carries the stated total z, whatever the split between deltas and count.
    assert {item.mechanism.noise_multiplier for item in result.ledger_entries} == {0.5}  # type: ignore[union-attr]


def test_adaptive_clipping_refuses_a_count_noise_that_leaves_nothing_for_the_deltas() -> None:
    config = DpFedAvgConfig(
        rounds=1,
        client_sampling_rate=0.5,
        noise_multiplier=1.0,
        clip_norm=1.0,
        adaptive_clipping=AdaptiveClipping(),  # σ_b = qN/20 = 0.1 here: far too little
    )
    with pytest.raises(InputError, match="count_noise"):
        DpFedAvgStrategy(config, 4, make_generator(0))
