"""The federated simulator (privaudit.federated): what the server sees, the noise it
carries, what the ledger records, and that the three modes learn."""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import stats

from privaudit.data.partition import iid, shards
from privaudit.errors import InputError
from privaudit.federated import (
    QSGD_8BIT,
    Absence,
    AdaptiveClipping,
    AggregateMessage,
    Compression,
    DistributedDpSgdConfig,
    DpFedAvgClient,
    DpFedAvgConfig,
    DpFedAvgStrategy,
    FederatedResult,
    Heterogeneity,
    LedgerItem,
    LocalDpSgdConfig,
    LocalDpSgdStrategy,
    ModelMessage,
    RoundRecord,
    Server,
    UpdateMessage,
    average,
    clip_to_norm,
    coalesce_entries,
    dequantise,
    encode,
    evaluate,
    geometric_clip_update,
    ideal_secure_sum,
    plain_sum,
    quantise,
    run_distributed_dpsgd,
    run_dp_fedavg,
    run_local_dpsgd,
    secure_aggregator,
    simulate,
    top_k,
    update_noise_multiplier,
    weighted_average,
    write_ledger,
)
from privaudit.ledger import read_ledger
from privaudit.mechanisms import DistributedGaussian, DpFedAvg, DpSgd, NonPrivate, Sampling
from privaudit.train.dpsgd import make_generator
from privaudit.train.models import Mlp, softmax_regression

ALPHA = 1e-6
"""Two-sided level of the statistical tests: a correct implementation fails one about once in a
million runs (and the seeds are fixed, so a pass is reproducible)."""


def _variance_bounds(values: np.ndarray[Any, Any], sigma: float) -> tuple[float, float, float]:
    """(lower, observed, upper): the χ² acceptance interval for Σ v² / σ² with known mean 0."""
    dof = values.size
    observed = float(np.sum(np.asarray(values, dtype=np.float64) ** 2) / sigma**2)
    return stats.chi2.ppf(ALPHA / 2, dof), observed, stats.chi2.ppf(1 - ALPHA / 2, dof)


def _assert_std(values: np.ndarray[Any, Any], sigma: float) -> None:
    low, observed, high = _variance_bounds(values, sigma)
    assert low < observed < high, (low, observed, high)


