"""Tests of ``privaudit plan``: answers, tiers, the grid table, JSON, charts and exit codes.

The command runs in-process through :func:`privaudit.cli.main`; answers are re-accounted with
dp_accounting or closed forms, and tier values are read from the shipped policy file.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from dp_accounting import dp_event
from dp_accounting.pld import pld_privacy_accountant

from privaudit.cli import main
from privaudit.cli.present import Progress
from privaudit.policy import load_policy
from tests.accounting.oracles import gaussian_epsilon

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ANSWER = re.compile(
    r"^noise multiplier (?P<sigma>[0-9.]+) \(ε = (?P<epsilon>[0-9.]+) ≤ (?P<target>[0-9.e-]+)"
    r" at δ = (?P<delta>[0-9.e-]+), PLD\)"
)
ROW_KEYS = {
    "noise_multiplier",
    "epsilon",
    "delta",
    "batch_size",
    "epochs",
    "steps",
    "sampling_rate",
    "fits",
    "method",
}
PLAN_KEYS = {
    "answer",
    "fits",
    "target",
    "rows",
    "recommended",
    "curve",
    "charts",
    "warnings",
    "settings",
    "solved_for",
    "privacy_unit",
    "sampling",
}


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """``run(*args)``: privaudit plan with charts in tmp_path/charts unless --out is given."""

    def invoke(*args: str | Path, out: bool = True) -> Result:
        argv = ["plan", *(str(arg) for arg in args)]
        if out and "--out" not in argv:
            argv += ["--out", str(tmp_path / "charts")]
        capsys.readouterr()
        code = main(argv)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def library_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    accountant = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
    event: dp_event.DpEvent = dp_event.GaussianDpEvent(sigma)
    if q < 1:
        event = dp_event.PoissonSampledDpEvent(q, event)
    accountant.compose(event, steps)
    return float(accountant.get_epsilon(delta))


def one_error_line(result: Result) -> str:
    assert result.code == 2, result
    assert result.err.endswith("\n") and result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err + result.out
    assert "internal error" not in result.err
    return result.err.rstrip("\n")


def table(out: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the grid table (cells are separated by two or more spaces)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("noise multiplier  "))
    header = re.split(r"\s{2,}", lines[start].strip())
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return header, rows


# --- answers -----------------------------------------------------------------------------------


def test_calibrated_noise_is_printed_first_and_meets_the_target(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "--epsilon", "1", "--delta", "1e-5", "--dataset-size", "60000",
        "--batch-size", "256", "--epochs", "60",
    )  # fmt: skip
    assert result.code == 0, result.err
    match = ANSWER.match(result.out.splitlines()[0])
    assert match, result.out
    assert (match["target"], match["delta"]) == ("1", "1e-5")
    sigma, shown = float(match["sigma"]), float(match["epsilon"])
    steps = math.ceil(60 * 60000 / 256)
    assert f"{steps} steps" in result.out
    exact_ish = library_epsilon(sigma, 256 / 60000, steps, 1e-5)
    assert exact_ish <= shown <= 1.0  # the printed ε is never below the computed one
    assert library_epsilon(sigma * (1 - 0.002), 256 / 60000, steps, 1e-5) > 1.0


def test_full_batch_answer_against_the_closed_form(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "--epsilon", "2", "--delta", "1e-6", "--dataset-size", "400",
        "--batch-size", "400", "--epochs", "16", "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    row = json.loads(result.out)["recommended"]
    assert row["sampling_rate"] == 1 and row["steps"] == 16
    # 16 full-batch Gaussian steps = one Gaussian with μ = 4/σ (exact ε: Balle & Wang 2018).
    assert gaussian_epsilon(1e-6, 4 / row["noise_multiplier"]) <= 2.0
    assert gaussian_epsilon(1e-6, 4 / (row["noise_multiplier"] * 0.998)) > 2.0


def test_medical_tier_uses_the_shipped_epsilon_and_delta(run) -> None:  # type: ignore[no-untyped-def]
    medical = load_policy(ROOT / "policies" / "tiers.yaml").tiers["medical"]
    assert (medical.epsilon, medical.delta) == (1.0, 1e-6)
    result = run(
        "--tier", "medical", "--clients", "1000", "--clients-per-round", "50",
        "--rounds", "40", "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    data = json.loads(result.out)
    target = data["target"]
    assert (target["epsilon"], target["delta"]) == (medical.epsilon, medical.delta)
    assert target["tier"] == "medical"
    assert target["warn_epsilon"] == pytest.approx(medical.warn_at * medical.epsilon)
    assert data["recommended"]["delta"] == medical.delta
    assert data["recommended"]["epsilon"] <= medical.epsilon


def test_tier_from_a_policy_file_and_overrides(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "tiers:\n  strict:\n    epsilon: 4.0\n    per_run_epsilon: 2.0\n    delta: 1.0e-7\n",
        encoding="utf-8",
    )
    common = ("--clients", "1000", "--clients-per-round", "50", "--rounds", "30")
    data = json.loads(run("--tier", "strict", "--policy", policy, *common, "--format", "json").out)
    # One run is bounded by the tier's per-run cap where it is below the lifetime cap.
    assert (data["target"]["epsilon"], data["target"]["delta"]) == (2.0, 1e-7)
    assert "per-run" in data["target"]["limit_label"]
    override = run(
        "--tier", "strict", "--policy", policy, "--epsilon", "0.5", "--delta", "1e-6",
        *common, "--format", "json",
    )  # fmt: skip
    target = json.loads(override.out)["target"]
    assert (target["epsilon"], target["delta"]) == (0.5, 1e-6)


def test_federated_plan_samples_five_percent_of_clients(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "--epsilon", "8", "--delta", "1e-5", "--clients", "1000", "--clients-per-round", "50",
        "--rounds", "100", "--noise-multiplier", "1.0", "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    data = json.loads(result.out)
    (row,) = data["rows"]
    assert row["sampling_rate"] == 0.05
    assert (row["rounds"], row["steps"], row["clients_per_round"]) == (100, 100, 50)
    assert data["privacy_unit"] == "client"
    assert row["epsilon"] == pytest.approx(library_epsilon(1.0, 0.05, 100, 1e-5), rel=2e-3)


def test_most_epochs_that_fit(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "--epsilon", "1", "--delta", "1e-5", "--dataset-size", "1000", "--batch-size", "50",
        "--noise-multiplier", "2",
    )  # fmt: skip
    assert result.code == 0, result.err
    found = re.match(r"at most (\d+) steps \(([0-9.]+) epochs\)", result.out)
    assert found, result.out
    steps = int(found[1])
    assert library_epsilon(2.0, 0.05, steps, 1e-5) <= 1.0
    assert float(found[2]) <= steps * 50 / 1000


# --- grid table, JSON, charts ------------------------------------------------------------------


def test_grid_table_has_a_row_per_configuration(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "--epsilon", "1.5", "--delta", "1e-5", "--dataset-size", "1000",
        "--batch-size", "10,50", "--epochs", "1", "--epochs", "3",
        "--noise-multiplier", "0.7,1,2",
    )  # fmt: skip
    assert result.code == 0, result.err
    header, rows = table(result.out)
    assert header == [
        "noise multiplier", "batch size", "epochs", "steps", "sampling rate", "ε", "fits",
        "method",
    ]  # fmt: skip
    assert len(rows) == 3 * 2 * 2
    assert all(len(cells) in (len(header), len(header) + 1) for cells in rows)
    configurations = {(cells[0], cells[1], cells[2]) for cells in rows}
    assert configurations == {
        (sigma, batch, epochs)
        for sigma in ("0.7", "1", "2")
        for batch in ("10", "50")
        for epochs in ("1", "3")
    }
    for cells in rows:
        steps = math.ceil(int(cells[2]) * 1000 / int(cells[1]))
        assert int(cells[3]) == steps
        assert cells[6] == ("yes" if float(cells[5]) <= 1.5 else "no")
    assert sum("<- recommended" in line for line in result.out.splitlines()) == 1


def test_json_has_stable_self_explanatory_keys(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "--epsilon", "1", "--delta", "1e-5", "--dataset-size", "60000", "--batch-size", "256",
        "--epochs", "60", "--format", "json", "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert set(data) >= PLAN_KEYS
    assert data["fits"] is True and data["solved_for"] == "noise_multiplier"
    assert set(data["recommended"]) >= ROW_KEYS
    assert set(data["rows"][0]) >= ROW_KEYS
    assert data["recommended"]["method"] == "pld"
    curve = data["curve"]
    assert len(curve["steps"]) == len(curve["epsilon"]) == 61
    assert curve["steps"][-1] == data["recommended"]["steps"]
    assert data["answer"].startswith("noise multiplier ")
    assert data["settings"]["sampling"] == "poisson"
    charts = data["charts"]
    assert Path(charts["png"]).read_bytes().startswith(PNG_SIGNATURE)
    assert ET.fromstring(Path(charts["svg"]).read_bytes()).tag.endswith("svg")
    assert Path(charts["png"]).parent == tmp_path / "out"


def test_charts_go_to_reports_plan_by_default(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = run(
        "--tier", "medical", "--clients", "1000", "--clients-per-round", "50",
        "--rounds", "40", out=False,
    )  # fmt: skip
    assert result.code == 0, result.err
    png = tmp_path / "reports" / "plan" / "epsilon-curve.png"
    svg = tmp_path / "reports" / "plan" / "epsilon-curve.svg"
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    texts = ["".join(t.itertext()) for t in ET.parse(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert "tier medical limit: ε ≤ 1" in texts
    assert str(Path("reports/plan/epsilon-curve.png")) in result.out
    assert not [p.name for p in png.parent.iterdir() if p.name.startswith(".")]  # no temp files


def test_delta_at_or_above_one_over_n_is_warned_not_refused(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "--epsilon", "2", "--delta", "0.02", "--dataset-size", "100", "--batch-size", "10",
        "--epochs", "1", "--noise-multiplier", "1",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert re.search(r"^warning: δ = 0\.02 .*1/n", result.out, re.MULTILINE)


# --- exit codes ---------------------------------------------------------------------------------


def test_exit_1_when_nothing_fits(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "--epsilon", "0.5", "--delta", "1e-5", "--clients", "1000", "--clients-per-round", "50",
        "--rounds", "60", "--noise-multiplier", "0.8", "--format", "json",
    )  # fmt: skip
    assert result.code == 1
    data = json.loads(result.out)
    assert data["fits"] is False and data["recommended"] is None
    assert data["answer"].startswith("nothing fits")
    assert data["closest"]["epsilon"] > 0.5
    text = run(
        "--epsilon", "0.5", "--delta", "1e-5", "--clients", "1000", "--clients-per-round", "50",
        "--rounds", "60", "--noise-multiplier", "0.8",
    )  # fmt: skip
    assert text.code == 1 and text.out.startswith("nothing fits ε ≤ 0.5")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--epsilon", "1", "--dataset-size", "100", "--batch-size", "10", "--epochs", "1"],
         "--delta: expected a value"),
        (["--epsilon", "1", "--delta", "1e-5", "--dataset-size", "100", "--batch-size", "200",
          "--epochs", "1"], "--batch-size: expected at most --dataset-size (100); found 200"),
        (["--epsilon", "1", "--delta", "1e-5", "--dataset-size", "100", "--batch-size", "-4",
          "--epochs", "1"], "--batch-size: expected a whole number >= 1; found '-4'"),
        (["--epsilon", "nan", "--delta", "1e-5"], "--epsilon: expected a finite number > 0"),
        (["--epsilon", "1", "--delta", "1e-5", "--dataset-size", "100", "--batch-size", "10",
          "--epochs", "nan"], "--epochs: expected a finite number > 0; found 'nan'"),
        (["--epsilon", "1", "--delta", "1e-5", "--dataset-size", "100", "--batch-size", "10",
          "--noise-multiplier", "0"], "--noise-multiplier: expected a finite number > 0"),
        (["--tier", "medicl", "--dataset-size", "100", "--batch-size", "10", "--epochs", "1"],
         "did you mean 'medical'"),
        (["--epsilon", "1", "--delta", "1e-5", "--dataset-size", "100", "--batch-size", "10"],
         "--epochs: expected --epochs, or --noise-multiplier"),
        (["--epsilon", "1", "--delta", "1e-5", "--clients", "10", "--rounds", "3"],
         "--clients-per-round: expected a value"),
        (["--epsilon", "1", "--delta", "1e-5", "--dataset-size", "100", "--batch-size", "10",
          "--epochs", "1", "--clients", "10"], "not both"),
        (["--epsilon", "1", "--delta", "1e-5", "--dataset-size", "-100", "--batch-size", "10",
          "--epochs", "1"], "--dataset-size: expected a whole number >= 1"),
        (["--epsilon", "1", "--delta", "1", "--dataset-size", "100", "--batch-size", "10",
          "--epochs", "1"], "--delta: expected a number in (0, 1)"),
        (["--epsilon", "1", "--delta", "1e-5", "--dataset-size", "ten"], "--dataset-size"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(run, args: list[str], expected: str) -> None:  # type: ignore[no-untyped-def]
    line = one_error_line(run(*args))
    assert line.startswith("privaudit: error: ") and expected in line


def test_bad_output_folder_is_refused_before_any_work(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    common = ["--epsilon", "1", "--delta", "1e-5", "--dataset-size", "100", "--batch-size", "10"]
    missing = tmp_path / "no" / "such"
    assert "does not exist" in one_error_line(run(*common, "--epochs", "1", "--out", missing))
    a_file = tmp_path / "file.txt"
    a_file.write_text("x", encoding="utf-8")
    assert "is a file" in one_error_line(run(*common, "--epochs", "1", "--out", a_file))
    assert not missing.parent.exists()


# --- progress -----------------------------------------------------------------------------------


def test_progress_goes_to_stderr_for_long_grids(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "--epsilon", "1", "--delta", "1e-5", "--dataset-size", "1000",
        "--batch-size", "10,20,50", "--epochs", "1,2", "--noise-multiplier", "1,2",
        "--format", "json",
    )  # fmt: skip
    assert result.code == 0
    assert len(json.loads(result.out)["rows"]) == 12
    assert "12/12 configurations" in result.err
    short = run(
        "--epsilon", "1", "--delta", "1e-5", "--dataset-size", "1000", "--batch-size", "10",
        "--epochs", "1,2", "--noise-multiplier", "1",
    )  # fmt: skip
    assert short.err == ""  # not a terminal, and only 2 configurations


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_in_place_on_a_terminal() -> None:
    stream = _Terminal()
    bar = Progress(stream)
    for done in range(4):
        bar(done, 3)
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.endswith("3/3 configurations\n")
    quiet = io.StringIO()
    Progress(quiet)(1, 1)
    assert quiet.getvalue() == ""
