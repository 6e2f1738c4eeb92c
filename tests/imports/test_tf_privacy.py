"""Reading the arguments of TF Privacy's ``compute_dp_sgd_privacy_statement``: the releases it
calls conservative become the entry, its printed figures are recomputed as it does, and bad
arguments are refused with the file and field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from privaudit.accounting.accountant import Method, account
from privaudit.errors import InputError
from privaudit.imports.tf_privacy import read_tf_privacy
from privaudit.mechanisms import Gaussian, NonPrivate, SelfComposed
from tests.accounting.oracles import gaussian_epsilon

DELTA = 1e-5
ARGS: dict[str, Any] = {
    "number_of_examples": 60000,
    "batch_size": 256,
    "num_epochs": 3,
    "noise_multiplier": 1.1,
    "delta": DELTA,
}


def write(tmp_path: Path, data: object, name: str = "statement.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_microbatching_halves_the_multiplier_of_each_epochs_release(tmp_path: Path) -> None:
    run = read_tf_privacy(write(tmp_path, ARGS))

    assert run.mechanisms == (SelfComposed(event=Gaussian(noise_multiplier=0.55), count=3),)


def test_without_microbatching_the_multiplier_is_kept(tmp_path: Path) -> None:
    run = read_tf_privacy(write(tmp_path, {**ARGS, "used_microbatching": False}))

    assert run.mechanisms == (SelfComposed(event=Gaussian(noise_multiplier=1.1), count=3),)


def test_a_partial_epoch_counts_as_a_whole_release(tmp_path: Path) -> None:
    run = read_tf_privacy(write(tmp_path, {**ARGS, "num_epochs": 2.2}))

    (mechanism,) = run.mechanisms
    assert isinstance(mechanism, SelfComposed) and mechanism.count == 3


def test_the_certified_figure_is_the_composed_gaussians_exact_epsilon(tmp_path: Path) -> None:
    run = read_tf_privacy(write(tmp_path, ARGS))
    exact = gaussian_epsilon(DELTA, math.sqrt(3) / 0.55)  # T Gaussians: μ = √T / z

    certified = account(run.mechanisms, DELTA, Method.PLD).epsilon

    assert exact <= certified <= exact * 1.01


def test_tf_privacys_rdp_figure_is_an_upper_bound_of_the_exact_epsilon(tmp_path: Path) -> None:
    run = read_tf_privacy(write(tmp_path, ARGS))
    exact = gaussian_epsilon(DELTA, math.sqrt(3) / 0.55)

    assert run.framework.epsilon is not None
    assert exact <= run.framework.epsilon <= exact * 1.3
    assert run.framework.name == "tf-privacy" and run.framework.accountant == "rdp"


def test_the_poisson_figure_is_kept_but_not_certified(tmp_path: Path) -> None:
    run = read_tf_privacy(write(tmp_path, ARGS))
    statement = run.config["statement"]

    assert statement["example_epsilon_poisson"] < statement["example_epsilon_once_per_epoch"]
    assert any("not certified by privaudit" in note for note in run.notes)


def test_one_example_per_user_repeats_the_example_level_figure(tmp_path: Path) -> None:
    run = read_tf_privacy(write(tmp_path, {**ARGS, "max_examples_per_user": 1}))
    statement = run.config["statement"]

    assert statement["user_epsilon_once_per_epoch"] == statement["example_epsilon_once_per_epoch"]


def test_user_level_figures_grow_with_examples_per_user(tmp_path: Path) -> None:
    run = read_tf_privacy(write(tmp_path, {**ARGS, "max_examples_per_user": 3}))
    statement = run.config["statement"]

    assert statement["user_epsilon_once_per_epoch"] > statement["example_epsilon_once_per_epoch"]
    assert any("user-level" in note for note in run.notes)


def test_zero_noise_is_recorded_as_non_private(tmp_path: Path) -> None:
    run = read_tf_privacy(write(tmp_path, {**ARGS, "noise_multiplier": 0}))

    assert run.mechanisms == (NonPrivate(),)
    assert run.framework.epsilon is None


def test_yaml_reads_as_json_does(tmp_path: Path) -> None:
    yaml = tmp_path / "statement.yaml"
    yaml.write_text(
        "number_of_examples: 60000\nbatch_size: 256\nnum_epochs: 3\n"
        "noise_multiplier: 1.1\ndelta: 1.0e-5\n",
        encoding="utf-8",
    )

    assert read_tf_privacy(yaml).mechanisms == read_tf_privacy(write(tmp_path, ARGS)).mechanisms


def test_delta_comes_from_the_option_when_the_file_has_none(tmp_path: Path) -> None:
    args = {key: value for key, value in ARGS.items() if key != "delta"}

    run = read_tf_privacy(write(tmp_path, args), delta=1e-6)

    assert run.framework.delta == 1e-6


def test_a_missing_delta_without_the_option_is_refused(tmp_path: Path) -> None:
    args = {key: value for key, value in ARGS.items() if key != "delta"}

    with pytest.raises(InputError, match=r"delta.*required field is missing"):
        read_tf_privacy(write(tmp_path, args))


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"noise_multiplier": -1}, "noise_multiplier", "must be >= 0"),
        ({"num_epochs": 0}, "num_epochs", "must be > 0"),
        ({"batch_size": "256"}, "batch_size", "expected an integer"),
        ({"batch_size": 1.5}, "batch_size", "expected an integer"),
        ({"batch_size": 70000}, "batch_size", "must be <= number_of_examples"),
        ({"used_microbatching": 1}, "used_microbatching", "expected true or false"),
        ({"accountant_type": "prv"}, "accountant_type", "expected one of RDP, PLD"),
        ({"delta": 1.5}, "delta", "must be < 1"),
        ({"epochs": 3}, "epochs", "unknown field"),
    ],
)
def test_bad_arguments_name_the_file_and_field(
    tmp_path: Path, changes: dict[str, Any], field: str, problem: str
) -> None:
    path = write(tmp_path, {**ARGS, **changes})

    with pytest.raises(InputError) as raised:
        read_tf_privacy(path)

    message = str(raised.value)
    assert str(path) in message and field in message and problem in message


def test_nan_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "statement.json"
    path.write_text(json.dumps(ARGS).replace("1.1", "NaN"), encoding="utf-8")

    with pytest.raises(InputError, match=r"noise_multiplier|NaN"):
        read_tf_privacy(path)
