"""Calibration never overshoots and is tight: re-accounted independently of the search."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privaudit.accounting.calibrate import (
    calibrate_noise,
    calibrate_sampling_rate,
    calibrate_steps,
    epsilon_of,
)
from privaudit.errors import InputError
from tests.accounting.oracles import gaussian_epsilon


def test_noise_for_one_gaussian_matches_the_closed_form_from_above() -> None:
    result = calibrate_noise(1.0, 1e-5, 1.0, 1, tolerance=1e-4)
    # Exact: the σ whose Gaussian curve gives ε = 1 at δ = 1e-5, by bisection on the closed form.
    low, high = 1.0, 10.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (low, middle) if gaussian_epsilon(1e-5, 1 / middle) <= 1.0 else (middle, high)
    assert high <= result.value <= high * 1.003


@settings(max_examples=8)
@given(
    target=st.floats(min_value=0.5, max_value=8.0),
    q=st.floats(min_value=0.005, max_value=0.1),
    steps=st.integers(min_value=10, max_value=400),
)
def test_calibrated_noise_never_overshoots_and_is_tight(
    target: float, q: float, steps: int
) -> None:
    result = calibrate_noise(target, 1e-5, q, steps)
    assert epsilon_of(result.value, q, steps, 1e-5) <= target
    assert result.epsilon <= target
    assert epsilon_of(result.value * (1 - 2e-3), q, steps, 1e-5) > target


def test_calibrated_steps_are_the_last_that_fit() -> None:
    result = calibrate_steps(1.5, 1e-5, 1.0, 0.02)
    steps = int(result.value)
    assert epsilon_of(1.0, 0.02, steps, 1e-5) <= 1.5 < epsilon_of(1.0, 0.02, steps + 1, 1e-5)


def test_no_step_fits_a_tiny_budget() -> None:
    assert calibrate_steps(1e-3, 1e-5, 0.5, 1.0).value == 0


def test_calibrated_sampling_rate_never_overshoots_and_is_tight() -> None:
    result = calibrate_sampling_rate(2.0, 1e-5, 1.0, 500)
    assert epsilon_of(1.0, result.value, 500, 1e-5) <= 2.0
    assert epsilon_of(1.0, min(1.0, result.value * (1 + 2e-3)), 500, 1e-5) > 2.0


def test_sampling_rate_is_one_when_even_full_batches_fit() -> None:
    assert calibrate_sampling_rate(10.0, 1e-5, 5.0, 4).value == 1.0


@pytest.mark.parametrize(
    ("target", "delta", "q", "steps"),
    [
        (0.0, 1e-5, 0.1, 10),
        (1.0, 0.0, 0.1, 10),
        (1.0, 1e-5, 1.5, 10),
        (1.0, 1e-5, 0.1, 0),
        (math.nan, 1e-5, 0.1, 10),
    ],
)
def test_bad_calibration_arguments_are_input_errors(
    target: float, delta: float, q: float, steps: int
) -> None:
    with pytest.raises(InputError):
        calibrate_noise(target, delta, q, steps)
