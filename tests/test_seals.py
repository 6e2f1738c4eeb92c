"""Tests of ledger anchors: expected heads, Ed25519 keys, sealing and verifying seals."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from privaudit.errors import InputError, LedgerAnchorError, LedgerIntegrityError
from privaudit.ledger import GENESIS, Ledger, append_entry, canonical_json, read_ledger
from privaudit.seals import (
    SEAL_FIELDS,
    TrustedKey,
    check_anchors,
    check_expected_head,
    check_seals,
    fingerprint,
    generate_key,
    load_private_key,
    load_trusted_keys,
    parse_head,
    read_seals,
    seal_ledger,
    seals_path,
)

ENTRIES = 5


def add_entries(path: Path, count: int, first_sigma: float = 3.0) -> None:
    for i in range(count):
        append_entry(
            path, dataset="ds", mechanism={"type": "gaussian", "noise_multiplier": first_sigma + i}
        )


def keep_first(path: Path, count: int) -> None:
    """Cut the ledger to its first ``count`` lines: a valid, shorter chain."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:count]))


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.jsonl"
    add_entries(path, ENTRIES)
    return path


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "seal.key"
    generate_key(path)
    return path


@pytest.fixture
def trusted(key: Path) -> tuple[TrustedKey, ...]:
    return load_trusted_keys([key.with_name(key.name + ".pub")])


def seal_now(ledger_path: Path, key: Path) -> None:
    seal_ledger(ledger_path, load_private_key(key))


def rewrite_seal(ledger_path: Path, line: int, **changes: Any) -> None:
    sidecar = seals_path(ledger_path)
    lines = sidecar.read_bytes().splitlines(keepends=True)
    obj = json.loads(lines[line - 1]) | changes
    lines[line - 1] = canonical_json(obj) + b"\n"
    sidecar.write_bytes(b"".join(lines))


def anchor_error(ledger: Ledger, trusted: tuple[TrustedKey, ...]) -> LedgerAnchorError:
    with pytest.raises(LedgerAnchorError) as raised:
        check_seals(ledger, trusted)
    return raised.value


# --- expected head -----------------------------------------------------------------------------


def test_parse_head_accepts_upper_case_hex() -> None:
    assert parse_head("AB" * 32) == "ab" * 32


@pytest.mark.parametrize("text", ["", "abc", "g" * 64, "a" * 63, "a" * 65])
def test_parse_head_refuses_anything_but_64_hex_digits(text: str) -> None:
    with pytest.raises(InputError, match="--expect-head: expected a head hash") as raised:
        parse_head(text)
    assert raised.value.exit_code == 2


def test_a_ledger_ending_at_the_expected_head_passes(ledger_path: Path) -> None:
    ledger = read_ledger(ledger_path)

    assert check_expected_head(ledger, ledger.head) is None


def test_an_expected_head_inside_the_ledger_counts_the_entries_after_it(
    ledger_path: Path,
) -> None:
    ledger = read_ledger(ledger_path)

    problem = check_expected_head(ledger, ledger.entries[2].hash)

    assert problem is not None
    assert problem.exit_code == 1
    assert problem.code == "ledger_head_mismatch"
    assert "expected head" in str(problem)
    assert "(entry 3): 2 entries beyond the expected head" in str(problem)


def test_the_empty_head_as_expected_head_counts_every_entry(ledger_path: Path) -> None:
    problem = check_expected_head(read_ledger(ledger_path), GENESIS)

    assert problem is not None
    assert f"(entry 0): {ENTRIES} entries beyond the expected head" in str(problem)


def test_an_unknown_expected_head_says_truncated_or_rewritten(ledger_path: Path) -> None:
    ledger = read_ledger(ledger_path)
    keep_first(ledger_path, 3)

    problem = check_expected_head(read_ledger(ledger_path), ledger.head)

    assert problem is not None
    assert "not the hash of any entry: the ledger was truncated or rewritten" in str(problem)


def test_a_verified_seal_of_the_expected_head_counts_the_missing_entries(
    ledger_path: Path, key: Path, trusted: tuple[TrustedKey, ...]
) -> None:
    head = read_ledger(ledger_path).head
    seal_now(ledger_path, key)
    keep_first(ledger_path, 2)
    seals = read_seals(ledger_path)

    problem = check_expected_head(read_ledger(ledger_path), head, seals)

    assert problem is not None
    assert "which seal line 1 gives as entry 5: 3 entries missing (truncated?)" in str(problem)


