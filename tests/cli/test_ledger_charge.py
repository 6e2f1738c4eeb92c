"""``privaudit ledger charge``: append a release only if the dataset still passes the policy with
it, asked under the append's lock; and what every command does with a ``postgresql://`` URL
when no database can be opened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from privaudit.accounting.accountant import account
from privaudit.ledger import read_ledger
from privaudit.mechanisms import Gaussian
from privaudit.rounding import up
from tests.cli.helpers import cli, one_error_line, write_policy

ROOT = Path(__file__).resolve().parents[2]
SIGMA = 12.0
"""One Gaussian release with σ = 12: ε ≈ 0.33 at the policy's δ = 1e-6."""
MECHANISM = json.dumps({"type": "gaussian", "noise_multiplier": SIGMA})
DELTA = 1e-6
LIMIT = 1.0
PROCESSES = 8
URL = "postgresql://alice:secret@127.0.0.1:1/privacy"


def child_env() -> dict[str, str]:
    """This worktree first on the path, so the children run the code under test."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {key: value for key, value in os.environ.items() if key != "PRIVAUDIT_DEBUG"}
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def charge(
    capsys: pytest.CaptureFixture[str], ledger: Path, policy: Path, *args: str, **options: str
) -> object:
    dataset = options.get("dataset", "ds")
    mechanism = options.get("mechanism", MECHANISM)
    return cli(
        capsys, "ledger", "charge", ledger, "--policy", policy, "--dataset", dataset,
        "--mechanism", mechanism, *args,
    )  # fmt: skip


def epsilon_of(releases: int) -> float:
    """The oracle: ε of ``releases`` Gaussians at δ, as the gate accounts them (PLD)."""
    return account([Gaussian(noise_multiplier=SIGMA)] * releases, DELTA).epsilon


def releases_that_fit() -> int:
    k = 0
    while epsilon_of(k + 1) <= LIMIT:
        k += 1
    return k


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    return write_policy(tmp_path / "policy.yaml", LIMIT)


_CHARGER = """
import json, sys
from privaudit.cli import main
codes = [main(sys.argv[2:]) for _ in range(int(sys.argv[1]))]
print(json.dumps(codes))
"""


def run_chargers(
    ledger: str, policy: Path, folder: Path, attempts: int
) -> tuple[list[int], list[str]]:
    """:data:`PROCESSES` processes, each charging ``attempts`` times at once: their exit codes
    (sorted) and every line they wrote to stderr."""
    argv = [
        sys.executable, "-c", _CHARGER, str(attempts), "ledger", "charge", ledger,
        "--policy", str(policy), "--dataset", "ds", "--mechanism", MECHANISM,
    ]  # fmt: skip
    children = [
        subprocess.Popen(
            argv, env=child_env(), cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(PROCESSES)
    ]
    done = [child.communicate(timeout=600) for child in children]
    codes = sorted(code for out, _ in done for code in json.loads(out.splitlines()[-1]))
    return codes, [line for _, err in done for line in err.decode().splitlines()]


def test_concurrent_charges_write_exactly_the_releases_that_fit(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    fit = releases_that_fit()
    assert epsilon_of(fit) <= LIMIT < epsilon_of(fit + 1)
    attempts = 2  # per process: more charges in all than fit, so some must be refused
    assert fit < PROCESSES * attempts

    codes, refusals = run_chargers(str(ledger), policy, tmp_path, attempts)

    assert codes == [0] * fit + [1] * (PROCESSES * attempts - fit)
    assert len(refusals) == PROCESSES * attempts - fit
    assert all(line.endswith("nothing was written") for line in refusals)
    assert len(read_ledger(ledger).entries) == fit
    gate = cli(capsys, "check", ledger, "--policy", policy, "--format", "json")
    [dataset] = json.loads(gate.out)["datasets"]
    assert gate.code == 0
    assert dataset["epsilon"] <= LIMIT


def test_a_charge_that_fits_prints_the_entry_and_the_epsilon_after_rounded_up(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.jsonl"

    result = charge(capsys, ledger, policy)

    [entry] = read_ledger(ledger).entries
    assert result.code == 0, result.err
    assert "charged entry 1" in result.out
    assert entry.hash[:16] in result.out
    shown = float(result.out.split("now at ε = ")[1].split()[0])
    assert shown >= epsilon_of(1)
    assert f"ε = {up(epsilon_of(1))}" in result.out
    assert "limit ε ≤ 1" in result.out


def test_a_charge_that_fits_in_json_gives_the_epsilon_after_and_the_limit(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = charge(capsys, tmp_path / "ledger.jsonl", policy, "--format", "json")

    data = json.loads(result.out)
    assert result.code == 0
    assert data["entry"]["seq"] == 1
    assert data["limit_epsilon"] == LIMIT
    assert data["epsilon_after"] == pytest.approx(epsilon_of(1), rel=1e-6)


def test_a_charge_over_the_budget_exits_1_and_leaves_the_ledger_byte_identical(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    for _ in range(releases_that_fit()):
        assert charge(capsys, ledger, policy).code == 0
    before = ledger.read_bytes()

    result = charge(capsys, ledger, policy)

    line = one_error_line(result)
    assert result.code == 1
    assert ledger.read_bytes() == before
    assert "dataset 'ds'" in line
    assert f"ε with this entry would be {up(epsilon_of(releases_that_fit() + 1))}" in line
    assert "limit ε ≤ 1" in line
    assert line.endswith("nothing was written")


def test_a_charge_on_a_dataset_the_policy_does_not_name_exits_1(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.jsonl"

    result = charge(capsys, ledger, policy, dataset="other")

    assert result.code == 1
    assert "not in the policy" in one_error_line(result)
    assert not ledger.exists() or ledger.read_bytes() == b""


@pytest.mark.parametrize(
    "mechanism",
    ['{"type": "gaussian", "noise_multiplier": -1}', '{"type": "nope"}', "not json"],
)
def test_a_bad_mechanism_exits_2_before_the_ledger_is_read(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str], mechanism: str
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_bytes(b"this is not a ledger\n")  # reading it would be a different error

    result = charge(capsys, ledger, policy, mechanism=mechanism)

    assert result.code == 2
    assert "--mechanism" in one_error_line(result)
    assert ledger.read_bytes() == b"this is not a ledger\n"


def test_a_bad_policy_exits_2_before_the_ledger_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_bytes(b"this is not a ledger\n")
    bad = tmp_path / "policy.yaml"
    bad.write_text("version: 1\ntiers: {}\n", encoding="utf-8")

    result = charge(capsys, ledger, bad)

    assert result.code == 2
    assert "policy.yaml" in one_error_line(result)
    assert ledger.read_bytes() == b"this is not a ledger\n"


def test_a_charge_onto_a_broken_ledger_exits_1_and_writes_nothing(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    assert charge(capsys, ledger, policy).code == 0
    assert charge(capsys, ledger, policy).code == 0
    lines = ledger.read_bytes().splitlines(keepends=True)
    ledger.write_bytes(lines[1])  # the first line deleted
    before = ledger.read_bytes()

    result = charge(capsys, ledger, policy)

    assert result.code == 1
    assert ledger.read_bytes() == before


# --- a postgresql:// URL without a database ---------------------------------------------------


@pytest.fixture
def no_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the [postgres] extra (the adapter or psycopg) were not installed."""
    monkeypatch.setitem(sys.modules, "privaudit.integrations.postgres", None)


