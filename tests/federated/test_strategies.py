"""The server strategies: what the DP-FedAvg server sees and the noise it adds, silo selection,
weighted averaging across silos, and the releases each strategy records."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from privaudit.data.partition import iid
from privaudit.errors import InputError
from privaudit.federated.aggregation import ideal_secure_sum
from privaudit.federated.averaging import average, weighted_average
from privaudit.federated.clients import DpFedAvgClient
from privaudit.federated.compression import encode
from privaudit.federated.config import DpFedAvgConfig, LocalDpSgdConfig
from privaudit.federated.heterogeneity import Absence, Heterogeneity
from privaudit.federated.ledger import write_ledger
from privaudit.federated.messages import UpdateMessage
from privaudit.federated.results import LedgerItem
from privaudit.federated.runs import run_distributed_dpsgd, run_dp_fedavg, run_local_dpsgd
from privaudit.federated.simulation import simulate
from privaudit.federated.strategies import LocalDpSgdStrategy
from privaudit.mechanisms import DpFedAvg, DpSgd, NonPrivate, Sampling
from privaudit.train.dpsgd import make_generator
from privaudit.train.models import softmax_regression
from tests.federated.support import (
    ALPHA,
    FixedClient,
    assert_std,
    blobs,
    fedavg_server,
    history,
    silent_config,
    silent_silos,
)


def test_dpfedavg_server_sees_clipped_deltas_of_sampled_clients_and_adds_noise_once() -> None:
    x, y = blobs(800, d=20)
    x = x.astype(np.float64)
    parts = iid(len(x), 10, seed=1)
    clip, z, q = 0.05, 1.3, 0.5
    config = DpFedAvgConfig(
        rounds=12,
        client_sampling_rate=q,
        noise_multiplier=z,
        clip_norm=clip,
        local_learning_rate=0.5,
    )
    model = softmax_regression(20, 2)
    clients = {
        i: DpFedAvgClient(
            i,
            x,
            y,
            rows,
            model,
            make_generator(100 + i),
            epochs=1,
            batch_size=16,
            learning_rate=0.5,
        )
        for i, rows in enumerate(parts)
    }
    server = fedavg_server(config, len(clients), model)
    params, record = history(server)
    result = simulate(server, clients, 12, environment=make_generator(3), on_round=record)

    residuals = []
    by_round: dict[int, list[UpdateMessage]] = {}
    for message in server.received:
        assert isinstance(message, UpdateMessage)
        assert message.kind == "delta"
        by_round.setdefault(message.round, []).append(message)
    norms = []
    for rec in result.rounds:
        received = by_round.get(rec.round, [])
        assert sorted(m.client_id for m in received) == list(rec.selected) == list(rec.survivors)
        for message in received:
            norms.append(float(np.linalg.norm(message.vector)))
        # θ_r − θ_{r−1} = (Σ received + N(0, (zC)²)) / (qN): what is left is one noise draw.
        total = sum((m.vector for m in received), np.zeros_like(params[0]))
        residuals.append((params[rec.round] - params[rec.round - 1]) * q * len(clients) - total)
    assert max(norms) <= clip * (1 + 1e-9)
    assert min(norms) > 0.99 * clip  # the local steps were long enough for clipping to bite
    assert_std(np.concatenate(residuals), z * clip)
    assert result.ledger_entries == tuple(
        LedgerItem(
            None, DpFedAvg(noise_multiplier=z, client_sampling_rate=q, rounds=1), {"round": r}
        )
        for r in range(1, 13)
    )
    assert result.privacy_unit == "client"


def test_dpfedavg_noise_of_the_aggregate_is_zc_with_zero_updates() -> None:
    model = softmax_regression(99, 5)  # 500 parameters
    population, q, z, clip, rounds = 40, 0.25, 0.8, 2.0, 8
    config = DpFedAvgConfig(
        rounds=rounds, client_sampling_rate=q, noise_multiplier=z, clip_norm=clip
    )
    server = fedavg_server(config, population, model)
    clients = {i: FixedClient(i, np.zeros(model.n_params)) for i in range(population)}
    params, record = history(server)
    result = simulate(server, clients, rounds, environment=make_generator(4), on_round=record)
    noise = np.concatenate([np.diff(np.stack(params), axis=0).ravel() * q * population])
    assert abs(noise.mean()) < stats.norm.ppf(1 - ALPHA / 2) * z * clip / math.sqrt(noise.size)
    assert_std(noise, z * clip)
    # Poisson sampling of clients at rate q.
    sampled = sum(len(r.selected) for r in result.rounds)
    low, high = stats.binom.ppf([ALPHA / 2, 1 - ALPHA / 2], population * rounds, q)
    assert low <= sampled <= high


def test_dpfedavg_without_noise_records_non_private() -> None:
    x, y = blobs(200)
    config = DpFedAvgConfig(rounds=2, client_sampling_rate=1.0, noise_multiplier=0.0, clip_norm=1)
    result = run_dp_fedavg(x, y, iid(len(x), 4, seed=0), config)
    assert [item.mechanism for item in result.ledger_entries] == [NonPrivate(), NonPrivate()]


def test_silo_selection_splits_the_noise_among_the_asked() -> None:
    x, y, parts = silent_silos(n=5)
    config = silent_config(3, silos_per_round=2)
    result = run_distributed_dpsgd(x, y, parts, config, aggregator=ideal_secure_sum, n_classes=4)
    assert all(len(r.selected) == 2 for r in result.rounds)
    assert {(m.clients, m.survivors) for m in (i.mechanism for i in result.ledger_entries)} == {  # type: ignore[union-attr]
        (2, 2)
    }


def test_local_dpsgd_writes_one_partition_per_silo(tmp_path: Any) -> None:
    x, y = blobs(600)
    parts = iid(len(x), 3, seed=0)
    config = LocalDpSgdConfig(
        rounds=4,
        noise_multiplier=1.1,
        clip_norm=1.0,
        sampling_rate=0.1,
        learning_rate=0.5,
        local_steps=2,
        seed=1,
    )
    world = Heterogeneity(absences=(Absence(client=1, first_round=2, last_round=2),))
    result = run_local_dpsgd(x, y, parts, config, silo_names=["a", "b", "c"], heterogeneity=world)
    assert len(result.ledger_entries) == 11  # silo b missed round 2
    step = DpSgd(noise_multiplier=1.1, sampling_rate=0.1, steps=2, sampling=Sampling.POISSON)
    assert {item.mechanism for item in result.ledger_entries} == {step}
    entries = write_ledger(result, tmp_path / "l.jsonl", "bank", "fl-1")
    summary = sorted(
        (e.partition, e.mechanism.steps, e.meta["first_round"], e.meta["last_round"])  # type: ignore[union-attr]
        for e in entries
    )
    assert summary == [("a", 8, 1, 4), ("b", 2, 1, 1), ("b", 4, 3, 4), ("c", 8, 1, 4)]
    assert {e.privacy_unit for e in entries} == {"example"}


def test_local_strategy_weighted_and_uniform_averaging() -> None:
    deltas = {0: np.array([1.0, 0.0]), 1: np.array([0.0, 4.0])}
    sizes = {0: 30.0, 1: 10.0}

    def step(weighting: Any) -> np.ndarray[Any, Any]:
        config = LocalDpSgdConfig(
            rounds=1,
            noise_multiplier=1.0,
            clip_norm=1.0,
            sampling_rate=0.5,
            learning_rate=0.1,
            weighting=weighting,
            server_learning_rate=0.5,
        )
        strategy = LocalDpSgdStrategy(config, {0: "s0", 1: "s1"}, make_generator(0))
        strategy.configure_fit(1, np.zeros(2), [0, 1])
        messages = [UpdateMessage(c, 1, encode(deltas[c]), "noisy_delta", sizes[c]) for c in (0, 1)]
        return strategy.aggregate_fit(1, np.zeros(2), messages).params

    # Σ nᵢΔᵢ / Σ nᵢ = (30·[1, 0] + 10·[0, 4]) / 40, times the server rate ½.
    np.testing.assert_allclose(step("size"), 0.5 * np.array([0.75, 1.0]))
    np.testing.assert_allclose(step("uniform"), 0.5 * np.array([0.5, 2.0]))
    np.testing.assert_allclose(weighted_average([deltas[0], deltas[1]], [3, 1]), [0.75, 1.0])
    np.testing.assert_allclose(average([deltas[0], deltas[1]]), [0.5, 2.0])
    with pytest.raises(InputError, match="weights"):
        weighted_average([deltas[0]], [1.0, 2.0])
    with pytest.raises(InputError, match="weights"):
        weighted_average([deltas[0]], [0.0])
