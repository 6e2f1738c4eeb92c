"""Detached Ed25519 signatures of report files: a signed file verifies and says who signed it
and when; one changed byte of the file or of the signature fails; a foreign key is untrusted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from privaudit.errors import InputError
from privaudit.report.signing import sign_detached, verify_detached
from privaudit.seals import generate_key, load_private_key, load_trusted_keys

DATA = b"<!DOCTYPE html><html><body>report</body></html>\n"
WHEN = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "key"
    generate_key(path)
    return path


def test_a_signed_file_verifies_and_names_signer_key_and_time(key: Path) -> None:
    signature = sign_detached(DATA, "report.html", load_private_key(key), signer="J. Doe", now=WHEN)
    check = verify_detached(DATA, signature, "report.html.sig")
    assert check.valid
    assert (check.signer, check.signed_at, check.file) == (
        "J. Doe",
        "2026-12-07T10:00:00Z",
        "report.html",
    )
    assert check.key == load_trusted_keys([key.with_name("key.pub")])[0].fingerprint
    assert check.trusted is None


@pytest.mark.parametrize("index", [0, len(DATA) // 2, len(DATA) - 1])
def test_one_changed_byte_of_the_file_fails(key: Path, index: int) -> None:
    signature = sign_detached(DATA, "report.html", load_private_key(key), now=WHEN)
    changed = bytearray(DATA)
    changed[index] ^= 0x01
    check = verify_detached(bytes(changed), signature, "report.html.sig")
    assert not check.valid and "changed since it was signed" in (check.problem or "")


def test_an_edited_signature_statement_fails(key: Path) -> None:
    signature = json.loads(sign_detached(DATA, "report.html", load_private_key(key), now=WHEN))
    signature["signer"] = "Someone Else"
    check = verify_detached(DATA, json.dumps(signature).encode(), "report.html.sig")
    assert not check.valid and "does not verify" in (check.problem or "")


def test_a_file_and_signature_both_replaced_with_another_key_are_untrusted(
    key: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    generate_key(other)
    signature = sign_detached(DATA + b"x", "report.html", load_private_key(other), now=WHEN)
    trusted = load_trusted_keys([key.with_name("key.pub")])
    check = verify_detached(DATA + b"x", signature, "report.html.sig", trusted)
    assert check.trusted is False and not check.valid


def test_a_trusted_key_is_reported_trusted(key: Path) -> None:
    signature = sign_detached(DATA, "report.html", load_private_key(key), now=WHEN)
    check = verify_detached(DATA, signature, "s", load_trusted_keys([key.with_name("key.pub")]))
    assert check.valid and check.trusted is True


@pytest.mark.parametrize("raw", [b"", b"[]", b'{"version": 1}', b"\xff", b'{"a": 1, "a": 2}'])
def test_a_file_that_is_no_signature_is_bad_input(raw: bytes) -> None:
    with pytest.raises(InputError, match="not a privaudit signature file"):
        verify_detached(DATA, raw, "x.sig")
