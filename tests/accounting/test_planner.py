"""Tests of the training-run planner (privaudit.accounting.planner).

Answers are checked against accounting the planner does not do itself: closed forms (a full
batch, q = 1, composes into one Gaussian with μ = √T/σ; Balle & Wang 2018), dp_accounting's own
PLD accountant, and privaudit's accountant re-run on the planned configuration. Step counts are
recomputed from their definition, never copied from the implementation. Small step counts keep
the module fast.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
from dp_accounting import dp_event
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant as rdp_accountant
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from privaudit import DpSgd, Plan, PldAccountant, account, plan
from privaudit.accounting.planner import PlanRequest, Solve, curve_checkpoints, solve
from privaudit.mechanisms import Gaussian, PoissonSampled
from tests.accounting.oracles import gaussian_epsilon

TIGHT = 1 - 0.002
"""A calibrated σ lowered by 0.2% must exceed the target: the calibration is tight."""


def library_pld_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    """ε from dp_accounting's own PLD accountant (not privaudit's FFT engine)."""
    accountant = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
    event = dp_event.GaussianDpEvent(sigma)
    if q < 1:
        event = dp_event.PoissonSampledDpEvent(q, event)
    accountant.compose(event, steps)
    return float(accountant.get_epsilon(delta))


def reaccounted(sigma: float, q: float, steps: int, delta: float, discretisation: float) -> float:
    """ε from privaudit's PLD accountant, composed here from the mechanism tree."""
    step = Gaussian(noise_multiplier=sigma)
    mechanism = step if q == 1 else PoissonSampled(sampling_rate=q, event=step)
    return PldAccountant(discretisation=discretisation).compose(mechanism, steps).get_epsilon(delta)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --- calibrated noise --------------------------------------------------------------------------


def test_full_batch_sigma_meets_the_exact_gaussian_bound_and_is_tight() -> None:
    # q = 1: T Gaussian steps are one Gaussian with μ = √T/σ, whose exact ε is known.
    result = plan(epsilon=1.0, delta=1e-5, dataset_size=500, batch_size=500, epochs=25)
    row = result.recommended
    assert row is not None and row.noise_multiplier is not None
    assert row.steps == 25 and row.sampling_rate == 1.0
    sigma = row.noise_multiplier
    assert gaussian_epsilon(1e-5, math.sqrt(25) / sigma) <= 1.0
    assert gaussian_epsilon(1e-5, math.sqrt(25) / (sigma * TIGHT)) > 1.0
    assert row.epsilon is not None and gaussian_epsilon(1e-5, 5 / sigma) <= row.epsilon <= 1.0


def test_dpsgd_sigma_never_overshoots_and_is_tight() -> None:
    n, b, epochs = 60000, 256, 60
    result = plan(epsilon=1.0, delta=1e-5, dataset_size=n, batch_size=b, epochs=epochs)
    row = result.recommended
    assert row is not None and row.noise_multiplier is not None and row.fits
    steps = ceil_div(epochs * n, b)  # 14063: a partial last batch is still a step
    assert row.steps == steps and row.batch_size == b and row.sampling_rate == b / n
    sigma = row.noise_multiplier
    # Re-accounted independently, at privaudit's default discretisation and by dp_accounting.
    accounted = account([DpSgd(noise_multiplier=sigma, sampling_rate=b / n, steps=steps)], 1e-5)
    assert accounted.pld.epsilon is not None and accounted.pld.epsilon <= 1.0
    assert reaccounted(sigma, b / n, steps, 1e-5, 1e-4) <= 1.0
    assert library_pld_epsilon(sigma, b / n, steps, 1e-5) <= 1.0
    assert reaccounted(sigma * TIGHT, b / n, steps, 1e-5, 1e-4) > 1.0
    assert library_pld_epsilon(sigma * TIGHT, b / n, steps, 1e-5) > 1.0
    # The reported ε is the one of the reported σ, at the plan's stated discretisation.
    discretisation = result.settings["pld"]["discretisation"]
    assert row.epsilon == pytest.approx(
        reaccounted(sigma, b / n, steps, 1e-5, discretisation), rel=1e-9
    )


def test_calibrated_sigma_is_printable_as_is() -> None:
    result = plan(epsilon=1.0, delta=1e-5, dataset_size=60000, batch_size=256, epochs=60)
    assert result.recommended is not None
    sigma = result.recommended.noise_multiplier
    assert sigma is not None
    assert len(repr(sigma).replace(".", "").lstrip("0")) <= 5  # 5 significant digits