def _blobs(n: int, d: int = 10, *, seed: int = 0) -> tuple[Any, Any]:
    """Two Gaussian blobs at ±1.5 along the first axis (Bayes accuracy ≈ 93%... 99.9%)."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2).astype(np.int64)
    x = rng.normal(0.0, 1.0, size=(len(y), d))
    x[:, 0] += np.where(y == 1, 3.0, -3.0)
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order]


class _FixedClient:
    """A client whose update is a fixed vector (clipped to the round's C), and its bit."""

    def __init__(self, client_id: int, vector: np.ndarray[Any, Any]) -> None:
        self.client_id = client_id
        self.vector = vector

    def fit(self, message: ModelMessage) -> UpdateMessage:
        clip = message.clip_norm if message.clip_norm is not None else math.inf
        clipped, norm = clip_to_norm(self.vector.astype(message.params.dtype), clip)
        return UpdateMessage(
            client_id=self.client_id,
            round=message.round,
            payload=encode(clipped),
            kind="delta",
            weight=1.0,
            unclipped=bool(norm <= clip) if message.report_clipping else None,
        )


def _fedavg_server(
    config: DpFedAvgConfig, population: int, model: Mlp, dtype: Any = np.float64
) -> Server:
    strategy = DpFedAvgStrategy(config, population, make_generator(11))
    return Server(strategy, model, model.init(make_generator(12), dtype))


def _history(server: Server) -> tuple[list[np.ndarray[Any, Any]], Callable[[RoundRecord], None]]:
    params = [np.array(server.params)]
    return params, lambda _: params.append(np.array(server.params))


# --- DP-FedAvg: the server's view and its noise -----------------------------------------------


def test_dpfedavg_server_sees_clipped_deltas_of_sampled_clients_and_adds_noise_once() -> None:
    x, y = _blobs(800, d=20)
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
    server = _fedavg_server(config, len(clients), model)
    params, record = _history(server)
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
    _assert_std(np.concatenate(residuals), z * clip)
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
    server = _fedavg_server(config, population, model)
    clients = {i: _FixedClient(i, np.zeros(model.n_params)) for i in range(population)}
    params, record = _history(server)
    result = simulate(server, clients, rounds, environment=make_generator(4), on_round=record)
    noise = np.concatenate([np.diff(np.stack(params), axis=0).ravel() * q * population])
    assert abs(noise.mean()) < stats.norm.ppf(1 - ALPHA / 2) * z * clip / math.sqrt(noise.size)
    _assert_std(noise, z * clip)
    # Poisson sampling of clients at rate q.
    sampled = sum(len(r.selected) for r in result.rounds)
    low, high = stats.binom.ppf([ALPHA / 2, 1 - ALPHA / 2], population * rounds, q)
    assert low <= sampled <= high


def test_dpfedavg_without_noise_records_non_private() -> None:
    x, y = _blobs(200)
    config = DpFedAvgConfig(rounds=2, client_sampling_rate=1.0, noise_multiplier=0.0, clip_norm=1)
    result = run_dp_fedavg(x, y, iid(len(x), 4, seed=0), config)
    assert [item.mechanism for item in result.ledger_entries] == [NonPrivate(), NonPrivate()]


# --- adaptive clipping -------------------------------------------------------------------------


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
    server = _fedavg_server(config, population, model)
    clients = {i: _FixedClient(i, directions[i] * norms[i]) for i in range(population)}
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


# --- distributed DP ----------------------------------------------------------------------------


def _silent_silos(n: int = 4, per_silo: int = 50, d: int = 74) -> tuple[Any, Any, list[Any]]:
    """Silos whose Poisson samples are (all but surely) empty at q = 1e-7: their shares are
    pure noise. 75 features × 4 classes = 300 parameters."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(n * per_silo, d)).astype(np.float64)
    y = rng.integers(0, 4, size=n * per_silo).astype(np.int64)
    y[:4] = [0, 1, 2, 3]
    return x, y, iid(len(x), n, seed=2)


def test_distributed_plain_sum_shows_the_server_each_noisy_share() -> None:
    x, y, parts = _silent_silos()
    sigma, clip = 2.0, 0.5
    config = DistributedDpSgdConfig(
        rounds=3, noise_multiplier=sigma, clip_norm=clip, sampling_rate=1e-7, learning_rate=1e-9
    )
    result = run_distributed_dpsgd(x, y, parts, config, keep_messages=True, n_classes=4)
    shares = [m for m in result.server.received if isinstance(m, UpdateMessage)]
    aggregates = [m for m in result.server.received if isinstance(m, AggregateMessage)]
    assert len(shares) == 12 and len(aggregates) == 3
    assert all(m.kind == "gradient_share" for m in shares)
    _assert_std(np.concatenate([m.vector for m in shares]), sigma * clip / math.sqrt(4))
    for aggregate in aggregates:
        assert aggregate.reveals_inputs
        same_round = [m.vector for m in shares if m.round == aggregate.round]
        np.testing.assert_allclose(aggregate.total, np.sum(same_round, axis=0), rtol=1e-12)
    # The server saw each share: each silo is protected by σ/√m alone, on its own partition.
    assert {item.partition for item in result.ledger_entries} == {f"silo-{i}" for i in range(4)}
    assert {item.mechanism for item in result.ledger_entries} == {
        DpSgd(noise_multiplier=sigma / 2, sampling_rate=1e-7, steps=1, sampling=Sampling.POISSON)
    }
    assert all(r.noise_multiplier == sigma / 2 for r in result.rounds)


def test_distributed_secure_sum_shows_the_server_only_the_sum() -> None:
    x, y, parts = _silent_silos()
    sigma, clip = 2.0, 0.5
    config = DistributedDpSgdConfig(
        rounds=4, noise_multiplier=sigma, clip_norm=clip, sampling_rate=1e-7, learning_rate=1e-9
    )
    result = run_distributed_dpsgd(
        x, y, parts, config, aggregator=ideal_secure_sum, keep_messages=True, n_classes=4
    )
    assert all(isinstance(m, AggregateMessage) for m in result.server.received)
    assert len(result.server.received) == 4
    totals = np.concatenate([m.total for m in result.server.received])  # type: ignore[union-attr]
    _assert_std(totals, sigma * clip)
    mechanism = DistributedGaussian(
        noise_multiplier=sigma, clients=4, survivors=4, sampling_rate=1e-7, steps=1
    )
    assert result.ledger_entries == tuple(
        LedgerItem(None, mechanism, {"round": r, "survivors": 4}) for r in range(1, 5)
    )


def test_dropout_schedule_records_the_real_survivors_and_their_noise(tmp_path: Any) -> None:
    x, y, parts = _silent_silos()
    sigma, clip = 1.5, 1.0
    config = DistributedDpSgdConfig(
        rounds=8, noise_multiplier=sigma, clip_norm=clip, sampling_rate=1e-7, learning_rate=1e-9
    )
    world = Heterogeneity(absences=(Absence(client=2, first_round=4),))
    result = run_distributed_dpsgd(
        x,
        y,
        parts,
        config,
        aggregator=ideal_secure_sum,
        heterogeneity=world,
        keep_messages=True,
        n_classes=4,
    )
    assert [len(r.survivors) for r in result.rounds] == [4, 4, 4, 3, 3, 3, 3, 3]
    assert all(r.dropped == (2,) for r in result.rounds[3:])
    for item in result.ledger_entries:
        mechanism = item.mechanism
        assert isinstance(mechanism, DistributedGaussian)
        expected = 4 if item.meta["round"] < 4 else 3
        assert (mechanism.clients, mechanism.survivors) == (4, expected)
        assert item.meta["survivors"] == expected
        assert mechanism.effective_noise_multiplier == pytest.approx(
            sigma * math.sqrt(expected / 4)
        )
    # The noise the server actually saw after the drop is the smaller one.
    late = [m.total for m in result.server.received if isinstance(m, AggregateMessage)][3:]
    _assert_std(np.concatenate(late), sigma * clip * math.sqrt(3 / 4))

    entries = write_ledger(result, tmp_path / "ledger.jsonl", "hospitals", "run-1")
    assert [(e.mechanism, e.meta, e.partition, e.privacy_unit) for e in entries] == [
        (
            DistributedGaussian(
                noise_multiplier=sigma, clients=4, survivors=4, sampling_rate=1e-7, steps=3
            ),
            {"first_round": 1, "last_round": 3, "survivors": 4},
            None,
            "example",
        ),
        (
            DistributedGaussian(
                noise_multiplier=sigma, clients=4, survivors=3, sampling_rate=1e-7, steps=5
            ),
            {"first_round": 4, "last_round": 8, "survivors": 3},
            None,
            "example",
        ),
    ]
    assert len(read_ledger(tmp_path / "ledger.jsonl").entries) == 2


def test_silo_selection_splits_the_noise_among_the_asked() -> None:
    x, y, parts = _silent_silos(n=5)
    config = DistributedDpSgdConfig(
        rounds=3,
        noise_multiplier=1.0,
        clip_norm=1.0,
        sampling_rate=1e-7,
        learning_rate=1e-9,
        silos_per_round=2,
    )
    result = run_distributed_dpsgd(x, y, parts, config, aggregator=ideal_secure_sum, n_classes=4)
    assert all(len(r.selected) == 2 for r in result.rounds)
    assert {(m.clients, m.survivors) for m in (i.mechanism for i in result.ledger_entries)} == {  # type: ignore[union-attr]
        (2, 2)
    }


class _FakeSecagg:
    """Stands in for privaudit.federated.secagg with the documented secure_sum signature."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def secure_sum(self, inputs: dict[int, Any], **kwargs: Any) -> Any:
        self.calls.append({"clients": sorted(inputs), **kwargs})
        survivors = sorted(set(inputs) - set(kwargs["drop_before_input"]))
        return types.SimpleNamespace(
            total=np.sum([inputs[c] for c in survivors], axis=0),
            survivors=survivors,
            dropped=list(kwargs["drop_before_input"]),
            bytes_sent_per_client={c: 1000 + c for c in inputs},
            bytes_received_per_client=50,
            bytes_server_received=4321,
            bytes_server_sent=99,
            server_view=("masked", len(inputs)),
        )


def test_secure_aggregator_adapter_passes_dropouts_and_reports_survivors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _FakeSecagg()
    module = types.ModuleType("privaudit.federated.secagg")
    module.secure_sum = fake.secure_sum  # type: ignore[attr-defined]
    module.SecureAggregationError = RuntimeError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "privaudit.federated.secagg", module)
    x, y, parts = _silent_silos()
    aggregator = secure_aggregator(
        threshold=2, value_bound=1e6, dropouts_by_round=lambda r: {1, 9} if r == 2 else set()
    )
    config = DistributedDpSgdConfig(
        rounds=3, noise_multiplier=1.0, clip_norm=1.0, sampling_rate=1e-7, learning_rate=1e-9
    )
    result = run_distributed_dpsgd(
        x, y, parts, config, aggregator=aggregator, keep_messages=True, n_classes=4
    )
    assert [c["drop_before_input"] for c in fake.calls] == [(), (1,), ()]
    assert [c["drop_after_input"] for c in fake.calls] == [(), (), ()]
    assert all(c["threshold"] == 2 and c["value_bound"] == 1e6 for c in fake.calls)
    assert [r.survivors for r in result.rounds] == [(0, 1, 2, 3), (0, 2, 3), (0, 1, 2, 3)]
    assert [i.mechanism.survivors for i in result.ledger_entries] == [4, 3, 4]  # type: ignore[union-attr]
    assert not any(isinstance(m, UpdateMessage) for m in result.server.received)
    assert result.server.received[0].server_view == ("masked", 4)  # type: ignore[union-attr]
    assert result.rounds[0].bytes_up == 4006
    model_bytes = 300 * 8
    assert result.rounds[0].bytes_down == 4 * model_bytes + 4 * 50


