"""A report attaches only the run and audit records that belong to its ledger, lists the others
with the reason, and its review id is a hash of all its inputs (issue 18, defect 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from privaudit.ledger import read_ledger
from privaudit.records.audit import AuditRecord, write_audit_record
from privaudit.records.run import read_record, write_record
from privaudit.report.model import build_report
from tests.audit.blobs import Blobs, dpsgd_audit, two_blobs
from tests.report.conftest import write_inputs


@pytest.fixture(scope="module")
def audit() -> AuditRecord:
    blobs: Blobs = two_blobs()
    return dpsgd_audit(blobs)


def _two_ledgers(tmp_path: Path) -> tuple[tuple[Path, Path, Path], tuple[Path, Path, Path]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    return write_inputs(tmp_path / "a"), write_inputs(tmp_path / "b", extra_steps=10)


def _bind_run(runs: Path, ledger: Path, name: str = "train-a") -> Path:
    """The run record ``name`` bound to the last entry of its run in ``ledger``."""
    path = runs / f"{name}.json"
    record = read_record(path)
    head = [e for e in read_ledger(ledger).entries if e.run == name][-1].hash
    assert record.privacy is not None
    privacy = record.privacy.model_copy(update={"ledger_head": head, "dataset_id": "digits"})
    write_record(record.model_copy(update={"privacy": privacy}), path)
    return path


def _bound_audit(audit: AuditRecord, ledger: Path, path: Path) -> Path:
    head = read_ledger(ledger).head
    bound = audit.model_copy(update={"ledger_head": head, "dataset_id": "digits", "run": "train-a"})
    write_audit_record(bound, path)
    return path


def test_a_run_record_of_another_ledger_is_skipped_with_a_reason(tmp_path: Path) -> None:
    (ledger_a, policy, runs_a), (ledger_b, _, _) = _two_ledgers(tmp_path)
    # Same run name and dataset, but its entry hash is of ledger b: not this ledger's run.
    record = _bind_run(runs_a, ledger_b)
    report = build_report(ledger_a, policy, runs=[record])
    assert report.runs == ()
    [skipped] = report.skipped
    assert skipped.kind == "run" and skipped.name == "train-a"
    assert "not in this ledger" in skipped.reason
    assert report.model_dump(mode="json")["skipped"][0]["reason"] == skipped.reason


def test_a_run_record_of_the_assessed_ledger_is_attached(tmp_path: Path) -> None:
    (ledger_a, policy, runs_a), _ = _two_ledgers(tmp_path)
    record = _bind_run(runs_a, ledger_a)
    report = build_report(ledger_a, policy, runs=[record])
    assert [r.name for r in report.runs] == ["train-a"]
    assert report.skipped == ()


def test_an_audit_record_of_another_ledger_is_skipped(audit: AuditRecord, tmp_path: Path) -> None:
    (ledger_a, policy, _), (ledger_b, _, _) = _two_ledgers(tmp_path)
    path = _bound_audit(audit, ledger_b, tmp_path / "audit.json")
    report = build_report(ledger_a, policy, runs=[path])
    assert report.audits == ()
    [skipped] = report.skipped
    assert skipped.kind == "audit" and "another ledger" in skipped.reason


def test_an_audit_record_bound_to_no_ledger_is_skipped(audit: AuditRecord, tmp_path: Path) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    write_audit_record(audit, tmp_path / "audit.json")
    report = build_report(ledger, policy, runs=[tmp_path / "audit.json"])
    assert report.audits == ()
    assert "bound to no ledger run" in report.skipped[0].reason


def test_an_audit_record_of_the_assessed_ledger_is_attached(
    audit: AuditRecord, tmp_path: Path
) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    path = _bound_audit(audit, ledger, tmp_path / "audit.json")
    report = build_report(ledger, policy, runs=[path])
    assert [a.name for a in report.audits] == [audit.name]
    assert report.skipped == ()


def test_reports_of_different_records_get_different_review_ids(tmp_path: Path) -> None:
    ledger, policy, runs = write_inputs(tmp_path)
    without = build_report(ledger, policy)
    with_runs = build_report(ledger, policy, runs=[runs])
    assert without.review_id != with_runs.review_id


def test_the_same_inputs_give_the_same_review_id(tmp_path: Path) -> None:
    ledger, policy, runs = write_inputs(tmp_path)
    first = build_report(ledger, policy, runs=[runs], generated_at="2026-01-01T00:00:00Z")
    again = build_report(ledger, policy, runs=[runs], generated_at="2027-06-30T12:00:00Z")
    assert first.review_id == again.review_id


def test_the_html_lists_the_skipped_records_and_why(tmp_path: Path) -> None:
    from privaudit.report.render import render_html

    (ledger_a, policy, runs_a), (ledger_b, _, _) = _two_ledgers(tmp_path)
    record = _bind_run(runs_a, ledger_b)
    report = build_report(ledger_a, policy, runs=[record])
    html = render_html(report, [], charts={})
    assert 'id="skipped-records"' in html
    assert "a run of another ledger" in html and str(record) in html