@settings(max_examples=4)
@given(
    epsilon=st.sampled_from([0.5, 1.0, 2.0]),
    rounds=st.integers(min_value=5, max_value=60),
    per_round=st.sampled_from([20, 50, 100]),
)
def test_federated_calibration_never_overshoots(
    epsilon: float, rounds: int, per_round: int
) -> None:
    result = plan(
        epsilon=epsilon, delta=1e-6, clients=1000, clients_per_round=per_round, rounds=rounds
    )
    row = result.recommended
    assert row is not None and row.noise_multiplier is not None
    q = per_round / 1000
    assert reaccounted(row.noise_multiplier, q, rounds, 1e-6, 1e-4) <= epsilon
    assert reaccounted(row.noise_multiplier * TIGHT, q, rounds, 1e-6, 1e-4) > epsilon


def test_federated_plan_samples_clients_and_protects_clients() -> None:
    result = plan(epsilon=1.0, delta=1e-5, clients=1000, clients_per_round=50, rounds=100)
    assert result.federated and result.privacy_unit == "client" and result.population == 1000
    (row,) = result.rows
    assert row.sampling_rate == 0.05
    assert row.rounds == 100 and row.steps == 100 and row.clients_per_round == 50
    assert row.batch_size is None and row.epochs is None
    assert result.curve is not None and result.curve.rounds == tuple(range(101))


def test_grid_of_calibrations_has_one_row_per_batch_and_length() -> None:
    result = plan(epsilon=2.0, delta=1e-5, dataset_size=1000, batch_size=[1000, 500], epochs=[4, 8])
    assert result.solved_for is Solve.NOISE_MULTIPLIER
    pairs = [(row.batch_size, row.epochs) for row in result.rows]
    assert pairs == [(1000, 4.0), (1000, 8.0), (500, 4.0), (500, 8.0)]
    assert all(row.fits and row.method == "pld" for row in result.rows)
    # More steps of the same sampling need more noise.
    assert result.rows[1].noise_multiplier > result.rows[0].noise_multiplier  # type: ignore[operator]
    smallest = min(row.noise_multiplier for row in result.rows)  # type: ignore[type-var]
    assert result.recommended is not None
    assert result.recommended.noise_multiplier == smallest


# --- given noise: ε of each configuration ------------------------------------------------------


def test_given_noise_grid_reports_certified_epsilon_and_fit() -> None:
    sigmas, batches, epochs = [0.7, 1.0, 2.0], [10, 50], [1, 3]
    result = plan(
        epsilon=1.5,
        delta=1e-5,
        dataset_size=1000,
        batch_size=batches,
        epochs=epochs,
        noise_multiplier=sigmas,
    )
    assert result.solved_for is Solve.EPSILON
    assert len(result.rows) == len(sigmas) * len(batches) * len(epochs)
    for row in result.rows:
        assert row.method == "pld" and row.epsilon is not None
        assert row.batch_size is not None and row.epochs is not None
        q = row.batch_size / 1000
        assert row.steps == ceil_div(int(row.epochs) * 1000, row.batch_size)
        finer = reaccounted(row.noise_multiplier or 0, q, row.steps, 1e-5, 1e-4)
        assert row.epsilon == pytest.approx(finer, rel=2e-3)  # two PLD grids, both certified
        assert row.fits == (row.epsilon <= 1.5)
    fitting = [row for row in result.rows if row.fits]
    assert fitting and len(fitting) < len(result.rows)
    assert result.recommended is not None
    best = min(fitting, key=lambda row: (row.noise_multiplier, row.steps))
    assert result.recommended == best


def test_large_grid_uses_rdp_then_pld_for_the_recommendation() -> None:
    request = PlanRequest(
        target_epsilon=1.0,
        delta=1e-5,
        dataset_size=1000,
        batch_sizes=(10, 20, 50, 100),
        epochs=(1, 2, 3, 4, 5),
        noise_multipliers=(0.8, 1.0, 1.5),
    )
    assert request.configurations == 60 > request.rdp_grid_above
    result = solve(request)
    assert len(result.rows) == 60
    methods = {row.method for row in result.rows}
    assert methods == {"rdp", "pld"}
    assert "rdp" in result.settings
    recommended = result.recommended
    assert recommended is not None and recommended.method == "pld" and recommended.fits
    assert recommended in result.rows
    rdp_rows = [row for row in result.rows if row.method == "rdp"]
    for row in rdp_rows:
        assert row.epsilon is not None and row.fits == (row.epsilon <= 1.0)
    for row in rdp_rows[::5]:
        assert row.epsilon is not None
        # privaudit's RDP uses a superset of dp_accounting's orders: never looser than it.
        library = rdp_accountant.RdpAccountant()
        q = (row.batch_size or 0) / 1000
        library.compose(
            dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(row.noise_multiplier)),
            row.steps,
        )
        assert row.epsilon <= library.get_epsilon(1e-5) * (1 + 1e-9)
    for row in rdp_rows[::12]:
        # ... and, as RDP is, looser than the (pessimistic, so also certified) PLD bound.
        q = (row.batch_size or 0) / 1000
        assert row.epsilon is not None
        assert row.epsilon >= reaccounted(row.noise_multiplier or 0, q, row.steps, 1e-5, 1e-4)
    assert not any(
        row.fits and (row.noise_multiplier or 0) < (recommended.noise_multiplier or 0)
        for row in result.rows
    )