def test_secure_aggregator_refuses_inputs_outside_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("privaudit.federated.secagg")
    module.secure_sum = _FakeSecagg().secure_sum  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "privaudit.federated.secagg", module)
    aggregator = secure_aggregator(threshold=1, value_bound=1.0)
    with pytest.raises(InputError, match="value_bound"):
        aggregator(1, {0: np.array([0.5, -3.0])})


def test_secure_aggregator_with_the_real_protocol() -> None:
    pytest.importorskip("privaudit.federated.secagg")
    x, y, parts = _silent_silos(n=4, d=9)  # 40 parameters
    config = DistributedDpSgdConfig(
        rounds=3,
        noise_multiplier=1.0,
        clip_norm=1.0,
        sampling_rate=1e-7,
        learning_rate=1e-9,
        seed=5,
    )
    plain = run_distributed_dpsgd(x, y, parts, config, keep_messages=True, n_classes=4)
    aggregator = secure_aggregator(
        threshold=3,
        value_bound=50.0,
        dropouts_by_round=lambda r: {1, 3} if r == 3 else ({3} if r == 2 else set()),
        late_dropouts_by_round=lambda r: {0} if r == 1 else set(),
        rng_seed=0,
    )
    secure = run_distributed_dpsgd(
        x, y, parts, config, aggregator=aggregator, keep_messages=True, n_classes=4
    )
    # The server gets no share; round 1 keeps a silo that left after sending its input;
    # round 3 falls below the threshold and aborts, releasing nothing.
    assert all(isinstance(m, AggregateMessage) for m in secure.server.received)
    assert [r.survivors for r in secure.rounds] == [(0, 1, 2, 3), (0, 1, 2), ()]
    assert [i.mechanism.survivors for i in secure.ledger_entries] == [4, 3]  # type: ignore[union-attr]
    assert secure.rounds[2].bytes_up == 0
    assert all(r.bytes_up > 0 for r in secure.rounds[:2])
    # Same seed, same shares: the secure sum is plain_sum's total up to fixed-point rounding.
    first_plain = next(m for m in plain.server.received if isinstance(m, AggregateMessage))
    first_secure = secure.server.received[0]
    assert isinstance(first_secure, AggregateMessage)
    np.testing.assert_allclose(first_secure.total, first_plain.total, atol=4 / 2**16)
    shares = [m.vector for m in plain.server.received if isinstance(m, UpdateMessage)][:4]
    masked = first_secure.server_view.masked_inputs
    assert all(not np.allclose(masked[c], shares[c], atol=1) for c in range(4))


