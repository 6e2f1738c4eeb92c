"""``privaudit ledger keygen|seal`` and the anchors of ``ledger verify`` and ``check``:
``--expect-head`` and ``--trusted-key`` catch entries cut off a ledger's end, in every format."""

from __future__ import annotations

import json
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from privaudit.ledger import append_entry, canonical_json
from tests.cli.helpers import cli, one_error_line, snapshot
from tests.cli.tampering import TAMPER_ENTRIES, delete_line, tamper


def keep_first(path: Path, count: int) -> None:
    """Cut the ledger to its first ``count`` lines: a shorter chain that still verifies."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:count]))


def head_of(capsys: pytest.CaptureFixture[str], ledger: Path) -> str:
    result = cli(capsys, "ledger", "verify", ledger, "--format", "json")
    assert result.code == 0, result.err
    head: str = json.loads(result.out)["head"]
    return head


def append(ledger: Path, count: int) -> None:
    for i in range(count):
        append_entry(
            ledger, dataset="ds", mechanism={"type": "gaussian", "noise_multiplier": 9 + i}
        )


def sidecar(ledger: Path) -> Path:
    return ledger.with_name(ledger.name + ".seals")


@pytest.fixture
def key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    path = tmp_path / "seal.key"
    result = cli(capsys, "ledger", "keygen", "--out", path)
    assert result.code == 0, result.err
    return path


@pytest.fixture
def pub(key: Path) -> Path:
    return key.with_name(key.name + ".pub")


@pytest.fixture
def sealed(capsys: pytest.CaptureFixture[str], five: Path, key: Path) -> Path:
    """The five-entry ledger, sealed once with ``key``."""
    result = cli(capsys, "ledger", "seal", five, "--key", key)
    assert result.code == 0, result.err
    return five


# --- keygen ------------------------------------------------------------------------------------


def test_keygen_writes_both_keys_and_prints_the_fingerprint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = cli(capsys, "ledger", "keygen", "--out", tmp_path / "k", "--format", "json")

    data = json.loads(result.out)
    assert result.code == 0
    assert (tmp_path / "k").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert (tmp_path / "k.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    assert len(data["fingerprint"]) == 64


def test_keygen_text_output_names_the_fingerprint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = cli(capsys, "ledger", "keygen", "--out", tmp_path / "k")

    assert result.code == 0
    assert result.out.splitlines()[-1].startswith("fingerprint ")


def test_keygen_refuses_to_overwrite_a_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path
) -> None:
    before = snapshot(tmp_path)

    result = cli(capsys, "ledger", "keygen", "--out", key)

    assert result.code == 2
    assert one_error_line(result) == f"privaudit: error: {key}: already exists;" + (
        " refusing to overwrite a key file"
    )
    assert snapshot(tmp_path) == before


# --- seal --------------------------------------------------------------------------------------


def test_seal_appends_one_signed_line_per_seal(
    capsys: pytest.CaptureFixture[str], sealed: Path, key: Path
) -> None:
    append(sealed, 1)

    result = cli(capsys, "ledger", "seal", sealed, "--key", key)

    lines = sidecar(sealed).read_bytes().splitlines()
    assert result.code == 0
    assert f"sealed {TAMPER_ENTRIES + 1} entries" in result.out
    assert [json.loads(line)["entries"] for line in lines] == [TAMPER_ENTRIES, TAMPER_ENTRIES + 1]


def test_seal_of_a_broken_ledger_is_refused_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, five: Path, key: Path
) -> None:
    tamper(five, delete_line, 2)
    before = snapshot(tmp_path)

    result = cli(capsys, "ledger", "seal", five, "--key", key)

    assert result.code == 1
    assert f"{five}: line 2: " in one_error_line(result)
    assert snapshot(tmp_path) == before
    assert not sidecar(five).exists()


def test_seal_of_a_broken_ledger_leaves_the_sidecar_unchanged(
    capsys: pytest.CaptureFixture[str], sealed: Path, key: Path
) -> None:
    before = sidecar(sealed).read_bytes()
    tamper(sealed, delete_line, 3)

    result = cli(capsys, "ledger", "seal", sealed, "--key", key)

    assert result.code == 1
    assert sidecar(sealed).read_bytes() == before


def test_seal_with_a_missing_key_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, five: Path
) -> None:
    result = cli(capsys, "ledger", "seal", five, "--key", tmp_path / "absent.key")

    assert result.code == 2
    assert "absent.key: expected an existing file" in one_error_line(result)
    assert not sidecar(five).exists()


def test_seal_with_a_public_key_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], five: Path, pub: Path
) -> None:
    result = cli(capsys, "ledger", "seal", five, "--key", pub)

    assert result.code == 2
    assert f"{pub}: expected an unencrypted Ed25519 private key" in one_error_line(result)


# --- verify --trusted-key ----------------------------------------------------------------------


def test_verify_with_the_trusted_key_names_the_newest_seal(
    capsys: pytest.CaptureFixture[str], sealed: Path, pub: Path
) -> None:
    result = cli(capsys, "ledger", "verify", sealed, "--trusted-key", pub)

    seal = json.loads(sidecar(sealed).read_bytes())
    assert result.code == 0, result.err
    assert f"newest: line 1, {TAMPER_ENTRIES} entries, head {seal['head']}" in result.out
    assert f"sealed {seal['time']} by key {seal['key']}" in result.out


def test_verify_json_output_carries_the_newest_seal(
    capsys: pytest.CaptureFixture[str], sealed: Path, pub: Path
) -> None:
    result = cli(capsys, "ledger", "verify", sealed, "--trusted-key", pub, "--format", "json")

    data = json.loads(result.out)
    assert result.code == 0
    assert data["seals"] == 1
    assert data["newest_seal"] == json.loads(sidecar(sealed).read_bytes())


def test_entries_appended_after_a_seal_still_verify(
    capsys: pytest.CaptureFixture[str], sealed: Path, pub: Path
) -> None:
    append(sealed, 2)

    result = cli(capsys, "ledger", "verify", sealed, "--trusted-key", pub)

    assert result.code == 0, result.err
    assert f"{TAMPER_ENTRIES + 2} entries, hash chain intact" in result.out


@pytest.mark.parametrize(("cut", "missing"), [(1, "1 entry"), (3, "3 entries")])
def test_verify_fails_on_a_ledger_cut_below_its_seal(
    capsys: pytest.CaptureFixture[str], sealed: Path, pub: Path, cut: int, missing: str
) -> None:
    keep_first(sealed, TAMPER_ENTRIES - cut)

    result = cli(capsys, "ledger", "verify", sealed, "--trusted-key", pub)

    line = one_error_line(result)
    assert result.code == 1
    assert f"ends at entry {TAMPER_ENTRIES - cut}" in line
    assert f"{missing} missing compared with that seal" in line


def test_verify_fails_on_a_seal_by_another_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sealed: Path, pub: Path
) -> None:
    other = tmp_path / "other.key"
    cli(capsys, "ledger", "keygen", "--out", other)
    cli(capsys, "ledger", "seal", sealed, "--key", other)

    result = cli(capsys, "ledger", "verify", sealed, "--trusted-key", pub)

    assert result.code == 1
    assert f"{sidecar(sealed)}: line 2: signed by key" in one_error_line(result)
    assert "which is not a trusted key" in result.err


def test_verify_accepts_seals_by_any_of_several_trusted_keys(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sealed: Path, pub: Path
) -> None:
    other = tmp_path / "other.key"
    cli(capsys, "ledger", "keygen", "--out", other)
    cli(capsys, "ledger", "seal", sealed, "--key", other)

    result = cli(
        capsys, "ledger", "verify", sealed, "--trusted-key", pub, "--trusted-key", f"{other}.pub"
    )

    assert result.code == 0, result.err
    assert "2 seal(s)" in result.out


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("entries", TAMPER_ENTRIES - 1),
        ("head", "ab" * 32),
        ("time", "2030-01-01T00:00:00.000000Z"),
        ("signature", None),
    ],
)
def test_verify_fails_on_an_edited_seal(
    capsys: pytest.CaptureFixture[str], sealed: Path, pub: Path, field: str, value: object
) -> None:
    obj = json.loads(sidecar(sealed).read_bytes())
    if value is None:  # flip one bit of the signature's first byte
        value = f"{int(obj['signature'][:2], 16) ^ 1:02x}" + obj["signature"][2:]
    sidecar(sealed).write_bytes(canonical_json(obj | {field: value}) + b"\n")

    result = cli(capsys, "ledger", "verify", sealed, "--trusted-key", pub)

    assert result.code == 1
    assert one_error_line(result).startswith(f"privaudit: error: {sidecar(sealed)}: line 1: ")
    assert "the signature does not verify" in result.err


def test_verify_with_a_trusted_key_but_no_seals_fails(
    capsys: pytest.CaptureFixture[str], five: Path, pub: Path
) -> None:
    result = cli(capsys, "ledger", "verify", five, "--trusted-key", pub)

    assert result.code == 1
    assert "no seal to verify" in one_error_line(result)


def test_verify_without_keys_notes_the_unchecked_seals(
    capsys: pytest.CaptureFixture[str], sealed: Path
) -> None:
    result = cli(capsys, "ledger", "verify", sealed)

    assert result.code == 0
    assert "was not checked; pass --trusted-key PUB" in result.out


def test_verify_with_a_missing_key_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sealed: Path
) -> None:
    result = cli(capsys, "ledger", "verify", sealed, "--trusted-key", tmp_path / "absent.pub")

    assert result.code == 2
    assert "absent.pub: expected an existing file; found no such file" in one_error_line(result)


def test_verify_with_a_malformed_key_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sealed: Path
) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")

    result = cli(capsys, "ledger", "verify", sealed, "--trusted-key", bad)

    assert result.code == 2
    assert f"{bad}: expected an Ed25519 public key in PEM" in one_error_line(result)


# --- verify --expect-head ----------------------------------------------------------------------


def test_verify_passes_at_the_expected_head(capsys: pytest.CaptureFixture[str], five: Path) -> None:
    result = cli(capsys, "ledger", "verify", five, "--expect-head", head_of(capsys, five).upper())

    assert result.code == 0, result.err
    assert "ends at the expected head" in result.out


@pytest.mark.parametrize("cut", [1, 3])
def test_verify_expect_head_fails_on_a_truncated_ledger(
    capsys: pytest.CaptureFixture[str], five: Path, cut: int
) -> None:
    head = head_of(capsys, five)
    keep_first(five, TAMPER_ENTRIES - cut)

    result = cli(capsys, "ledger", "verify", five, "--expect-head", head)

    line = one_error_line(result)
    assert result.code == 1
    assert f"ends at entry {TAMPER_ENTRIES - cut}" in line
    assert f"expected head {head[:12]}…" in line
    assert "truncated or rewritten" in line


@pytest.mark.parametrize(("cut", "missing"), [(1, "1 entry"), (3, "3 entries")])
def test_verify_expect_head_counts_missing_entries_from_a_seal(
    capsys: pytest.CaptureFixture[str], sealed: Path, pub: Path, cut: int, missing: str
) -> None:
    head = head_of(capsys, sealed)
    keep_first(sealed, TAMPER_ENTRIES - cut)

    result = cli(capsys, "ledger", "verify", sealed, "--expect-head", head)

    assert result.code == 1
    assert f"gives as entry {TAMPER_ENTRIES}: {missing} missing (truncated?)" in result.err


def test_verify_expect_head_counts_entries_beyond_it(
    capsys: pytest.CaptureFixture[str], five: Path
) -> None:
    head = head_of(capsys, five)
    append(five, 2)

    result = cli(capsys, "ledger", "verify", five, "--expect-head", head)

    assert result.code == 1
    assert f"(entry {TAMPER_ENTRIES}): 2 entries beyond the expected head" in one_error_line(result)


@pytest.mark.parametrize("bad", ["abc", "z" * 64, "0" * 63])
def test_verify_with_a_malformed_head_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], five: Path, bad: str
) -> None:
    result = cli(capsys, "ledger", "verify", five, "--expect-head", bad)

    assert result.code == 2
    assert one_error_line(result).startswith("privaudit: error: --expect-head: expected a head")


# --- check -------------------------------------------------------------------------------------


def test_check_passes_at_the_expected_head_with_its_seals(
    capsys: pytest.CaptureFixture[str], sealed: Path, pub: Path, policy: Path
) -> None:
    head = head_of(capsys, sealed)

    result = cli(
        capsys, "check", sealed, "--policy", policy, "--expect-head", head, "--trusted-key", pub
    )

    assert result.code == 0, result.out + result.err
    assert "ends at the expected head" in result.out
    assert "1 seal(s) signed by trusted keys" in result.out


@pytest.mark.parametrize(("cut", "missing"), [(1, "1 entry"), (3, "3 entries")])
def test_check_expect_head_fails_on_a_truncated_ledger(
    capsys: pytest.CaptureFixture[str], sealed: Path, policy: Path, cut: int, missing: str
) -> None:
    head = head_of(capsys, sealed)
    keep_first(sealed, TAMPER_ENTRIES - cut)

    result = cli(capsys, "check", sealed, "--policy", policy, "--expect-head", head)

    assert result.code == 1
    assert f"FAIL: {sealed}: ends at entry {TAMPER_ENTRIES - cut}" in result.out
    assert f"{missing} missing (truncated?)" in result.out


def test_check_expect_head_fails_on_entries_beyond_it(
    capsys: pytest.CaptureFixture[str], five: Path, policy: Path
) -> None:
    head = head_of(capsys, five)
    append(five, 1)

    result = cli(capsys, "check", five, "--policy", policy, "--expect-head", head)

    assert result.code == 1
    assert "1 entry beyond the expected head" in result.out


def test_check_expect_head_mismatch_fails_in_json(
    capsys: pytest.CaptureFixture[str], five: Path, policy: Path
) -> None:
    head = head_of(capsys, five)
    tamper(five, delete_line, TAMPER_ENTRIES)

    result = cli(
        capsys, "check", five, "--policy", policy, "--expect-head", head, "--format", "json"
    )

    data = json.loads(result.out)
    assert result.code == 1
    assert data["status"] == "fail"
    assert [f["code"] for f in data["findings"]] == ["ledger_head_mismatch"]


def test_check_expect_head_mismatch_fails_in_junit(
    capsys: pytest.CaptureFixture[str], five: Path, policy: Path
) -> None:
    head = head_of(capsys, five)
    tamper(five, delete_line, TAMPER_ENTRIES)

    result = cli(
        capsys, "check", five, "--policy", policy, "--expect-head", head, "--format", "junit"
    )

    failures = ET.fromstring(result.out).findall(".//failure")
    assert result.code == 1
    assert len(failures) == 1
    assert "expected head" in failures[0].attrib["message"]


@pytest.mark.parametrize("output_format", ["github", "markdown"])
def test_check_expect_head_mismatch_is_reported_in_ci_formats(
    capsys: pytest.CaptureFixture[str], five: Path, policy: Path, output_format: str
) -> None:
    head = head_of(capsys, five)
    tamper(five, delete_line, TAMPER_ENTRIES)

    result = cli(
        capsys, "check", five, "--policy", policy, "--expect-head", head, "--format", output_format
    )

    assert result.code == 1
    assert "truncated or rewritten" in result.out


@pytest.mark.parametrize(("cut", "missing"), [(1, "1 entry"), (3, "3 entries")])
def test_check_trusted_key_fails_on_a_ledger_cut_below_its_seal(
    capsys: pytest.CaptureFixture[str],
    sealed: Path,
    pub: Path,
    policy: Path,
    cut: int,
    missing: str,
) -> None:
    keep_first(sealed, TAMPER_ENTRIES - cut)

    result = cli(
        capsys, "check", sealed, "--policy", policy, "--trusted-key", pub, "--format", "json"
    )

    [finding] = json.loads(result.out)["findings"]
    assert result.code == 1
    assert finding["code"] == "ledger_below_seal"
    assert finding["severity"] == "fail"
    assert f"{missing} missing compared with that seal" in finding["message"]


def test_check_trusted_key_without_seals_fails(
    capsys: pytest.CaptureFixture[str], five: Path, pub: Path, policy: Path
) -> None:
    result = cli(capsys, "check", five, "--policy", policy, "--trusted-key", pub)

    assert result.code == 1
    assert "FAIL: " in result.out
    assert "no seal to verify" in result.out


def test_check_with_a_malformed_head_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], five: Path, policy: Path
) -> None:
    result = cli(capsys, "check", five, "--policy", policy, "--expect-head", "not-a-hash")

    assert result.code == 2
    assert result.out == ""
    assert "--expect-head: expected a head hash" in one_error_line(result)


def test_check_with_a_malformed_key_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, five: Path, policy: Path
) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("garbage\n", encoding="utf-8")

    result = cli(capsys, "check", five, "--policy", policy, "--trusted-key", bad)

    assert result.code == 2
    assert result.out == ""
    assert f"{bad}: expected an Ed25519 public key" in one_error_line(result)
