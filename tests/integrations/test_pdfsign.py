"""PAdES signatures of report PDFs through the real pyHanko: a signed report verifies, names its
signer and time, keeps its PDF/A attachments, and fails on any one changed byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from privaudit.errors import InputError
from privaudit.report.model import build_report
from privaudit.report.render import write_report
from tests.report.conftest import needs_weasyprint, signing_key, write_inputs

pytest.importorskip("pyhanko", reason="pyHanko is not installed (the [sign] extra)")
pypdf = pytest.importorskip("pypdf", reason="pypdf is a dev dependency: pip install -e '.[dev]'")

from privaudit.integrations.pdfsign import load_signer, read_signatures, sign_pdf  # noqa: E402

pytestmark = needs_weasyprint


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes, Path]:
    """An unsigned report PDF, the same signed, and the signing key."""
    folder = tmp_path_factory.mktemp("signed")
    ledger, policy, runs = write_inputs(folder)
    write_report(build_report(ledger, policy, runs=[runs]), folder / "out", ["pdf"])
    original = (folder / "out" / "report.pdf").read_bytes()
    key = signing_key(folder)
    return original, sign_pdf(original, load_signer(key, folder / "key.crt")), key


def test_a_signed_pdf_verifies_and_names_its_signer(signed: tuple[bytes, bytes, Path]) -> None:
    _, data, _ = signed
    (signature,) = read_signatures(data, "report.pdf")
    assert signature.ok
    assert "Test Signer" in signature.signer
    assert signature.signed_at is not None and signature.signed_at.endswith("Z")


def test_signing_appends_and_keeps_the_attachments(signed: tuple[bytes, bytes, Path]) -> None:
    import io

    original, data, _ = signed
    assert data.startswith(original)  # an incremental update: the rendered bytes are untouched
    attachments = pypdf.PdfReader(io.BytesIO(data)).attachments
    assert {"ledger.jsonl", "policy.yaml", "assessment.json", "report-data.json"} <= set(
        attachments
    )


@pytest.mark.parametrize("at", [0.1, 0.5, 0.9])
def test_one_changed_byte_in_the_signed_range_fails(
    signed: tuple[bytes, bytes, Path], at: float
) -> None:
    original, data, _ = signed
    changed = bytearray(data)
    changed[int(len(original) * at)] ^= 0x01
    signatures = read_signatures(bytes(changed), "report.pdf")
    assert signatures and not any(s.ok for s in signatures)


def test_an_unsigned_pdf_has_no_signature(signed: tuple[bytes, bytes, Path]) -> None:
    original, _, _ = signed
    assert read_signatures(original, "report.pdf") == []


def test_a_certificate_of_another_key_is_refused(tmp_path: Path) -> None:
    key = signing_key(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    signing_key(other)
    with pytest.raises(InputError, match="does not certify"):
        load_signer(key, other / "key.crt")


def test_not_a_pdf_is_bad_input() -> None:
    with pytest.raises(InputError, match="expected a PDF"):
        read_signatures(b"<html>", "report.html")