def test_an_unverified_seal_still_counts_but_says_it_is_unverified(
    ledger_path: Path, key: Path
) -> None:
    head = read_ledger(ledger_path).head
    seal_now(ledger_path, key)
    keep_first(ledger_path, 4)

    problem = check_expected_head(read_ledger(ledger_path), head)

    assert problem is not None
    assert "an unverified seal (line 1) gives as entry 5: 1 entry missing" in str(problem)


# --- keys --------------------------------------------------------------------------------------


def test_generate_key_writes_a_private_key_only_its_owner_can_read(
    tmp_path: Path,
) -> None:
    generate_key(tmp_path / "k")

    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600


def test_generate_key_returns_the_sha256_of_the_raw_public_key(tmp_path: Path) -> None:
    printed = generate_key(tmp_path / "k")

    public = serialization.load_pem_public_key((tmp_path / "k.pub").read_bytes())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert printed == hashlib.sha256(raw).hexdigest()
    assert fingerprint(load_private_key(tmp_path / "k").public_key()) == printed


@pytest.mark.parametrize("existing", ["k", "k.pub"])
def test_generate_key_refuses_to_overwrite_either_file(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_bytes(b"precious")

    with pytest.raises(InputError, match="already exists"):
        generate_key(tmp_path / "k")

    assert (tmp_path / existing).read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]


def test_load_private_key_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_private_key(tmp_path / "absent.key")


def test_load_private_key_refuses_text_that_is_not_pem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n", encoding="utf-8")

    with pytest.raises(InputError, match="expected an unencrypted Ed25519 private key"):
        load_private_key(bad)


def test_load_private_key_refuses_another_kind_of_key(tmp_path: Path) -> None:
    other = tmp_path / "x25519.key"
    other.write_bytes(
        X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    with pytest.raises(InputError, match="Ed25519 private key; found a key of type X25519Private"):
        load_private_key(other)


def test_load_trusted_keys_refuses_a_private_key(key: Path) -> None:
    with pytest.raises(InputError, match="is a private key; expected the public key"):
        load_trusted_keys([key])


def test_load_trusted_keys_refuses_a_damaged_public_key(tmp_path: Path, key: Path) -> None:
    damaged = tmp_path / "damaged.pub"
    damaged.write_bytes(key.with_name(key.name + ".pub").read_bytes().replace(b"M", b"A", 3))

    with pytest.raises(InputError, match=r"damaged\.pub: expected an Ed25519 public key in PEM"):
        load_trusted_keys([damaged])


# --- sealing -----------------------------------------------------------------------------------


def test_a_seal_line_is_canonical_json_of_exactly_the_seal_fields(
    ledger_path: Path, key: Path
) -> None:
    seal_ledger(ledger_path, load_private_key(key), now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))

    line = seals_path(ledger_path).read_bytes()
    obj = json.loads(line)
    assert line == canonical_json(obj) + b"\n"
    assert sorted(obj) == sorted(SEAL_FIELDS)
    assert obj["entries"] == ENTRIES
    assert obj["head"] == read_ledger(ledger_path).head
    assert obj["ledger"] == "ledger.jsonl"
    assert obj["time"] == "2026-01-02T03:04:05.000000Z"


def test_the_signature_covers_the_canonical_statement(ledger_path: Path, key: Path) -> None:
    private_key = load_private_key(key)
    seal = seal_ledger(ledger_path, private_key)

    statement = json.loads(seals_path(ledger_path).read_bytes())
    signature = bytes.fromhex(statement.pop("signature"))
    private_key.public_key().verify(signature, canonical_json(statement))  # raises if not
    assert seal.signature == signature.hex()


def test_sealing_again_appends_a_line(ledger_path: Path, key: Path) -> None:
    seal_now(ledger_path, key)
    add_entries(ledger_path, 2, first_sigma=10)
    seal_now(ledger_path, key)

    assert [seal.entries for seal in read_seals(ledger_path)] == [ENTRIES, ENTRIES + 2]


