"""``privaudit ledger add|verify``: entries appended from JSON text or files, the JSON outputs,
and every tampering of a ledger named by its line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from privaudit.ledger import GENESIS
from tests.cli.helpers import DPSGD_MNIST, GAUSSIAN_2, cli
from tests.cli.tampering import TAMPER_ENTRIES, delete_line, edit_line, every_tampering, tamper


def test_ledger_add_from_json_text_then_verify(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "new.jsonl"

    added = cli(
        capsys, "ledger", "add", path, "--dataset", "ds", "--mechanism", json.dumps(GAUSSIAN_2)
    )
    verified = cli(capsys, "ledger", "verify", path)

    assert added.code == 0, added.err
    assert "appended entry 1" in added.out
    assert verified.code == 0
    assert "1 entry, hash chain intact" in verified.out


def test_ledger_add_from_file_then_verify_counts_entries(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ledger: Path
) -> None:
    mechanism = tmp_path / "mechanism.json"
    mechanism.write_text(json.dumps(DPSGD_MNIST), encoding="utf-8")

    added = cli(capsys, "ledger", "add", ledger, "--dataset", "ds", "--mechanism", f"@{mechanism}")
    verified = cli(capsys, "ledger", "verify", ledger, "--format", "json")

    assert added.code == 0, added.err
    assert "appended entry 2 (dpsgd(" in added.out
    assert verified.code == 0
    assert json.loads(verified.out)["entries"] == 2


def test_ledger_add_json_output_echoes_the_entry(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "new.jsonl"

    result = cli(
        capsys,
        "ledger",
        "add",
        path,
        "--dataset",
        "ds",
        "--partition",
        "silo-1",
        "--run",
        "run-7",
        "--meta",
        '{"lr": 0.1}',
        "--mechanism",
        json.dumps(GAUSSIAN_2),
        "--format",
        "json",
    )

    entry = json.loads(result.out)
    assert result.code == 0
    assert entry["seq"] == 1
    assert entry["prev"] == GENESIS
    assert entry["partition"] == "silo-1"
    assert entry["run"] == "run-7"
    assert entry["meta"] == {"lr": 0.1}
    assert entry["mechanism"] == GAUSSIAN_2
    assert entry["hash"] == json.loads(path.read_bytes())["hash"]


def test_ledger_verify_json_output_parses(capsys: pytest.CaptureFixture[str], ledger: Path) -> None:
    result = cli(capsys, "ledger", "verify", ledger, "--format", "json")

    data = json.loads(result.out)
    assert result.code == 0
    assert data["valid"] is True
    assert data["entries"] == 1
    assert data["head"] == json.loads(ledger.read_bytes())["hash"]


# --- tampering ---------------------------------------------------------------------------------


@every_tampering
def test_ledger_verify_fails_naming_the_tampered_line(
    capsys: pytest.CaptureFixture[str],
    five: Path,
    name: str,
    change: Callable[[list[bytes], int], list[bytes]],
    n: int,
) -> None:
    tamper(five, change, n)

    result = cli(capsys, "ledger", "verify", five)

    assert result.code == 1
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith(f"privaudit: error: {five}: line {n}: "), result.err
    assert result.out == ""


def test_deleting_the_last_line_is_not_claimed_to_be_detected(
    capsys: pytest.CaptureFixture[str], five: Path, policy: Path
) -> None:
    # A hash chain cannot see its own end cut off (ledger.py documents this): the shorter
    # ledger verifies, and only a head recorded elsewhere reveals the deletion.
    original = cli(capsys, "ledger", "verify", five, "--format", "json")
    tamper(five, delete_line, TAMPER_ENTRIES)

    verified = cli(capsys, "ledger", "verify", five, "--format", "json")
    checked = cli(capsys, "check", five, "--policy", policy)

    assert verified.code == 0
    assert json.loads(verified.out)["entries"] == TAMPER_ENTRIES - 1
    assert json.loads(verified.out)["head"] != json.loads(original.out)["head"]
    assert checked.code == 0
    assert f"{TAMPER_ENTRIES - 1} entries" in checked.out


def test_ledger_add_refuses_to_extend_a_tampered_ledger(
    capsys: pytest.CaptureFixture[str], five: Path
) -> None:
    tampered = tamper(five, edit_line, 2)

    result = cli(
        capsys, "ledger", "add", five, "--dataset", "ds", "--mechanism", json.dumps(GAUSSIAN_2)
    )

    assert result.code == 1
    assert f"{five}: line 2: " in result.err
    assert five.read_bytes() == tampered


def _two_ledgers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for path in (first, second):
        cli(capsys, "ledger", "add", path, "--dataset", "ds", "--mechanism", json.dumps(GAUSSIAN_2))
    return first, second


def test_verify_takes_several_ledgers_as_a_pre_commit_hook_passes_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, second = _two_ledgers(tmp_path, capsys)

    result = cli(capsys, "ledger", "verify", first, second)

    assert result.code == 0
    assert [line.split(":")[0] for line in result.out.splitlines()] == [str(first), str(second)]


def test_verify_of_several_ledgers_reports_each_and_fails_with_a_broken_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, second = _two_ledgers(tmp_path, capsys)
    first.write_bytes(first.read_bytes().replace(b"2.0", b"9.0", 1))

    result = cli(capsys, "ledger", "verify", first, second)

    assert result.code == 1
    assert result.err.startswith(f"privaudit: error: {first}: line 1")
    assert result.out.startswith(f"{second}: 1 entry, hash chain intact")


def test_expect_head_with_several_ledgers_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, second = _two_ledgers(tmp_path, capsys)

    result = cli(capsys, "ledger", "verify", first, second, "--expect-head", "0" * 64)

    assert result.code == 2
    assert "--expect-head" in result.err
    assert result.out == ""
