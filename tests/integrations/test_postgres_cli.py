"""The command line on a ``postgresql://`` ledger against a real server: the same commands as on
a file (add, verify, check, charge, copy), concurrent charges from separate processes that
together never overrun the budget, and a copy that round-trips byte for byte."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

pytest.importorskip("psycopg", reason="psycopg is not installed (the [postgres] extra)")

from privaudit.ledger import read_ledger
from tests.cli.helpers import cli, write_policy
from tests.cli.test_ledger_charge import (
    LIMIT,
    MECHANISM,
    PROCESSES,
    epsilon_of,
    releases_that_fit,
    run_chargers,
)
from tests.integrations.postgres_server import Server, with_ledger


@pytest.fixture
def url(postgres_server: Server) -> str:
    return with_ledger(postgres_server.app_url, f"cli-{uuid.uuid4().hex[:16]}")


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    return write_policy(tmp_path / "policy.yaml", LIMIT)


def _add(capsys: pytest.CaptureFixture[str], ledger: str | Path) -> None:
    result = cli(capsys, "ledger", "add", ledger, "--dataset", "ds", "--mechanism", MECHANISM)
    assert result.code == 0, result.err


def _password(url: str) -> str:
    return url.partition("://")[2].partition("@")[0].partition(":")[2]


def test_check_on_a_database_ledger_names_it_without_the_password(
    capsys: pytest.CaptureFixture[str], url: str, policy: Path
) -> None:
    for _ in range(2):
        _add(capsys, url)

    result = cli(capsys, "check", url, "--policy", policy, "--format", "json")

    data = json.loads(result.out)
    assert result.code == 0, result.err
    assert data["ledger_entries"] == 2
    assert data["datasets"][0]["epsilon"] == pytest.approx(epsilon_of(2), rel=1e-9)
    secret = _password(url)
    assert secret and secret not in result.out + result.err


def test_a_copy_to_the_database_and_back_is_the_same_file_byte_for_byte(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    source, back = tmp_path / "source.jsonl", tmp_path / "back.jsonl"
    for _ in range(3):
        _add(capsys, source)

    there = cli(capsys, "ledger", "copy", source, url)
    again = cli(capsys, "ledger", "copy", url, back)

    assert (there.code, again.code) == (0, 0), there.err + again.err
    assert back.read_bytes() == source.read_bytes()
    assert cli(capsys, "ledger", "verify", url).code == 0


def test_a_copy_into_a_database_ledger_that_has_entries_is_refused(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    source = tmp_path / "source.jsonl"
    _add(capsys, source)
    _add(capsys, url)

    result = cli(capsys, "ledger", "copy", source, url)

    assert result.code == 2
    assert "not empty" in result.err
    verified = cli(capsys, "ledger", "verify", url, "--format", "json")
    assert json.loads(verified.out)["entries"] == 1


def test_concurrent_charges_on_a_database_write_exactly_the_releases_that_fit(
    capsys: pytest.CaptureFixture[str], url: str, policy: Path, tmp_path: Path
) -> None:
    fit = releases_that_fit()
    attempts = 2  # per process: more charges in all than fit, so some must be refused
    assert fit < PROCESSES * attempts
    codes, _ = run_chargers(url, policy, tmp_path, attempts)

    assert codes == [0] * fit + [1] * (PROCESSES * attempts - fit)
    exported = tmp_path / "exported.jsonl"
    assert cli(capsys, "ledger", "copy", url, exported).code == 0
    assert len(read_ledger(exported).entries) == fit
    gate = cli(capsys, "check", url, "--policy", policy, "--format", "json")
    assert gate.code == 0
    assert json.loads(gate.out)["datasets"][0]["epsilon"] <= LIMIT