def test_sealing_a_broken_ledger_writes_nothing(ledger_path: Path, key: Path) -> None:
    lines = ledger_path.read_bytes().splitlines(keepends=True)
    ledger_path.write_bytes(b"".join(lines[:1] + lines[2:]))  # line 2 deleted

    with pytest.raises(LedgerIntegrityError):
        seal_now(ledger_path, key)

    assert not seals_path(ledger_path).exists()


def test_sealing_a_ledger_cut_below_an_earlier_seal_is_refused(
    ledger_path: Path, key: Path
) -> None:
    seal_now(ledger_path, key)
    before = seals_path(ledger_path).read_bytes()
    keep_first(ledger_path, 3)

    with pytest.raises(LedgerAnchorError, match="2 entries missing"):
        seal_now(ledger_path, key)

    assert seals_path(ledger_path).read_bytes() == before


# --- verifying seals ---------------------------------------------------------------------------


def test_a_sealed_ledger_verifies(
    ledger_path: Path, key: Path, trusted: tuple[TrustedKey, ...]
) -> None:
    seal_now(ledger_path, key)

    [seal] = check_seals(read_ledger(ledger_path), trusted)

    assert seal.entries == ENTRIES


def test_entries_appended_after_a_seal_still_verify(
    ledger_path: Path, key: Path, trusted: tuple[TrustedKey, ...]
) -> None:
    seal_now(ledger_path, key)
    add_entries(ledger_path, 3, first_sigma=10)

    assert len(check_seals(read_ledger(ledger_path), trusted)) == 1


@pytest.mark.parametrize(("kept", "missing"), [(4, "1 entry"), (2, "3 entries")])
def test_a_ledger_cut_below_a_seal_fails_counting_the_missing_entries(
    ledger_path: Path, key: Path, trusted: tuple[TrustedKey, ...], kept: int, missing: str
) -> None:
    seal_now(ledger_path, key)
    keep_first(ledger_path, kept)

    error = anchor_error(read_ledger(ledger_path), trusted)

    assert error.exit_code == 1
    assert error.code == "ledger_below_seal"
    assert f"ends at entry {kept}" in str(error)
    assert f"{missing} missing compared with that seal" in str(error)


def test_the_count_is_against_the_newest_seal(
    ledger_path: Path, key: Path, trusted: tuple[TrustedKey, ...]
) -> None:
    seal_now(ledger_path, key)
    add_entries(ledger_path, 2, first_sigma=10)
    seal_now(ledger_path, key)
    keep_first(ledger_path, 3)

    error = anchor_error(read_ledger(ledger_path), trusted)

    assert "seal line 2 (7 entries" in str(error)
    assert "4 entries missing" in str(error)


def test_a_ledger_cut_and_appended_again_fails_as_rewritten(
    ledger_path: Path, key: Path, trusted: tuple[TrustedKey, ...]
) -> None:
    seal_now(ledger_path, key)
    keep_first(ledger_path, 3)
    add_entries(ledger_path, 2, first_sigma=20)

    error = anchor_error(read_ledger(ledger_path), trusted)

    assert "entry 5 has hash" in str(error)
    assert "the ledger was rewritten at or before entry 5" in str(error)


def test_a_seal_by_an_untrusted_key_fails_naming_its_line(
    tmp_path: Path, ledger_path: Path, key: Path, trusted: tuple[TrustedKey, ...]
) -> None:
    seal_now(ledger_path, key)
    other = tmp_path / "other.key"
    generate_key(other)
    seal_now(ledger_path, other)

    error = anchor_error(read_ledger(ledger_path), trusted)

    assert error.line == 2
    assert error.code == "ledger_seal_invalid"
    assert "which is not a trusted key" in str(error)


@pytest.mark.parametrize(
    "changes",
    [
        {"entries": ENTRIES - 1},
        {"head": "0" * 64},
        {"time": "2020-01-01T00:00:00.000000Z"},
        {"ledger": "other.jsonl"},
    ],
    ids=["entries", "head", "time", "ledger"],
)
def test_an_edited_seal_fails_its_signature(
    ledger_path: Path, key: Path, trusted: tuple[TrustedKey, ...], changes: dict[str, Any]
) -> None:
    seal_now(ledger_path, key)
    rewrite_seal(ledger_path, 1, **changes)

    error = anchor_error(read_ledger(ledger_path), trusted)

    assert error.line == 1
    assert "the signature does not verify" in str(error)