# --- local DP-SGD across silos -----------------------------------------------------------------


def test_local_dpsgd_writes_one_partition_per_silo(tmp_path: Any) -> None:
    x, y = _blobs(600)
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


# --- compression -------------------------------------------------------------------------------


def test_quantisation_is_unbiased_and_a_quarter_of_the_bytes() -> None:
    rng = np.random.default_rng(0)
    vector = rng.normal(size=1000).astype(np.float32)
    draws = 2000
    total = np.zeros(vector.size)
    for _ in range(draws):
        total += dequantise(quantise(vector, rng, QSGD_8BIT), np.float64)
    q = quantise(vector, rng)
    step = (q.high - q.low) / 255
    # Each draw is off by at most one step with variance ≤ step²/4: the mean's error is tiny.
    bound = stats.norm.ppf(1 - ALPHA / (2 * vector.size)) * step / 2 / math.sqrt(draws)
    assert np.max(np.abs(total / draws - vector)) < bound
    assert np.max(np.abs(dequantise(q) - vector)) <= step * (1 + 1e-6)
    dense = encode(vector)
    packed = encode(vector, Compression(levels=QSGD_8BIT), rng)
    assert dense.nbytes == 4000
    assert packed.nbytes == 1000 + 8
    assert dense.nbytes / packed.nbytes > 3.9
    constant = quantise(np.full(5, 0.25, dtype=np.float32), rng)
    np.testing.assert_array_equal(dequantise(constant), np.full(5, 0.25))


