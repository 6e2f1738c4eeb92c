"""Reading an exported Opacus accountant: the history becomes DP-SGD blocks, sampling is never
assumed, Opacus' own ε is recomputed as its accountants do, and what cannot be read safely is
refused with the file and field."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy import optimize, stats

from privaudit.errors import InputError
from privaudit.imports.opacus import read_opacus
from privaudit.mechanisms import DpSgd, Sampling

DELTA = 1e-5
HISTORY = [[1.1, 0.01, 500], [0.9, 0.01, 200]]


def write(tmp_path: Path, data: object, name: str = "accountant.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_each_history_block_becomes_one_dpsgd_entry(tmp_path: Path) -> None:
    path = write(tmp_path, {"history": HISTORY, "mechanism": "rdp"})

    run = read_opacus(path, sampling=Sampling.POISSON, delta=DELTA)

    assert run.mechanisms == (
        DpSgd(noise_multiplier=1.1, sampling_rate=0.01, steps=500),
        DpSgd(noise_multiplier=0.9, sampling_rate=0.01, steps=200),
    )
    assert run.privacy_unit == "example"


def test_a_bare_history_list_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, HISTORY)

    run = read_opacus(path, sampling=Sampling.POISSON, delta=DELTA)

    assert len(run.mechanisms) == 2
    assert run.framework.epsilon is None  # no accountant named: nothing to recompute


def test_sampling_must_be_stated(tmp_path: Path) -> None:
    path = write(tmp_path, {"history": HISTORY, "mechanism": "rdp"})

    with pytest.raises(InputError, match="does not say how batches were formed"):
        read_opacus(path, delta=DELTA)


def test_sampling_in_the_file_must_agree_with_the_option(tmp_path: Path) -> None:
    path = write(tmp_path, {"history": HISTORY, "mechanism": "rdp", "sampling": "shuffle"})

    with pytest.raises(InputError, match="they must agree"):
        read_opacus(path, sampling=Sampling.POISSON, delta=DELTA)


def test_shuffled_batches_are_recorded_without_amplification(tmp_path: Path) -> None:
    path = write(tmp_path, {"history": HISTORY, "mechanism": "rdp", "sampling": "shuffle"})

    run = read_opacus(path, delta=DELTA)

    assert {m.sampling for m in run.mechanisms} == {Sampling.SHUFFLE}  # type: ignore[union-attr]
    assert any("without amplification" in note for note in run.notes)


def test_opacus_gdp_figure_is_the_clt_of_the_last_block(tmp_path: Path) -> None:
    path = write(tmp_path, {"history": HISTORY, "mechanism": "gdp"})
    z, q, steps = HISTORY[-1]
    mu = q * math.sqrt(steps * (math.exp(z**-2) - 1))  # Bu et al. 2020, Thm. 5

    def delta_of(eps: float) -> float:  # Dong, Roth & Su 2019, Cor. 2.13
        return float(
            stats.norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * stats.norm.cdf(-eps / mu - mu / 2)
        )

    expected = optimize.brentq(lambda e: delta_of(e) - DELTA, 0, 100, xtol=1e-12)

    run = read_opacus(path, sampling=Sampling.POISSON, delta=DELTA)

    assert run.framework.epsilon == pytest.approx(expected, rel=1e-7)


def test_a_reported_figure_is_taken_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, {"history": HISTORY, "mechanism": "prv", "epsilon": 2.5, "delta": 1e-6})

    run = read_opacus(path, sampling=Sampling.POISSON, delta=DELTA)

    assert (run.framework.epsilon, run.framework.delta) == (2.5, 1e-6)
    assert run.framework.how == "reported in the file"


def test_a_prv_history_without_a_reported_figure_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, {"history": HISTORY, "mechanism": "prv"})

    run = read_opacus(path, sampling=Sampling.POISSON, delta=DELTA)

    assert run.framework.epsilon is None
    assert "PRV" in run.framework.how


def test_yaml_is_read_by_its_suffix(tmp_path: Path) -> None:
    path = tmp_path / "accountant.yaml"
    path.write_text("mechanism: rdp\nhistory:\n  - [1.1, 0.01, 500]\n", encoding="utf-8")

    run = read_opacus(path, sampling=Sampling.POISSON, delta=DELTA)

    assert run.mechanisms == (DpSgd(noise_multiplier=1.1, sampling_rate=0.01, steps=500),)


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        ({"history": [[-1.0, 0.01, 5]], "mechanism": "rdp"}, "history[0].noise_multiplier", "> 0"),
        ({"history": [[1.0, 1.5, 5]], "mechanism": "rdp"}, "history[0].sample_rate", "<= 1"),
        ({"history": [[1.0, 0.1, 2.5]], "mechanism": "rdp"}, "history[0].steps", "integer"),
        ({"history": [[1.0, 0.1]], "mechanism": "rdp"}, "history[0]", "expected [noise"),
        ({"history": [], "mechanism": "rdp"}, "history", "non-empty list"),
        ({"history": HISTORY, "mechanism": "moments"}, "mechanism", "expected one of rdp"),
        ({"history": HISTORY, "extra": 1}, "extra", "unknown field"),
        ({"history": [["1", 0.1, 5]]}, "history[0].noise_multiplier", "expected a number"),
    ],
)
def test_bad_fields_name_the_file_and_field(
    tmp_path: Path, data: object, field: str, problem: str
) -> None:
    path = write(tmp_path, data)

    with pytest.raises(InputError) as error:
        read_opacus(path, sampling=Sampling.POISSON, delta=DELTA)

    assert error.value.source == str(path)
    assert error.value.field == field
    assert problem in error.value.problem


def test_nan_in_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "accountant.yaml"
    path.write_text("history:\n  - [.nan, 0.01, 5]\n", encoding="utf-8")

    with pytest.raises(InputError, match="finite number; found NaN"):
        read_opacus(path, sampling=Sampling.POISSON, delta=DELTA)


@pytest.mark.parametrize("magic", [b"\x80\x04\x95", b"PK\x03\x04"])
def test_a_pickle_or_torch_save_file_is_refused_unread(tmp_path: Path, magic: bytes) -> None:
    path = tmp_path / "accountant.pt"
    path.write_bytes(magic + b"\x00" * 32)

    with pytest.raises(
        InputError, match=r"never loads .unpickling runs code.; export the accountant"
    ):
        read_opacus(path, sampling=Sampling.POISSON, delta=DELTA)