def test_a_flipped_signature_byte_fails(
    ledger_path: Path, key: Path, trusted: tuple[TrustedKey, ...]
) -> None:
    seal_now(ledger_path, key)
    signature = read_seals(ledger_path)[0].signature
    flipped = f"{int(signature[:2], 16) ^ 1:02x}" + signature[2:]
    rewrite_seal(ledger_path, 1, signature=flipped)

    error = anchor_error(read_ledger(ledger_path), trusted)

    assert "the signature does not verify" in str(error)


def test_a_correctly_signed_seal_of_another_ledger_fails(
    tmp_path: Path, ledger_path: Path, key: Path, trusted: tuple[TrustedKey, ...]
) -> None:
    seal_now(ledger_path, key)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(ledger_path.read_bytes())
    seals_path(copy).write_bytes(seals_path(ledger_path).read_bytes())

    error = anchor_error(read_ledger(copy), trusted)

    assert "seals ledger 'ledger.jsonl', not 'copy.jsonl'" in str(error)


@pytest.mark.parametrize("sidecar", [None, b""], ids=["no-file", "empty-file"])
def test_no_seal_fails_when_keys_are_given(
    ledger_path: Path, trusted: tuple[TrustedKey, ...], sidecar: bytes | None
) -> None:
    if sidecar is not None:
        seals_path(ledger_path).write_bytes(sidecar)

    error = anchor_error(read_ledger(ledger_path), trusted)

    assert error.code == "ledger_not_sealed"
    assert "no seal to verify" in str(error)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda line: b"{" + line, "is not valid JSON"),
        (lambda line: line.rstrip(b"\n"), "has no line break at the end"),
        (lambda line: line.replace(b'"version":1', b'"version":1,"extra":1'), "unknown extra"),
        (lambda line: line.replace(b'"version":1', b'"version":1,"version":1'), "appears twice"),
        (lambda line: line.replace(b'"version":1', b'"version":2'), "version: expected 1"),
        (lambda line: line.replace(b'"entries":5', b'"entries":true'), "entries: expected"),
        (lambda line: b"\xff" + line, "is not UTF-8 text"),
    ],
    ids=["json", "newline", "extra", "duplicate", "version", "bool-count", "utf8"],
)
def test_a_damaged_seal_line_fails_naming_it(
    ledger_path: Path, key: Path, trusted: tuple[TrustedKey, ...], damage: Any, problem: str
) -> None:
    seal_now(ledger_path, key)
    sidecar = seals_path(ledger_path)
    sidecar.write_bytes(damage(sidecar.read_bytes()))

    error = anchor_error(read_ledger(ledger_path), trusted)

    assert error.exit_code == 1
    assert str(error).startswith(f"{sidecar}: line 1: ")
    assert problem in str(error)


def test_check_anchors_reports_the_seal_and_the_head_problems(
    ledger_path: Path, key: Path, trusted: tuple[TrustedKey, ...]
) -> None:
    head = read_ledger(ledger_path).head
    seal_now(ledger_path, key)
    keep_first(ledger_path, 4)

    seals, problems = check_anchors(read_ledger(ledger_path), expected_head=head, trusted=trusted)

    assert seals == ()
    assert [p.code for p in problems] == ["ledger_below_seal", "ledger_head_mismatch"]


def test_check_anchors_asks_nothing_when_given_nothing(ledger_path: Path) -> None:
    assert check_anchors(read_ledger(ledger_path), expected_head=None, trusted=()) == ((), ())


def test_a_key_made_outside_privaudit_seals_and_verifies(tmp_path: Path, ledger_path: Path) -> None:
    # Any Ed25519 key in the same PEM formats works: nothing depends on how keygen made it.
    private_key = Ed25519PrivateKey.generate()
    public = tmp_path / "outside.pub"
    public.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    seal_ledger(ledger_path, private_key)

    assert len(check_seals(read_ledger(ledger_path), load_trusted_keys([public]))) == 1
