"""Reading JAX Privacy's DP-SGD accounting configuration (``DpParams`` with its training
accountant, or the Keras API's ``DPKerasConfig``): phases become DP-SGD entries, JAX Privacy's
figure is recomputed as it does, and what privaudit cannot certify is refused by field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from privaudit.accounting.accountant import Method, account
from privaudit.errors import InputError
from privaudit.imports.jax_privacy import read_jax_privacy
from privaudit.mechanisms import DpSgd, PoissonSampled, Sampling, SelfComposed
from tests.accounting.oracles import gaussian_epsilon

DELTA = 1e-5


def dp_params(**changes: Any) -> dict[str, Any]:
    params = {
        "noise_multipliers": 1.1,
        "num_samples": 60000,
        "delta": DELTA,
        "batch_size": 600,
        "sampling_method": "POISSON",
    }
    top: dict[str, Any] = {
        "dp_params": {**params, **changes.pop("params", {})},
        "num_updates": 1000,
        "dp_accountant_config": {"type": "PldAccountantConfig"},
    }
    return {**top, **changes}


def keras(**changes: Any) -> dict[str, Any]:
    config = {
        "epsilon": 3.0,
        "delta": DELTA,
        "clipping_norm": 1.0,
        "batch_size": 600,
        "train_steps": 1000,
        "train_size": 60000,
        "poisson_sampling_in_fit": True,
        "noise_multiplier": 1.1,
    }
    return {"dp_keras_config": {**config, **changes}}


def write(tmp_path: Path, data: object, name: str = "jax.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_poisson_dp_params_become_one_dpsgd_entry(tmp_path: Path) -> None:
    run = read_jax_privacy(write(tmp_path, dp_params()))

    assert run.mechanisms == (DpSgd(noise_multiplier=1.1, sampling_rate=0.01, steps=1000),)
    assert run.framework.name == "jax-privacy" and run.framework.accountant == "pld"


def test_a_noise_schedule_becomes_one_entry_per_phase(tmp_path: Path) -> None:
    data = dp_params(params={"noise_multipliers": [[0, 1.1], [400, 0.9]]})

    run = read_jax_privacy(write(tmp_path, data))

    assert run.mechanisms == (
        DpSgd(noise_multiplier=1.1, sampling_rate=0.01, steps=400),
        DpSgd(noise_multiplier=0.9, sampling_rate=0.01, steps=600),
    )


def test_fixed_batches_are_accounted_without_replacement(tmp_path: Path) -> None:
    data = dp_params(params={"sampling_method": "FIXED_BATCH_SIZE"})

    run = read_jax_privacy(write(tmp_path, data))

    (mechanism,) = run.mechanisms
    assert isinstance(mechanism, DpSgd)
    assert mechanism.sampling is Sampling.FIXED_BATCH and mechanism.dataset_size == 60000


def test_cyclic_sampling_counts_one_update_per_cycle(tmp_path: Path) -> None:
    data = dp_params(params={"cycle_length": 4})

    run = read_jax_privacy(write(tmp_path, data))

    (mechanism,) = run.mechanisms
    assert isinstance(mechanism, SelfComposed) and mechanism.count == 250
    assert mechanism.event == PoissonSampled(
        sampling_rate=600 / 15000,
        event=mechanism.event.event,  # type: ignore[union-attr]
    )


def test_full_batches_give_the_composed_gaussians_exact_epsilon(tmp_path: Path) -> None:
    # q = 1: every update is an unsampled Gaussian, so T updates are one with μ = √T / z.
    data = dp_params(params={"batch_size": 60000, "noise_multipliers": 20.0})
    data["num_updates"] = 100
    run = read_jax_privacy(write(tmp_path, data))
    exact = gaussian_epsilon(DELTA, math.sqrt(100) / 20.0)

    certified = account(run.mechanisms, DELTA, Method.PLD).epsilon

    assert run.framework.epsilon is not None
    assert exact <= certified <= exact * 1.01
    assert exact * 0.99 <= run.framework.epsilon <= exact * 1.02


def test_jax_privacys_figure_is_close_to_privaudits_for_poisson(tmp_path: Path) -> None:
    run = read_jax_privacy(write(tmp_path, dp_params()))
    certified = account(run.mechanisms, DELTA, Method.PLD).epsilon

    assert run.framework.epsilon is not None
    assert abs(run.framework.epsilon - certified) <= 0.02 * certified


def test_the_rdp_accountant_is_an_upper_bound_of_the_pld_figure(tmp_path: Path) -> None:
    pld = read_jax_privacy(write(tmp_path, dp_params(), "pld.json"))
    data = dp_params(dp_accountant_config={"type": "RdpAccountantConfig"})
    rdp = read_jax_privacy(write(tmp_path, data, "rdp.json"))

    assert pld.framework.epsilon is not None and rdp.framework.epsilon is not None
    assert rdp.framework.epsilon >= pld.framework.epsilon * 0.99
    assert rdp.framework.accountant == "rdp"


def test_keras_poisson_sampling_in_fit_is_poisson_dpsgd(tmp_path: Path) -> None:
    run = read_jax_privacy(write(tmp_path, keras()))

    assert run.mechanisms == (DpSgd(noise_multiplier=1.1, sampling_rate=0.01, steps=1000),)


def test_keras_without_poisson_sampling_claims_no_amplification(tmp_path: Path) -> None:
    run = read_jax_privacy(write(tmp_path, keras(poisson_sampling_in_fit=False)))

    (mechanism,) = run.mechanisms
    assert isinstance(mechanism, DpSgd) and mechanism.sampling is Sampling.SHUFFLE
    assert any("no amplification" in note for note in run.notes)


def test_keras_figure_with_full_batches_is_the_exact_gaussian(tmp_path: Path) -> None:
    data = keras(batch_size=60000, train_steps=100, noise_multiplier=20.0)
    run = read_jax_privacy(write(tmp_path, data))
    exact = gaussian_epsilon(DELTA, math.sqrt(100) / 20.0)

    assert run.framework.epsilon is not None
    assert exact * 0.99 <= run.framework.epsilon <= exact * 1.05


def test_a_configured_epsilon_below_jax_privacys_figure_is_noted(tmp_path: Path) -> None:
    run = read_jax_privacy(write(tmp_path, keras(epsilon=0.1)))

    assert any("DPKerasConfig would refuse" in note for note in run.notes)


def test_yaml_reads_as_json_does(tmp_path: Path) -> None:
    yaml = tmp_path / "jax.yaml"
    yaml.write_text(
        "dp_params:\n  noise_multipliers: 1.1\n  num_samples: 60000\n  delta: 1.0e-5\n"
        "  batch_size: 600\nnum_updates: 1000\ndp_accountant_config:\n"
        "  type: PldAccountantConfig\n",
        encoding="utf-8",
    )

    expected = read_jax_privacy(write(tmp_path, dp_params())).mechanisms
    assert read_jax_privacy(yaml).mechanisms == expected


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        (dp_params(params={"examples_per_user": 2}), "examples_per_user", "user-level"),
        (dp_params(params={"truncated_batch_size": 500}), "truncated_batch_size", "no privaudit"),
        (
            dp_params(training_accountant="SingleReleaseTrainingAccountant"),
            "training_accountant",
            "single-release",
        ),
        (dp_params(params={"noise_multipliers": -1}), "noise_multipliers", "must be >= 0"),
        (dp_params(params={"batch_size": True}), "batch_size", "expected an integer"),
        (dp_params(params={"batch_size": 70000}), "batch_size", "exceeds"),
        (dp_params(params={"noise_multipliers": [[5, 1.0]]}), "noise_multipliers", "first step"),
        (dp_params(params={"sampling": "POISSON"}), "dp_params.sampling", "unknown field"),
        (dp_params(num_updates=0), "num_updates", "must be >= 1"),
        (dp_params(dp_accountant_config={"type": "Prv"}), "dp_accountant_config.type", "one of"),
        (keras(noise_multiplier=None), "noise_multiplier", "get_noise_multiplier"),
        (keras(gradient_accumulation_steps=2), "gradient_accumulation_steps", "cannot certify"),
        (keras(train_size=100), "batch_size", "must be <= train_size"),
        ({"steps": 10}, "", "expected a JAX Privacy accounting configuration"),
    ],
)
def test_bad_configurations_name_the_file_and_field(
    tmp_path: Path, data: dict[str, Any], field: str, problem: str
) -> None:
    path = write(tmp_path, data)

    with pytest.raises(InputError) as raised:
        read_jax_privacy(path)

    message = str(raised.value)
    assert str(path) in message and field in message and problem in message
