"""One-call runs: the same seed gives the same run, bad inputs name their field, and each of
the three modes learns."""

from __future__ import annotations

import numpy as np
import pytest

from privaudit.data.partition import iid
from privaudit.errors import InputError
from privaudit.federated.aggregation import ideal_secure_sum
from privaudit.federated.compression import Compression
from privaudit.federated.config import DistributedDpSgdConfig, DpFedAvgConfig, LocalDpSgdConfig
from privaudit.federated.heterogeneity import Heterogeneity
from privaudit.federated.results import FederatedResult
from privaudit.federated.runs import run_distributed_dpsgd, run_dp_fedavg, run_local_dpsgd
from privaudit.federated.server import Server
from privaudit.federated.simulation import simulate
from privaudit.mechanisms import NonPrivate
from privaudit.train.dpsgd import make_generator
from privaudit.train.models import softmax_regression
from tests.federated.support import blobs, non_iid_blobs


def test_same_seed_same_run() -> None:
    x, y = blobs(300)
    parts = iid(len(x), 3, seed=0)
    world = Heterogeneity(dropout_probability=0.3, straggler_probability=0.2)

    def run(seed: int) -> FederatedResult:
        config = DpFedAvgConfig(
            rounds=5, client_sampling_rate=0.7, noise_multiplier=1.0, clip_norm=1.0, seed=seed
        )
        return run_dp_fedavg(x, y, parts, config, heterogeneity=world)

    first, again, other = run(1), run(1), run(2)
    np.testing.assert_array_equal(first.params, again.params)
    assert [r.survivors for r in first.rounds] == [r.survivors for r in again.rounds]
    assert not np.array_equal(first.params, other.params)
    assert first.seed == 1


def test_bad_inputs_name_the_field() -> None:
    x, y = blobs(100)
    config = DpFedAvgConfig(rounds=1, client_sampling_rate=1.0, noise_multiplier=1, clip_norm=1)
    with pytest.raises(InputError, match="parts: expected disjoint"):
        run_dp_fedavg(x, y, [np.arange(60), np.arange(50, 100)], config)
    with pytest.raises(InputError, match="client_sampling_rate"):
        DpFedAvgConfig(rounds=1, client_sampling_rate=0.0, noise_multiplier=1, clip_norm=1)
    with pytest.raises(InputError, match=r"compression\.levels"):
        Compression(levels=1000)
    with pytest.raises(InputError, match="silo_names"):
        run_local_dpsgd(
            x,
            y,
            iid(len(x), 2, seed=0),
            LocalDpSgdConfig(
                rounds=1, noise_multiplier=1, clip_norm=1, sampling_rate=0.1, learning_rate=0.1
            ),
            silo_names=["ok", "not ok"],
        )
    with pytest.raises(InputError, match="aggregator"):
        server = Server(
            type("S", (), {"uses_aggregator": True, "mode": "distributed_dpsgd"})(),
            softmax_regression(2, 2),
            np.zeros(6),
        )
        simulate(server, {}, 1, environment=make_generator(0))


def test_dpfedavg_learns_non_iid_blobs() -> None:
    x, y, xt, yt, parts = non_iid_blobs()
    assert all(len(np.unique(y[p])) == 1 for p in parts)
    config = DpFedAvgConfig(
        rounds=10,
        client_sampling_rate=1.0,
        noise_multiplier=0.0,
        clip_norm=5.0,
        local_learning_rate=0.1,
        seed=0,
    )
    result = run_dp_fedavg(x, y, parts, config, x_test=xt, y_test=yt, evaluate_every=5)
    assert [r.metrics is not None for r in result.rounds] == [False] * 4 + [True] + [False] * 4 + [
        True
    ]
    final = result.final_metrics
    assert final is not None
    assert final["accuracy"] > 0.9 and final["roc_auc"] > 0.95


def test_distributed_dpsgd_learns_non_iid_blobs() -> None:
    x, y, xt, yt, parts = non_iid_blobs()
    config = DistributedDpSgdConfig(
        rounds=30, noise_multiplier=0.0, clip_norm=1.0, sampling_rate=0.2, learning_rate=0.5
    )
    result = run_distributed_dpsgd(
        x, y, parts, config, aggregator=ideal_secure_sum, x_test=xt, y_test=yt
    )
    final = result.final_metrics
    assert final is not None and final["accuracy"] > 0.9
    assert {item.mechanism for item in result.ledger_entries} == {NonPrivate()}


def test_local_dpsgd_learns_with_noise() -> None:
    x, y, xt, yt, parts = non_iid_blobs()
    config = LocalDpSgdConfig(
        rounds=15,
        noise_multiplier=1.0,
        clip_norm=1.0,
        sampling_rate=0.1,
        learning_rate=0.5,
        local_steps=2,
        weighting="uniform",
        seed=0,
    )
    result = run_local_dpsgd(x, y, parts, config, x_test=xt, y_test=yt, evaluate_every=15)
    final = result.final_metrics
    assert final is not None and final["accuracy"] > 0.85
