"""``privaudit report``: files written, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import cli, report
from tests.report.conftest import flip_one_byte, needs_weasyprint, signing_key, write_inputs


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


# --- registry record, signatures and `report verify` (issue 19) --------------------------------


def test_registry_option_writes_a_record_that_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a dev dependency")
    from privaudit.report.registry import registry_schema

    ledger, policy, runs = write_inputs(tmp_path)
    record = tmp_path / "out" / "registry.json"
    done = report(
        capsys, ledger, policy, "--runs", runs, "--out", tmp_path / "out", "--formats", "html",
        "--registry", record,
    )  # fmt: skip
    assert done.code == 0 and str(record) in done.out
    jsonschema.validate(json.loads(record.read_text(encoding="utf-8")), registry_schema())


def test_registry_in_a_missing_folder_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    out = tmp_path / "out"
    done = report(capsys, ledger, policy, "--out", out, "--registry", tmp_path / "no" / "r.json")
    assert done.code == 2 and done.err.count("\n") == 1 and "does not exist" in done.err
    assert not out.exists()


def test_missing_signing_key_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    out = tmp_path / "out"
    done = report(capsys, ledger, policy, "--out", out, "--sign", tmp_path / "absent.key")
    assert done.code == 2
    assert done.err.count("\n") == 1 and "absent.key" in done.err
    assert not out.exists()


def test_signed_html_verifies_and_one_changed_byte_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    key = signing_key(tmp_path)
    out = tmp_path / "out"
    done = report(capsys, ledger, policy, "--out", out, "--formats", "html", "--sign", key)
    assert done.code == 0 and (out / "report.html.sig").exists()
    html = out / "report.html"
    verified = cli(capsys, "report", "verify", html, "--trusted-key", key.with_name("key.pub"))
    assert verified.code == 0
    assert "valid" in verified.out and "Test Signer" in verified.out
    assert "signed with a trusted key" in verified.out
    flip_one_byte(html)
    tampered = cli(capsys, "report", "verify", html, "--format", "json")
    assert tampered.code == 1
    assert json.loads(tampered.out)["valid"] is False


def test_an_unsigned_report_fails_verification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    out = tmp_path / "out"
    report(capsys, ledger, policy, "--out", out, "--formats", "html")
    done = cli(capsys, "report", "verify", out / "report.html")
    assert done.code == 1 and "not signed" in done.out


def test_verify_of_a_missing_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = cli(capsys, "report", "verify", tmp_path / "report.pdf")
    assert done.code == 2 and done.err.count("\n") == 1 and "report.pdf" in done.err


@needs_weasyprint
def test_signed_pdf_verifies_and_one_changed_byte_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyhanko", reason="pyHanko is not installed (the [sign] extra)")
    ledger, policy, _ = write_inputs(tmp_path)
    key = signing_key(tmp_path)
    out = tmp_path / "out"
    done = report(capsys, ledger, policy, "--out", out, "--formats", "pdf", "--sign", key)
    assert done.code == 0
    pdf = out / "report.pdf"
    verified = cli(capsys, "report", "verify", pdf, "--trusted-key", key.with_name("key.pub"))
    assert verified.code == 0
    assert "PAdES signature by" in verified.out and "Test Signer" in verified.out
    other = tmp_path / "other"
    other.mkdir()
    stranger = signing_key(other)
    untrusted = cli(capsys, "report", "verify", pdf, "--trusted-key", stranger.with_name("key.pub"))
    assert untrusted.code == 1 and "not a trusted key" in untrusted.out
    flip_one_byte(pdf, 0.3)
    assert cli(capsys, "report", "verify", pdf).code == 1
