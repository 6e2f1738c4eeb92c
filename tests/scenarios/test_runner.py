"""run_scenario's refusals through the CLI: an unknown scenario and a missing data folder are
one-line usage errors that leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from privaudit.cli import main
from privaudit.errors import InputError


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


def test_the_cross_device_scenario_refuses_an_engine(tmp_path: Path) -> None:
    from privaudit.federated.engine import InProcessEngine
    from privaudit.scenarios import run_scenario

    (tmp_path / "mnist").mkdir()
    with pytest.raises(InputError, match=r"expected a cross-silo scenario .*bank-fraud"):
        run_scenario(
            "mnist-cross-device", data_dir=tmp_path, out=tmp_path / "o", engine=InProcessEngine()
        )
    assert not (tmp_path / "o").exists()


def test_the_flower_engine_without_the_extra_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "flwr" else found(name, *a)
    )
    code = main(["scenario", "bank-fraud", "--data-dir", str(tmp_path), "--engine", "flower"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "[flower] extra" in err
