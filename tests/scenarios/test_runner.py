"""run_scenario's refusals through the CLI: an unknown scenario and a missing data folder are
one-line usage errors that leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from privaudit.cli import main


def test_unknown_scenario_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "moon-landing"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "moon-landing" in err


def test_missing_data_folder_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["scenario", "bank-fraud", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "creditcard/" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("option", "value"), [("--superlink", "127.0.0.1:8000"), ("--silos-out", "silos")]
)
def test_flower_options_need_the_flower_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    code = main(["scenario", "bank-fraud", "--data-dir", str(tmp_path), option, value])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and option in err and "--engine flower" in err


def test_a_malformed_superlink_address_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("flwr", reason="the [flower] extra is not installed")
    flower = ["--engine", "flower", "--superlink", "no-port-here"]
    code = main(["scenario", "bank-fraud", "--data-dir", str(tmp_path), *flower])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "--superlink" in err and "HOST:PORT" in err
