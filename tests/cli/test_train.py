"""``privaudit train dpsgd`` and ``privaudit tradeoff`` on the bundled digits data.

Privacy figures are re-accounted from the ledger the run wrote, independently of the trainer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privaudit.accounting.accountant import account
from privaudit.cli import main
from privaudit.ledger import append_entry, read_ledger
from privaudit.mechanisms import DpSgd


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_run_charges_the_ledger_exactly_what_it_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ledger, record = tmp_path / "ledger.jsonl", tmp_path / "run.json"
    code, _, err = run(
        capsys,
        "train",
        "dpsgd",
        "--target-epsilon",
        "2",
        "--epochs",
        "5",
        "--ledger",
        ledger,
        "--out",
        record,
        "--format",
        "json",
    )
    data = json.loads(record.read_text())
    entries = read_ledger(ledger).entries
    ledger_epsilon = account([e.mechanism for e in entries], 1e-5).epsilon
    assert code == 0, err
    assert len(entries) == 5  # one entry per epoch
    assert ledger_epsilon <= 2.0
    assert ledger_epsilon == pytest.approx(data["privacy"]["epsilon"], rel=1e-9)
    assert data["privacy"]["steps_done"] == sum(e.mechanism.steps for e in entries)  # type: ignore[union-attr]


def test_the_record_holds_provenance_and_a_rising_epsilon(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    record = tmp_path / "run.json"
    code, _, _ = run(capsys, "train", "dpsgd", "--epochs", "4", "--out", record)
    data = json.loads(record.read_text())
    epsilons = [e["epsilon"] for e in data["epochs"]]
    assert code == 0
    assert data["random_source"] == "crypto"
    assert data["data"]["provenance"]
    assert epsilons == sorted(epsilons)
    assert epsilons[-1] <= 2.0


def test_training_stops_before_the_policy_cap_and_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "tiers:\n  t: {epsilon: 1.0, delta: 1.0e-5}\ndatasets:\n  digits: {tier: t, size: 1438}\n"
    )
    ledger = tmp_path / "ledger.jsonl"
    code, out, _ = run(
        capsys,
        "train",
        "dpsgd",
        "--target-epsilon",
        "3",
        "--epochs",
        "10",
        "--ledger",
        ledger,
        "--policy",
        policy,
        "--out",
        tmp_path / "run.json",
    )
    spent = account([e.mechanism for e in read_ledger(ledger).entries], 1e-5).epsilon
    assert code == 1
    assert "budget" in out
    assert spent <= 1.0


def test_a_dataset_that_already_spent_its_budget_is_not_trained(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "tiers:\n  t: {epsilon: 1.0, delta: 1.0e-5}\ndatasets:\n  digits: {tier: t, size: 1438}\n"
    )
    ledger = tmp_path / "ledger.jsonl"
    append_entry(
        ledger,
        dataset="digits",
        mechanism=DpSgd(noise_multiplier=0.8, sampling_rate=0.5, steps=200),
    )
    before = ledger.read_bytes()
    code, _, err = run(
        capsys,
        "train",
        "dpsgd",
        "--ledger",
        ledger,
        "--policy",
        policy,
        "--out",
        tmp_path / "run.json",
    )
    assert code == 1
    assert "already spent its budget" in err
    assert ledger.read_bytes() == before
    assert not (tmp_path / "run.json").exists()


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--target-epsilon", "-1"], "--target-epsilon"),
        (["--data", "mnist"], "--data-dir"),
        (["--delta", "1.5"], "--delta"),
        (["--epochs", "0"], "--epochs"),
        (["--learning-rate", "nan"], "--learning-rate"),
        (["--data", "mnist", "--data-dir", "/nonexistent"], "data folder does not exist"),
    ],
)
def test_bad_training_input_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], names: str
) -> None:
    code, _, err = run(capsys, "train", "dpsgd", *args, "--out", tmp_path / "r.json")
    assert code == 2
    assert names in err
    assert len(err.strip().splitlines()) == 1


def test_tradeoff_writes_charts_and_a_baseline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "tradeoff"
    code, _, _ = run(capsys, "tradeoff", "--epsilons", "1,4", "--out", out, "--format", "json")
    data = json.loads((out / "tradeoff.json").read_text())
    private = [r for r in data["runs"] if r["target_epsilon"] is not None]
    assert code == 0
    assert (out / "tradeoff.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "non-private baseline" in (out / "tradeoff.svg").read_text()
    assert all(r["epsilon"] <= r["target_epsilon"] for r in private)
    assert 0 < data["baseline"] <= 1