def test_check_of_a_url_without_the_extra_exits_2_naming_it_without_the_password(
    policy: Path, capsys: pytest.CaptureFixture[str], no_postgres: None
) -> None:
    result = cli(capsys, "check", URL, "--policy", policy)

    line = one_error_line(result)
    assert result.code == 2
    assert "[postgres] extra" in line
    assert "postgresql://alice@127.0.0.1:1/privacy" in line
    assert "secret" not in result.text


def test_an_unreachable_server_exits_2_without_the_password(
    policy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = types.ModuleType("privaudit.integrations.postgres")

    def unreachable(url: str) -> None:
        raise OSError(f"connection to {url} refused (password secret)")

    adapter.open_postgres_store = unreachable  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "privaudit.integrations.postgres", adapter)

    result = cli(capsys, "check", URL, "--policy", policy)

    assert result.code == 2
    assert "cannot open the ledger" in one_error_line(result)
    assert "secret" not in result.text


@pytest.mark.parametrize(
    "args",
    [
        ("account", URL),
        ("report", URL, "--policy", "POLICY"),
        ("ledger", "add", URL, "--dataset", "ds", "--mechanism", MECHANISM),
        ("ledger", "charge", URL, "--policy", "POLICY", "--dataset", "d", "--mechanism", MECHANISM),
        ("ledger", "verify", URL),
        ("ledger", "copy", URL, "copy.jsonl"),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_every_ledger_command_opens_a_url_as_a_database(
    tmp_path: Path,
    policy: Path,
    capsys: pytest.CaptureFixture[str],
    no_postgres: None,
    args: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(capsys, *(str(policy) if arg == "POLICY" else arg for arg in args))

    assert result.code == 2
    assert "[postgres] extra" in one_error_line(result)
    assert "secret" not in result.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.yaml"]  # no file "postgresql:"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("ledger", "recover", URL), "recover is for file ledgers"),
        (("ledger", "seal", URL, "--key", "KEY"), "LEDGER.seals"),
        (("train", "dpsgd", "--ledger", URL), "a run journals its steps beside a ledger file"),
        (("check", URL, "--policy", "POLICY", "--base", "git:HEAD"), "in no git repository"),
        (("ledger", "verify", URL, "--trusted-key", "KEY"), "LEDGER.seals beside a file"),
    ],
    ids=lambda value: " ".join(value[:2]) if isinstance(value, tuple) else "",
)
def test_a_command_that_works_beside_a_file_refuses_a_url_in_one_line(
    tmp_path: Path,
    policy: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    said: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    key = tmp_path / "key"
    key.write_text("not a key", encoding="utf-8")
    argv = [str(policy) if a == "POLICY" else str(key) if a == "KEY" else a for a in args]

    result = cli(capsys, *argv)

    line = one_error_line(result)
    assert result.code == 2
    assert said in line
    assert "secret" not in result.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key", "policy.yaml"]


# --- ledger add --policy: the same refusal as ledger charge (issue 18) -------------------------


def test_ledger_add_with_a_policy_refuses_an_entry_over_the_budget_and_writes_nothing(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    for _ in range(releases_that_fit()):
        assert charge(capsys, ledger, policy).code == 0
    before = ledger.read_bytes()

    result = cli(
        capsys, "ledger", "add", ledger, "--policy", policy, "--dataset", "ds",
        "--mechanism", MECHANISM,
    )  # fmt: skip

    line = one_error_line(result)
    assert result.code == 1
    assert ledger.read_bytes() == before
    assert "dataset 'ds'" in line and "limit ε ≤ 1" in line
    assert line.endswith("nothing was written")


def test_ledger_add_with_a_policy_appends_an_entry_that_fits(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.jsonl"

    result = cli(
        capsys, "ledger", "add", ledger, "--policy", policy, "--dataset", "ds",
        "--mechanism", MECHANISM,
    )  # fmt: skip

    assert result.code == 0, result.err
    assert "appended entry 1" in result.out
    assert len(read_ledger(ledger).entries) == 1
