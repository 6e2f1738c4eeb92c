"""Dropouts and stragglers: the rounds record the real survivors, the ledger their noise, and
stragglers get the model but send nothing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from privaudit.data.partition import iid
from privaudit.federated.aggregation import ideal_secure_sum
from privaudit.federated.config import DpFedAvgConfig
from privaudit.federated.heterogeneity import Absence, Heterogeneity
from privaudit.federated.ledger import write_ledger
from privaudit.federated.messages import AggregateMessage
from privaudit.federated.runs import run_distributed_dpsgd, run_dp_fedavg
from privaudit.ledger import read_ledger
from privaudit.mechanisms import DistributedGaussian
from tests.federated.support import assert_std, blobs, silent_config, silent_silos


def test_dropout_schedule_records_the_real_survivors_and_their_noise(tmp_path: Any) -> None:
    x, y, parts = silent_silos()
    sigma, clip = 1.5, 1.0
    config = silent_config(8, sigma, clip)
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
    assert_std(np.concatenate(late), sigma * clip * math.sqrt(3 / 4))

    entries = write_ledger(result, tmp_path / "ledger.jsonl", "hospitals", "run-1")
    # The run drew its noise from the OS (no seed given): the ledger says so (issue 18).
    seed = {"seed": {"origin": "os.urandom"}}
    assert [(e.mechanism, e.meta, e.partition, e.privacy_unit) for e in entries] == [
        (
            DistributedGaussian(
                noise_multiplier=sigma, clients=4, survivors=4, sampling_rate=1e-7, steps=3
            ),
            {"first_round": 1, "last_round": 3, "survivors": 4, **seed},
            None,
            "example",
        ),
        (
            DistributedGaussian(
                noise_multiplier=sigma, clients=4, survivors=3, sampling_rate=1e-7, steps=5
            ),
            {"first_round": 4, "last_round": 8, "survivors": 3, **seed},
            None,
            "example",
        ),
    ]
    assert len(read_ledger(tmp_path / "ledger.jsonl").entries) == 2


def test_stragglers_get_the_model_but_send_nothing() -> None:
    x, y = blobs(400)
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
