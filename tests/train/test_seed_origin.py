"""Where a run's noise seed came from is written to its ledger entries (``meta.seed.origin``),
and ``check`` warns of releases whose seed the user fixed (issue 18, defect 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privaudit.cli import main
from privaudit.ledger import read_ledger
from privaudit.train.runs import RunSettings, run_dpsgd

POLICY = "tiers:\n  t: {epsilon: 8.0, delta: 1.0e-5}\ndatasets:\n  digits: {tier: t, size: 1438}\n"


def _train(tmp_path: Path, seed: int | None) -> tuple[Path, Path]:
    ledger, policy = tmp_path / "ledger.jsonl", tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    run_dpsgd(RunSettings(epochs=1, seed=seed, ledger=ledger, run_name="r1"))
    return ledger, policy


def _check_findings(capsys: pytest.CaptureFixture[str], ledger: Path, policy: Path) -> list[str]:
    main(["check", str(ledger), "--policy", str(policy), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    return [f["code"] for d in data["datasets"] for f in d["findings"]]


def test_a_user_seed_is_recorded_and_check_warns_of_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ledger, policy = _train(tmp_path, seed=1)
    entries = read_ledger(ledger).entries
    assert entries and all(e.meta["seed"] == {"origin": "user"} for e in entries)
    assert "user_seed" in _check_findings(capsys, ledger, policy)


def test_an_os_entropy_seed_is_recorded_and_not_flagged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ledger, policy = _train(tmp_path, seed=None)
    entries = read_ledger(ledger).entries
    assert entries and all(e.meta["seed"] == {"origin": "os.urandom"} for e in entries)
    assert "user_seed" not in _check_findings(capsys, ledger, policy)