def test_top_k_keeps_the_k_largest_entries() -> None:
    vector = np.array([0.1, -5.0, 0.3, 2.0, -0.2, 4.0], dtype=np.float32)
    indices, values = top_k(vector, 3)
    assert indices.dtype == np.int32
    np.testing.assert_array_equal(indices, [1, 3, 5])
    np.testing.assert_array_equal(values, [-5.0, 2.0, 4.0])
    payload = encode(vector, Compression(top_k=3))
    assert payload.nbytes == 3 * 4 + 3 * 4
    np.testing.assert_array_equal(payload.decode(), [0, -5.0, 0, 2.0, 0, 4.0])
    both = encode(vector, Compression(top_k=3, levels=256), np.random.default_rng(1))
    assert both.nbytes == 3 * 4 + 3 + 8
    assert np.count_nonzero(both.decode()) <= 3
    assert encode(vector, Compression(top_k=10)).nbytes == vector.nbytes


def test_compressed_dpfedavg_counts_fewer_bytes_up() -> None:
    x, y = _blobs(400, d=39)  # 80 parameters
    parts = iid(len(x), 4, seed=0)
    base: dict[str, Any] = {
        "rounds": 2,
        "client_sampling_rate": 1.0,
        "noise_multiplier": 0.5,
        "clip_norm": 1.0,
    }
    plain = run_dp_fedavg(x, y, parts, DpFedAvgConfig(**base, seed=0), keep_messages=True)
    small = run_dp_fedavg(
        x,
        y,
        parts,
        DpFedAvgConfig(**base, seed=0, compression=Compression(top_k=20, levels=256)),
        keep_messages=True,
    )
    assert [r.bytes_up for r in plain.rounds] == [4 * 80 * 4] * 2
    assert [r.bytes_up for r in small.rounds] == [4 * (20 * 4 + 20 + 8)] * 2
    assert [r.bytes_down for r in small.rounds] == [4 * 80 * 4] * 2
    for message in small.server.received:
        assert isinstance(message, UpdateMessage)
        assert np.count_nonzero(message.vector) <= 20


