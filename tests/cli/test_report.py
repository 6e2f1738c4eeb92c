"""``privaudit report`` and ``privaudit demo``: files written, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privaudit.cli import main
from privaudit.ledger import read_ledger
from tests.report.conftest import needs_weasyprint, write_inputs


@needs_weasyprint
def test_report_writes_html_and_pdf_and_exits_0_when_within_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, runs = write_inputs(tmp_path)
    out = tmp_path / "out"
    code = main(
        [
            "report",
            str(ledger),
            "--policy",
            str(policy),
            "--runs",
            str(runs),
            "--out",
            str(out),
            "--format",
            "json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "pass"
    assert sorted(Path(f).name for f in result["files"]) == ["report.html", "report.pdf"]
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")


def test_report_exits_1_on_a_failing_verdict_and_still_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, _ = write_inputs(tmp_path, extra_steps=20000)
    out = tmp_path / "out"
    code = main(
        ["report", str(ledger), "--policy", str(policy), "--out", str(out), "--formats", "html"]
    )
    assert code == 1
    assert "verdict FAIL" in capsys.readouterr().out
    assert "FAIL" in (out / "report.html").read_text(encoding="utf-8")
    assert not (out / "report.pdf").exists()


def test_unknown_format_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    out = tmp_path / "out"
    code = main(
        ["report", str(ledger), "--policy", str(policy), "--out", str(out), "--formats", "docx"]
    )
    err = capsys.readouterr().err
    assert code == 2
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
    code = main(["report", str(ledger), "--policy", str(policy), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and str(ledger) in err
    assert not out.exists()


def test_bad_policy_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    policy.write_text(policy.read_text(encoding="utf-8") + "surprise: 1\n", encoding="utf-8")
    code = main(["report", str(ledger), "--policy", str(policy), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(policy) in err and "surprise" in err


def test_report_refuses_to_overwrite_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    renamed = tmp_path / "report.html"
    ledger.rename(renamed)
    before = renamed.read_bytes()
    code = main(["report", str(renamed), "--policy", str(policy), "--out", str(tmp_path)])
    assert code == 2
    assert "ledger" in capsys.readouterr().err
    assert renamed.read_bytes() == before


def test_demo_runs_the_whole_workflow_and_a_rerun_replaces_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--formats", "html", "--format", "json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    entries = read_ledger(out / "ledger.jsonl").entries
    assert {e.run for e in entries} == {"dpsgd-eps0.5", "dpsgd-eps1", "dpsgd-eps2"}
    # The three runs compose to more than the largest and at most their sum.
    assert 2.0 <= result["epsilon"] <= 3.5
    assert result["epsilon"] <= result["epsilon_limit"]
    baseline = next(r for r in result["runs"] if r["target_epsilon"] is None)
    assert baseline["in_ledger"] is False
    assert (out / "report.html").exists() and (out / "runs" / "baseline-non-private.json").exists()
    head = read_ledger(out / "ledger.jsonl").head

    assert main(["demo", "--out", str(out), "--formats", "html"]) == 0
    assert read_ledger(out / "ledger.jsonl").head != head  # a new ledger, not an extended one
    assert len(read_ledger(out / "ledger.jsonl").entries) == len(entries)
    assert not list(out.glob(".demo-*"))  # no scratch folder left behind


def test_bad_run_record_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, runs = write_inputs(tmp_path)
    (runs / "broken.json").write_text('{"kind": "dpsgd", "name": NaN}', encoding="utf-8")
    code = main(
        [
            "report",
            str(ledger),
            "--policy",
            str(policy),
            "--runs",
            str(runs),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "broken.json" in err
    assert not (tmp_path / "o").exists()