def test_nothing_fits_names_the_closest_configuration() -> None:
    result = plan(
        epsilon=0.5,
        delta=1e-5,
        clients=1000,
        clients_per_round=50,
        rounds=[50, 100],
        noise_multiplier=[0.5, 0.6],
    )
    assert not result.fits and result.recommended is None
    assert all(not row.fits for row in result.rows)
    assert result.closest is not None
    assert result.closest.epsilon == min(row.epsilon or math.inf for row in result.rows)
    assert (result.closest.noise_multiplier, result.closest.rounds) == (0.6, 50)
    assert result.curve is not None and result.curve.noise_multiplier == 0.6


# --- given noise, no length: the most steps that fit -------------------------------------------


def test_most_steps_that_fit_is_tight() -> None:
    result = plan(epsilon=1.0, delta=1e-5, dataset_size=1000, batch_size=50, noise_multiplier=2.0)
    assert result.solved_for is Solve.STEPS
    (row,) = result.rows
    assert row.fits and row.steps > 1
    assert row.epochs == pytest.approx(row.steps * 50 / 1000)
    h = result.settings["pld"]["discretisation"]
    assert reaccounted(2.0, 0.05, row.steps, 1e-5, h) <= 1.0
    assert reaccounted(2.0, 0.05, row.steps + 1, 1e-5, h) > 1.0


def test_when_one_step_is_too_many_the_row_says_so() -> None:
    result = plan(epsilon=0.1, delta=1e-5, dataset_size=100, batch_size=50, noise_multiplier=0.5)
    (row,) = result.rows
    assert row.steps == 1 and not row.fits and not result.fits
    assert row.epsilon is not None and row.epsilon > 0.1


# --- the curve ---------------------------------------------------------------------------------


def test_curve_grows_to_the_recommended_epsilon() -> None:
    result = plan(epsilon=1.0, delta=1e-5, dataset_size=60000, batch_size=256, epochs=60)
    curve, row = result.curve, result.recommended
    assert curve is not None and row is not None and row.noise_multiplier is not None
    # One checkpoint per epoch (60 of them), plus the start.
    assert curve.steps == (0, *(ceil_div(k * 60000, 256) for k in range(1, 61)))
    assert curve.epochs is not None and curve.epochs[-1] == pytest.approx(14063 * 256 / 60000)
    values = [v for v in curve.epsilon if v is not None]
    assert len(values) == len(curve.steps) and values[0] == 0.0
    assert all(a <= b for a, b in itertools.pairwise(values))
    assert values[-1] == pytest.approx(row.epsilon, rel=1e-6)
    middle = curve.steps[30]
    expected = reaccounted(row.noise_multiplier, 256 / 60000, middle, 1e-5, curve.discretisation)
    assert curve.epsilon[30] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("steps", "per_unit", "expected_count"),
    [(150, 75.0, 150), (14063, 234.375, 60), (100_000, 100_000 / 3, 200), (10**6, 10.0, 200)],
)
def test_checkpoints(steps: int, per_unit: float, expected_count: int) -> None:
    marks = curve_checkpoints(steps, per_unit, 200)
    assert len(marks) == expected_count
    assert marks[-1] == steps and marks[0] >= 1
    assert marks == sorted(set(marks))


# --- findings, serialisation, input errors -----------------------------------------------------


def test_delta_at_or_above_one_over_n_is_kept_and_warned() -> None:
    result = plan(epsilon=2.0, delta=0.02, dataset_size=100, batch_size=10, noise_multiplier=1.0)
    assert result.request.delta == 0.02 and all(row.delta == 0.02 for row in result.rows)
    assert any("1/n" in warning for warning in result.warnings)
    quiet = plan(epsilon=2.0, delta=1e-3, dataset_size=100, batch_size=10, noise_multiplier=1.0)
    assert quiet.warnings == ()


def test_plan_is_frozen_and_serialises_to_strict_json() -> None:
    result = plan(
        epsilon=1.0, delta=1e-5, clients=100, clients_per_round=10, rounds=5, noise_multiplier=3
    )
    assert isinstance(result, Plan)
    data = json.loads(json.dumps(result.model_dump(mode="json"), allow_nan=False))
    assert data["fits"] is True and data["sampling"] == "poisson"
    assert data["rows"][0]["method"] == "pld"
    assert data["settings"]["pld"]["estimate"] == "pessimistic"
    with pytest.raises(ValidationError):
        result.rows[0].epsilon = 0.0  # type: ignore[misc]