# --- heterogeneity, bytes, messages ------------------------------------------------------------


def test_stragglers_get_the_model_but_send_nothing() -> None:
    x, y = _blobs(400)
    parts = iid(len(x), 4, seed=0)
    config = DpFedAvgConfig(
        rounds=3, client_sampling_rate=1.0, noise_multiplier=1.0, clip_norm=1.0, seed=3
    )
    world = Heterogeneity(straggler_probability=(1.0, 0.0, 0.0, 0.0), dropout_probability=0.0)
    result = run_dp_fedavg(x, y, parts, config, heterogeneity=world, keep_messages=True)
    model_bytes = 22 * 4
    for record in result.rounds:
        assert record.stragglers == (0,)
        assert record.survivors == (1, 2, 3)
        assert record.bytes_down == 4 * model_bytes
        assert record.bytes_up == 3 * model_bytes
    assert {m.client_id for m in result.server.received} == {1, 2, 3}  # type: ignore[union-attr]
    # Nobody reports: the round still releases the noise, and the ledger says so.
    gone = run_dp_fedavg(x, y, parts, config, heterogeneity=Heterogeneity(dropout_probability=1))
    assert all(r.survivors == () and r.bytes_down == 0 for r in gone.rounds)
    assert len(gone.ledger_entries) == 3


def test_messages_are_read_only_copies() -> None:
    x, y = _blobs(100)
    config = DpFedAvgConfig(rounds=1, client_sampling_rate=1.0, noise_multiplier=1, clip_norm=1)
    result = run_dp_fedavg(x, y, iid(len(x), 2, seed=0), config, keep_messages=True)
    message = result.server.received[0]
    assert isinstance(message, UpdateMessage)
    with pytest.raises(ValueError, match="read-only"):
        message.payload.values[0] = 1.0  # type: ignore[index]
    with pytest.raises(ValueError, match="read-only"):
        result.server.params[0] = 1.0


def test_same_seed_same_run() -> None:
    x, y = _blobs(300)
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
    x, y = _blobs(100)
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


def test_coalesce_merges_only_consecutive_equal_releases() -> None:
    step = DpFedAvg(noise_multiplier=1.0, client_sampling_rate=0.1, rounds=1)
    other = DpFedAvg(noise_multiplier=2.0, client_sampling_rate=0.1, rounds=1)
    items = [
        LedgerItem(None, step, {"round": 1}),
        LedgerItem(None, step, {"round": 2}),
        LedgerItem(None, other, {"round": 3}),
        LedgerItem(None, step, {"round": 4}),
        LedgerItem(None, step, {"round": 6}),
    ]
    merged = coalesce_entries(items)
    assert [(m.mechanism.rounds, m.meta) for m in merged] == [  # type: ignore[union-attr]
        (2, {"first_round": 1, "last_round": 2}),
        (1, {"first_round": 3, "last_round": 3}),
        (1, {"first_round": 4, "last_round": 4}),
        (1, {"first_round": 6, "last_round": 6}),
    ]


