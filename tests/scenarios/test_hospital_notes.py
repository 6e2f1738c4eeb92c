"""The hospital-notes scenario on the real notes: the policy's size, what the ledger is charged,
and the forecast through the CLI (skipped, saying why, without ../shared/data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privaudit.cli import main
from privaudit.ledger import read_ledger
from privaudit.mechanisms import DistributedGaussian
from tests.scenarios.conftest import DATA, needs_mtsamples


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
