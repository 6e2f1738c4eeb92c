"""The bank-fraud scenario: data-independent features, and one short end-to-end run on the real
credit-card data (skipped, saying why, without ../shared/data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from privaudit.accounting.accountant import account
from privaudit.ledger import read_ledger
from privaudit.mechanisms import DistributedGaussian
from privaudit.scenarios import creditcard_features
from tests.scenarios.conftest import DATA, needs_creditcard


def test_creditcard_features_of_a_row_depend_on_that_row_only() -> None:
    rng = np.random.default_rng(0)
    raw = np.column_stack(
        [rng.uniform(0, 172800, 50), rng.normal(0, 2, (50, 28)), rng.exponential(80, 50)]
    )
    whole = creditcard_features(raw)
    assert np.array_equal(whole[:7], creditcard_features(raw[:7]))
    assert whole.shape == (50, 31)
    assert np.abs(whole).max() <= 3.0


@needs_creditcard
def test_bank_fraud_runs_end_to_end_and_records_the_dropout(tmp_path: Path) -> None:
    from privaudit.scenarios import run_scenario

    out = tmp_path / "bank"
    result = run_scenario("bank-fraud", data_dir=DATA, out=out, formats=("html",), quick=True)
    data = json.loads((out / "scenario.json").read_text(encoding="utf-8"))
    assert set(data) >= {"test_accuracy", "macro_f1", "roc_auc", "auprc", "epsilon", "delta"}
    survivors = [r["survivors"] for r in data["rounds"]]
    assert survivors[0] == 3 and survivors[-1] == 2  # bank-c left half way
    # The ledger holds the real survivors of every round, and its ε is what assess reports.
    entries = read_ledger(out / "ledger.jsonl").entries
    recorded = [e.mechanism for e in entries]
    assert all(isinstance(m, DistributedGaussian) for m in recorded)
    assert sum(m.steps for m in recorded if m.survivors == 2) == survivors.count(2)
    assert sum(m.steps for m in recorded if m.survivors == 3) == survivors.count(3)
    assert result.epsilon == pytest.approx(account(recorded, result.delta).epsilon, rel=1e-9)
    assert data["deployment"]["secagg_sum_matches"] is True
    from privaudit.policy import load_policy

    policy = load_policy(Path(__file__).resolve().parents[2] / "policies/examples/bank-fraud.yaml")
    assert policy.datasets["creditcard"].size == data["data"]["train"]
    assert {e.privacy_unit for e in entries} == {"transaction"}
    assert (out / "report.html").is_file() and not list(out.glob(".scenario-*"))
    records = {p.stem: json.loads(p.read_text()) for p in (out / "runs").glob("*.json")}
    assert records["banks-secagg-dropout"]["in_ledger"] is True
    assert records["banks-local-dp"]["in_ledger"] is False
