"""``privaudit ledger import`` and ``ledger recover``: each framework's file becomes entries all
or none, its figure is shown beside privaudit's, and a bad or binary file is one line, exit 2,
with the ledger untouched."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from privaudit.accounting.accountant import account
from privaudit.budget.journal import journal_folder
from privaudit.ledger import read_ledger
from privaudit.mechanisms import DpSgd
from privaudit.rounding import up
from tests.budget.helpers import killed_run
from tests.cli.helpers import cli

DELTA = 1e-5
OPACUS = {"history": [[1.1, 0.01, 500], [0.9, 0.01, 200]], "mechanism": "rdp"}
TF_PRIVACY = {
    "number_of_examples": 60000,
    "batch_size": 256,
    "num_epochs": 3,
    "noise_multiplier": 1.1,
    "delta": DELTA,
}
JAX_PRIVACY = {
    "dp_params": {"noise_multipliers": 1.1, "num_samples": 60000, "batch_size": 600},
    "num_updates": 1000,
    "dp_accountant_config": {"type": "PldAccountantConfig"},
}
FILES: dict[str, dict[str, Any]] = {
    "opacus": OPACUS,
    "tf-privacy": TF_PRIVACY,
    "jax-privacy": JAX_PRIVACY,
}
ENTRIES = {"opacus": 2, "tf-privacy": 1, "jax-privacy": 1}


def write(tmp_path: Path, data: object, name: str = "record.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def import_args(ledger: Path, file: Path, fmt: str, *extra: str) -> list[str | Path]:
    args: list[str | Path] = ["ledger", "import", ledger, file, "--from", fmt, "--dataset", "ds"]
    if fmt == "opacus":
        args += ["--sampling", "poisson"]
    return [*args, "--delta", str(DELTA), *extra]


@pytest.mark.parametrize("fmt", list(FILES))
def test_each_format_imports_its_entries(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    file = write(tmp_path, FILES[fmt])

    result = cli(capsys, *import_args(ledger, file, fmt, "--run", "r1"))

    assert result.code == 0, result.err
    entries = read_ledger(ledger).entries
    assert len(entries) == ENTRIES[fmt]
    assert {(e.dataset, e.run) for e in entries} == {("ds", "r1")}
    assert entries[-1].meta["framework"]["name"] == fmt
    assert entries[-1].meta["imported"]["format"] == fmt


@pytest.mark.parametrize("fmt", list(FILES))
def test_the_import_shows_privaudits_certified_figures(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    file = write(tmp_path, FILES[fmt])

    result = cli(capsys, *import_args(ledger, file, fmt))

    mechanisms = [e.mechanism for e in read_ledger(ledger).entries]
    ours = account(mechanisms, DELTA)
    assert f"PLD ε = {up(ours.pld.epsilon)}" in result.out
    assert f"RDP ε = {up(ours.rdp.epsilon)}" in result.out


def test_the_import_json_names_the_framework_and_privaudit_figures(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    file = write(tmp_path, OPACUS)

    result = cli(capsys, *import_args(ledger, file, "opacus", "--format", "json"))

    data = json.loads(result.out)
    assert data["entries"] == [1, 2]
    assert data["framework"]["accountant"] == "rdp"
    assert data["framework"]["epsilon"] > 0
    mechanisms = [e.mechanism for e in read_ledger(ledger).entries]
    assert data["privaudit"]["epsilon_pld"] == account(mechanisms, DELTA).pld.epsilon


def test_a_framework_figure_below_privaudits_is_warned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    gdp = {"history": [[0.8, 0.05, 300]], "mechanism": "gdp"}

    result = cli(capsys, *import_args(ledger, write(tmp_path, gdp), "opacus"))

    assert result.code == 0, result.err
    assert "below privaudit's certified bound" in result.out


def test_check_lists_an_imported_runs_framework_figure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    cli(capsys, *import_args(ledger, write(tmp_path, TF_PRIVACY), "tf-privacy", "--run", "tf"))

    result = cli(capsys, "account", ledger, "--delta", str(DELTA))

    figure = read_ledger(ledger).entries[-1].meta["framework"]["epsilon"]
    row = next(line for line in result.out.splitlines() if "TF Privacy rdp" in line)
    assert row.split()[0] == "tf" and up(figure) in row


@pytest.mark.parametrize(
    ("fmt", "data", "field", "problem"),
    [
        ("opacus", {"history": [[-1.0, 0.01, 5]], "mechanism": "rdp"}, "history", "> 0"),
        ("opacus", {"history": [[1.0, 0.01, 5]], "accountant": "rdp"}, "accountant", "unknown"),
        ("tf-privacy", {**TF_PRIVACY, "noise_multiplier": "1.1"}, "noise_multiplier", "number"),
        ("tf-privacy", {**TF_PRIVACY, "batch_size": 0}, "batch_size", ">= 1"),
        ("jax-privacy", {**JAX_PRIVACY, "num_updates": 2.5}, "num_updates", "integer"),
    ],
)
def test_a_bad_file_is_one_line_exit_2_and_leaves_the_ledger_unchanged(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    ledger: Path,
    fmt: str,
    data: dict[str, Any],
    field: str,
    problem: str,
) -> None:
    before = ledger.read_bytes()
    file = write(tmp_path, data)

    result = cli(capsys, *import_args(ledger, file, fmt))

    assert result.code == 2
    assert result.out == "" and len(result.err.strip().splitlines()) == 1
    assert str(file) in result.err and field in result.err and problem in result.err
    assert "Traceback" not in result.err
    assert ledger.read_bytes() == before


def test_a_pickled_file_is_refused_unread_with_how_to_export_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ledger: Path
) -> None:
    before = ledger.read_bytes()
    file = tmp_path / "accountant.pt"
    # What torch.save writes: a zip archive whose members are pickles.
    file.write_bytes(b"PK\x03\x04" + pickle.dumps(OPACUS))

    result = cli(capsys, *import_args(ledger, file, "opacus"))

    assert result.code == 2
    assert "never loads" in result.err and "state_dict()" in result.err
    assert ledger.read_bytes() == before


def test_a_bare_pickle_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ledger: Path
) -> None:
    file = tmp_path / "history.pkl"
    file.write_bytes(pickle.dumps(OPACUS["history"], protocol=4))

    result = cli(capsys, *import_args(ledger, file, "tf-privacy"))

    assert result.code == 2 and "pickle" in result.err


def test_sampling_is_refused_for_formats_that_state_their_own(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ledger: Path
) -> None:
    file = write(tmp_path, TF_PRIVACY)

    result = cli(capsys, *import_args(ledger, file, "tf-privacy", "--sampling", "poisson"))

    assert result.code == 2 and "--sampling" in result.err


def test_check_fails_while_a_dead_runs_journal_is_unrecovered(
    capsys: pytest.CaptureFixture[str], ledger: Path, policy: Path
) -> None:
    killed_run(ledger, flushed=0, pending=7)

    result = cli(capsys, "check", ledger, "--policy", policy)

    assert result.code == 1
    assert "7 step(s)" in result.out and "privaudit ledger recover" in result.out


def test_recover_appends_the_journal_then_check_passes(
    capsys: pytest.CaptureFixture[str], ledger: Path, policy: Path
) -> None:
    killed_run(ledger, flushed=0, pending=7)

    recovered = cli(capsys, "ledger", "recover", ledger)
    again = cli(capsys, "ledger", "recover", ledger)
    checked = cli(capsys, "check", ledger, "--policy", policy)

    assert recovered.code == 0 and "recovered 1 entry" in recovered.out
    assert "recovered 0 entries" in again.out
    assert read_ledger(ledger).entries[-1].mechanism == DpSgd(
        noise_multiplier=1.1, sampling_rate=0.01, steps=7
    )
    assert not list(journal_folder(ledger).glob("*.json"))
    assert checked.code == 0, checked.out
