"""``privaudit audit dpsgd|fedavg``: records, verdicts, exit codes, and planted bugs that need
explicit consent (on the bundled digits, a few seconds each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privaudit.cli import main
from privaudit.records.audit import read_audit_record
from privaudit.rounding import down_fixed
from tests.cli.helpers import report
from tests.report.conftest import write_inputs

CONSENT = {"PRIVAUDIT_ALLOW_PLANTED_BUGS": "yes-break-privacy"}
FAST = ["--canaries", "20000"]
"""Fewer canaries than the DP-SGD default (1,000,000) keep each audit to a few seconds."""


def test_correct_dpsgd_trainer_is_consistent_and_the_record_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "audit.json"
    code = main(["audit", "dpsgd", *FAST, "--epsilon", "2", "--out", str(out), "--format", "json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    record = read_audit_record(out)
    assert record.verdict == "consistent" and printed["verdict"] == "consistent"
    assert printed["method_requested"] == "auto" and printed["method"] == record.method
    assert printed["ceiling"] == record.ceiling and record.ceiling is not None
    assert 0 <= record.epsilon_lower_bound <= record.epsilon_claimed <= 2.0
    assert record.direct_checks.noise_std.ok and record.direct_checks.sampling_rate.ok
    assert record.planted_bug is None


@pytest.mark.parametrize("target", ["dpsgd", "fedavg"])
def test_planted_bug_without_consent_is_refused_before_any_work(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRIVAUDIT_ALLOW_PLANTED_BUGS", raising=False)
    out = tmp_path / "audit.json"
    code = main(["audit", target, "--plant-bug", "no_clipping", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "PRIVAUDIT_ALLOW_PLANTED_BUGS" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("target", "bug"),
    [("dpsgd", "no_clipping"), ("dpsgd", "noise_div_10"), ("fedavg", "sampling_x4")],
)
def test_planted_bugs_are_violations_with_exit_1(
    target: str,
    bug: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in CONSENT.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "audit.json"
    code = main(["audit", target, *FAST, "--epsilon", "2", "--plant-bug", bug, "--out", str(out)])
    record = read_audit_record(out)
    printed = capsys.readouterr().out
    assert code == 1 and "ceiling" in printed and f"method {record.method}:" in printed
    assert record.verdict == "violation" and record.planted_bug == bug


def test_unknown_planted_bug_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in CONSENT.items():
        monkeypatch.setenv(key, value)
    code = main(["audit", "dpsgd", "--plant-bug", "typo", "--out", str(tmp_path / "a.json")])
    assert code == 2
    assert "--plant-bug" in capsys.readouterr().err


def test_report_shows_audit_records_found_with_the_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, runs = write_inputs(tmp_path)
    bound = ["--ledger", str(ledger), "--run", "train-a", "--dataset-id", "digits"]
    argv = ["audit", "dpsgd", *FAST, "--epsilon", "2", "--out", str(runs / "audit.json"), *bound]
    assert main(argv) == 0
    record = read_audit_record(runs / "audit.json")
    out = tmp_path / "report"
    done = report(capsys, ledger, policy, "--runs", runs, "--out", out, "--formats", "html")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert done.code == 0
    assert record.name in html and "CONSISTENT" in html
    # Rounded down: the shown lower bound never exceeds the certified one.
    assert down_fixed(record.epsilon_lower_bound) in html
    assert record.ceiling is not None and record.efficiency is not None
    assert f"{down_fixed(record.ceiling)} ({record.efficiency:.2f})" in html


def test_an_audit_bound_to_a_run_the_ledger_lacks_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, _, runs = write_inputs(tmp_path)
    bound = ["--ledger", str(ledger), "--run", "no-such-run", "--dataset-id", "digits"]

    code = main(["audit", "dpsgd", "--out", str(runs / "audit.json"), *bound])

    assert code == 2
    assert "no entries of run 'no-such-run'" in capsys.readouterr().err
    assert not (runs / "audit.json").exists()


def test_an_audit_binding_needs_all_three_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, _, runs = write_inputs(tmp_path)

    code = main(["audit", "dpsgd", "--out", str(runs / "a.json"), "--ledger", str(ledger)])

    assert code == 2
    assert "--run" in capsys.readouterr().err
