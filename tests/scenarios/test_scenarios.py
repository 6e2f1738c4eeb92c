"""The federated scenarios: planning for dropouts, data-independent features, and one short
end-to-end run on the real credit-card data (skipped, saying why, without ../shared/data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from privaudit.accounting.accountant import account
from privaudit.cli import main
from privaudit.ledger import read_ledger
from privaudit.mechanisms import DistributedGaussian
from privaudit.scenarios import _calibrate_distributed, creditcard_features

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
needs_creditcard = pytest.mark.skipif(
    not (DATA / "creditcard").is_dir(),
    reason=f"real data not found at {DATA}/creditcard (see ../shared/data/README.md)",
)


@pytest.mark.parametrize(("clients", "threshold"), [(3, 2), (10, 7)])
def test_noise_planned_for_the_threshold_keeps_epsilon_when_only_threshold_survive(
    clients: int, threshold: int
) -> None:
    sigma = _calibrate_distributed(1.0, 1e-6, 0.01, 300, clients, threshold)
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


def test_creditcard_features_of_a_row_depend_on_that_row_only() -> None:
    rng = np.random.default_rng(0)
    raw = np.column_stack(
        [rng.uniform(0, 172800, 50), rng.normal(0, 2, (50, 28)), rng.exponential(80, 50)]
    )
    whole = creditcard_features(raw)
    assert np.array_equal(whole[:7], creditcard_features(raw[:7]))
    assert whole.shape == (50, 31)
    assert np.abs(whole).max() <= 3.0


def test_unknown_scenario_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "moon-landing"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "moon-landing" in err


def test_missing_data_folder_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["scenario", "bank-fraud", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "creditcard/" in err
    assert not (tmp_path / "o").exists()


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


needs_mtsamples = pytest.mark.skipif(
    not (DATA / "mtsamples").is_dir(),
    reason=f"real data not found at {DATA}/mtsamples (see ../shared/data/README.md)",
)


@needs_mtsamples
def test_hospital_notes_policy_size_is_the_scenarios_training_notes() -> None:
    from privaudit.policy import load_policy
    from privaudit.scenarios.notes import prepare_notes

    root = Path(__file__).resolve().parents[2]
    policy = load_policy(root / "policies" / "examples" / "hospital-notes.yaml")
    assert policy.datasets["mtsamples-notes"].size == prepare_notes(DATA, seed=0).n_train


@needs_mtsamples
def test_hospital_notes_charges_distributed_noise_and_keeps_local_noise_out(tmp_path: Path) -> None:
    from privaudit.scenarios import run_scenario

    out = tmp_path / "notes"
    run_scenario("hospital-notes", data_dir=DATA, out=out, formats=("html",), quick=True)
    entries = read_ledger(out / "ledger.jsonl").entries
    assert {type(e.mechanism) for e in entries} == {DistributedGaussian}
    assert {e.mechanism.clients for e in entries} == {5}  # type: ignore[union-attr]
    assert {e.partition for e in entries} == {None}
    records = {p.stem: json.loads(p.read_text()) for p in (out / "runs").glob("*.json")}
    assert records["hospitals-local-dp"]["trust_model"] == "silo_local"
    assert records["hospitals-local-dp"]["in_ledger"] is False
    assert records["hospitals-non-private"]["privacy"] is None


@needs_mtsamples
def test_forecast_reports_more_notes_for_a_higher_target(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [
        "plan",
        "--forecast-data",
        "hospital-notes",
        "--data-dir",
        str(DATA),
        "--factors",
        "1,4,16",
        "--format",
        "json",
    ]
    main([*args, "--target", "0.6"])
    low = json.loads(capsys.readouterr().out)
    main([*args, "--target", "0.85"])
    high = json.loads(capsys.readouterr().out)
    assert [r["factor"] for r in low["rows"]] == [1.0, 4.0, 16.0]
    assert low["notes_needed"] is not None and high["notes_needed"] is not None
    assert high["notes_needed"] > low["notes_needed"]
    assert low["delta"] == 1e-6  # the scenario policy's δ, not a default
