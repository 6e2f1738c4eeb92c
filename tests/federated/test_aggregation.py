"""The aggregators: what the server sees of the silos' noise shares in the clear, through an
ideal secure sum and through the secure-aggregation protocol, and the bytes each counts."""

from __future__ import annotations

import math
import sys
import types
from typing import Any

import numpy as np
import pytest

from privaudit.errors import InputError
from privaudit.federated.aggregation import ideal_secure_sum, plain_sum, secure_aggregator
from privaudit.federated.messages import AggregateMessage, UpdateMessage
from privaudit.federated.results import LedgerItem
from privaudit.federated.runs import run_distributed_dpsgd
from privaudit.mechanisms import DistributedGaussian, DpSgd, Sampling
from tests.federated.support import assert_std, silent_config, silent_silos


def test_distributed_plain_sum_shows_the_server_each_noisy_share() -> None:
    x, y, parts = silent_silos()
    sigma, clip = 2.0, 0.5
    config = silent_config(3, sigma, clip)
    result = run_distributed_dpsgd(x, y, parts, config, keep_messages=True, n_classes=4)
    shares = [m for m in result.server.received if isinstance(m, UpdateMessage)]
    aggregates = [m for m in result.server.received if isinstance(m, AggregateMessage)]
    assert len(shares) == 12 and len(aggregates) == 3
    assert all(m.kind == "gradient_share" for m in shares)
    assert_std(np.concatenate([m.vector for m in shares]), sigma * clip / math.sqrt(4))
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
    x, y, parts = silent_silos()
    sigma, clip = 2.0, 0.5
    config = silent_config(4, sigma, clip)
    result = run_distributed_dpsgd(
        x, y, parts, config, aggregator=ideal_secure_sum, keep_messages=True, n_classes=4
    )
    assert all(isinstance(m, AggregateMessage) for m in result.server.received)
    assert len(result.server.received) == 4
    totals = np.concatenate([m.total for m in result.server.received])  # type: ignore[union-attr]
    assert_std(totals, sigma * clip)
    mechanism = DistributedGaussian(
        noise_multiplier=sigma, clients=4, survivors=4, sampling_rate=1e-7, steps=1
    )
    assert result.ledger_entries == tuple(
        LedgerItem(None, mechanism, {"round": r, "survivors": 4}) for r in range(1, 5)
    )


def test_plain_sum_counts_four_bytes_per_float32_coordinate() -> None:
    inputs = {3: np.ones(5, dtype=np.float32), 1: np.full(5, 2.0, dtype=np.float32)}
    result = plain_sum(7, inputs)
    assert result.survivors == (1, 3)
    assert dict(result.bytes_per_client) == {1: 20, 3: 20}
    assert result.bytes_server == 40 and result.reveals_inputs
    np.testing.assert_array_equal(result.total, np.full(5, 3.0))
    hidden = ideal_secure_sum(7, inputs)
    assert not hidden.reveals_inputs and hidden.bytes_server == 20


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
    x, y, parts = silent_silos()
    aggregator = secure_aggregator(
        threshold=2, value_bound=1e6, dropouts_by_round=lambda r: {1, 9} if r == 2 else set()
    )
    config = silent_config(3)
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
    x, y, parts = silent_silos(n=4, d=9)  # 40 parameters
    config = silent_config(3, seed=5)
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