def test_dpfedavg_ledger_coalesces_to_one_entry(tmp_path: Any) -> None:
    x, y = _blobs(200)
    config = DpFedAvgConfig(rounds=5, client_sampling_rate=0.5, noise_multiplier=1, clip_norm=1)
    result = run_dp_fedavg(x, y, iid(len(x), 4, seed=0), config)
    [entry] = write_ledger(result, tmp_path / "l.jsonl", "phones", "r")
    assert entry.mechanism == DpFedAvg(noise_multiplier=1, client_sampling_rate=0.5, rounds=5)
    assert entry.privacy_unit == "client" and entry.partition is None
    assert len(write_ledger(result, tmp_path / "m.jsonl", "phones", "r", coalesce=False)) == 5


# --- evaluation and learning -------------------------------------------------------------------


def test_evaluate_matches_sklearn() -> None:
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    x, y = _blobs(300)
    model = softmax_regression(10, 2)
    params = np.zeros(model.n_params, dtype=np.float32)
    params[1] = 1.0  # logit of class 1 = x₀: the Bayes direction
    metrics = evaluate(model, params, x, y)
    scores = x[:, 0]
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, scores))
    assert metrics["auprc"] == pytest.approx(average_precision_score(y, scores))
    predictions = (scores > 0).astype(int)
    assert metrics["accuracy"] == pytest.approx(np.mean(predictions == y))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y, predictions, average="macro"))
    one_class = evaluate(model, params, x[y == 1], y[y == 1])
    assert math.isnan(one_class["roc_auc"]) and math.isnan(one_class["auprc"])
    three = evaluate(softmax_regression(10, 3), np.zeros(33), x, y)
    assert set(three) == {"loss", "accuracy", "macro_f1"}


def _non_iid_blobs() -> tuple[Any, Any, Any, Any, list[Any]]:
    x, y = _blobs(1600, d=10, seed=1)
    xt, yt = _blobs(1000, d=10, seed=2)
    return x, y, xt, yt, shards(y, 4, 1, seed=0)  # two clients see only 0s, two only 1s


def test_dpfedavg_learns_non_iid_blobs() -> None:
    x, y, xt, yt, parts = _non_iid_blobs()
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
    x, y, xt, yt, parts = _non_iid_blobs()
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
    x, y, xt, yt, parts = _non_iid_blobs()
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


def test_plain_sum_counts_four_bytes_per_float32_coordinate() -> None:
    inputs = {3: np.ones(5, dtype=np.float32), 1: np.full(5, 2.0, dtype=np.float32)}
    result = plain_sum(7, inputs)
    assert result.survivors == (1, 3)
    assert dict(result.bytes_per_client) == {1: 20, 3: 20}
    assert result.bytes_server == 40 and result.reveals_inputs
    np.testing.assert_array_equal(result.total, np.full(5, 3.0))
    hidden = ideal_secure_sum(7, inputs)
    assert not hidden.reveals_inputs and hidden.bytes_server == 20


def test_coalescing_caps_the_rounds_one_entry_covers() -> None:
    from privaudit.federated import LedgerItem, coalesce_entries
    from privaudit.mechanisms import DistributedGaussian

    step = DistributedGaussian(noise_multiplier=2.0, clients=3, survivors=3, sampling_rate=0.1)
    items = [LedgerItem(None, step, {"round": r, "survivors": 3}) for r in range(1, 11)]
    blocks = coalesce_entries(items, max_rounds=4)
    assert [b.mechanism.steps for b in blocks] == [4, 4, 2]
    assert [(b.meta["first_round"], b.meta["last_round"]) for b in blocks] == [
        (1, 4),
        (5, 8),
        (9, 10),
    ]
    assert [b.mechanism.steps for b in coalesce_entries(items)] == [10]
