"""``privaudit report``: files written, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import report
from tests.report.conftest import needs_weasyprint, write_inputs


@needs_weasyprint
def test_report_writes_html_and_pdf_and_exits_0_when_within_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, runs = write_inputs(tmp_path)
    out = tmp_path / "out"
    done = report(capsys, ledger, policy, "--runs", runs, "--out", out, "--format", "json")
    assert done.code == 0
    result = json.loads(done.out)
    assert result["status"] == "pass"
    assert sorted(Path(f).name for f in result["files"]) == ["report.html", "report.pdf"]
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")


def test_report_exits_1_on_a_failing_verdict_and_still_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, _ = write_inputs(tmp_path, extra_steps=20000)
    out = tmp_path / "out"
    done = report(capsys, ledger, policy, "--out", out, "--formats", "html")
    assert done.code == 1
    assert "verdict FAIL" in done.out
    assert "FAIL" in (out / "report.html").read_text(encoding="utf-8")
    assert not (out / "report.pdf").exists()


def test_unknown_format_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    out = tmp_path / "out"
    done = report(capsys, ledger, policy, "--out", out, "--formats", "docx")
    err = done.err
    assert done.code == 2
    assert err.count("\n") == 1 and "--formats" in err and "docx" in err
    assert not out.exists()


def test_tampered_ledger_is_exit_1_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    text = ledger.read_text(encoding="utf-8").replace(
        '"noise_multiplier":20.0', '"noise_multiplier":90.0', 1
    )
    ledger.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    done = report(capsys, ledger, policy, "--out", out)
    err = done.err
    assert done.code == 1
    assert err.count("\n") == 1 and str(ledger) in err
    assert not out.exists()


def test_bad_policy_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    policy.write_text(policy.read_text(encoding="utf-8") + "surprise: 1\n", encoding="utf-8")
    done = report(capsys, ledger, policy, "--out", tmp_path / "o")
    err = done.err
    assert done.code == 2
    assert err.count("\n") == 1 and str(policy) in err and "surprise" in err


def test_report_refuses_to_overwrite_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    renamed = tmp_path / "report.html"
    ledger.rename(renamed)
    before = renamed.read_bytes()
    done = report(capsys, renamed, policy, "--out", tmp_path)
    assert done.code == 2
    assert "ledger" in done.err
    assert renamed.read_bytes() == before


def test_bad_run_record_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, runs = write_inputs(tmp_path)
    (runs / "broken.json").write_text('{"kind": "dpsgd", "name": NaN}', encoding="utf-8")
    done = report(capsys, ledger, policy, "--runs", runs, "--out", tmp_path / "o")
    err = done.err
    assert done.code == 2
    assert err.count("\n") == 1 and "broken.json" in err
    assert not (tmp_path / "o").exists()
