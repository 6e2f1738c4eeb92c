"""Writing a run to the ledger: coalescing consecutive equal releases, capped blocks, and one
entry for a whole DP-FedAvg run."""

from __future__ import annotations

from typing import Any

from privaudit.data.partition import iid
from privaudit.federated.config import DpFedAvgConfig
from privaudit.federated.ledger import coalesce_entries, write_ledger
from privaudit.federated.results import LedgerItem
from privaudit.federated.runs import run_dp_fedavg
from privaudit.mechanisms import DistributedGaussian, DpFedAvg
from tests.federated.support import blobs


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
    x, y = blobs(200)
    config = DpFedAvgConfig(rounds=5, client_sampling_rate=0.5, noise_multiplier=1, clip_norm=1)
    result = run_dp_fedavg(x, y, iid(len(x), 4, seed=0), config)
    [entry] = write_ledger(result, tmp_path / "l.jsonl", "phones", "r")
    assert entry.mechanism == DpFedAvg(noise_multiplier=1, client_sampling_rate=0.5, rounds=5)
    assert entry.privacy_unit == "client" and entry.partition is None
    assert len(write_ledger(result, tmp_path / "m.jsonl", "phones", "r", coalesce=False)) == 5


def test_coalescing_caps_the_rounds_one_entry_covers() -> None:
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
