"""Planning a training run: the noise, batch size and length that keep it under a target ε.

Pure computation on Poisson-subsampled Gaussian steps (DP-SGD, or DP-FedAvg rounds with the
client as the privacy unit); nothing here knows about policies, tiers or output formats.

A :class:`PlanRequest` gives the target (ε, δ) and a grid of training configurations:

- DP-SGD: dataset size n, batch sizes b (sampling rate q = b/n), epochs E (steps
  T = ⌈E·n/b⌉, rounded up so the plan never undercounts), optional noise multipliers σ.
- Federated: total clients N, clients per round m (q = m/N), rounds R (T = R), optional σ.

What is solved for depends on what is given:

- no noise multiplier: the smallest σ per (batch, epochs) whose ε is ≤ the target, by
  :func:`~privaudit.accounting.calibrate.calibrate_noise` (PLD, ends on the passing side; the
  answer is then rounded *up* to 5 significant digits and re-accounted, so the printed σ is
  the one accounted);
- noise multipliers and epochs (or rounds): ε of every (σ, batch, epochs) and whether it fits.
  Up to :attr:`PlanRequest.rdp_grid_above` configurations each get a PLD bound; a larger grid
  is accounted in one vectorised RDP pass (:func:`~privaudit.accounting.rdp.rdp_grid_epsilon`,
  also a certified upper bound), then the candidates for the recommendation (in order of σ,
  then steps) are re-accounted with PLD;
- noise multipliers but no epochs (rounds): the largest number of steps that fits, by
  :func:`~privaudit.accounting.calibrate.calibrate_steps`.

The recommended configuration is the fitting one with the smallest noise multiplier (ties: the
fewest steps, then the smallest ε). Its ε over the course of training is computed from one PLD
(:func:`~privaudit.accounting.pld.epsilon_curve`), at every step for short runs, every epoch (or
round) when there are 20 to ``checkpoints`` of them, else at ``checkpoints`` evenly spaced steps.
Every ε is a certified upper bound at δ under the add-or-remove-one relation with Poisson
sampling, and each row names the accountant that produced it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    computed_field,
)

from privaudit.accounting import pld as pld_engine
from privaudit.accounting.accountant import Method, versions
from privaudit.accounting.calibrate import (
    calibrate_noise,
    calibrate_steps,
    dpsgd_mechanism,
    epsilon_of,
)
from privaudit.accounting.plan_request import PlanRequest, Solve
from privaudit.checks import ARGUMENT
from privaudit.errors import InputError, from_validation_error

__all__ = ["Curve", "Plan", "PlanRequest", "PlanRow", "Solve", "plan", "solve"]

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each configuration is accounted."""

REPORTED_DIGITS: Final = 5
"""Significant digits of a calibrated noise multiplier (rounded up, then re-accounted)."""

_BORDERLINE: Final = 1.5
"""On an RDP grid, rows whose RDP ε is within this factor of the target are re-checked with PLD
(PLD is typically 10–40% tighter than RDP on DP-SGD), in order, before the first RDP fit."""
_BORDERLINE_CHECKS: Final = 10
"""At most this many such PLD re-checks, so a huge grid stays fast."""
_PER_UNIT_MIN: Final = 20
"""Curves use one checkpoint per epoch (round) when there are at least this many."""

_NO_NOISE_MEETS = "cannot be met"
"""Part of calibrate_noise's message when no noise multiplier ≤ 1e6 meets the target."""


class PlanRow(BaseModel):
    """One configuration and its certified ε at δ."""

    model_config = ConfigDict(frozen=True)

    noise_multiplier: float | None
    """None when no noise multiplier ≤ 1e6 meets the target."""
    sampling_rate: float
    batch_size: int | None = None
    epochs: float | None = None
    """DP-SGD: epochs as given, or steps·b/n when the steps were solved for."""
    clients_per_round: int | None = None
    rounds: int | None = None
    steps: int
    epsilon: float | None
    """Certified upper bound on ε at ``delta``; None when there is no σ to account."""
    delta: float
    fits: bool
    """ε ≤ the target."""
    method: Method
    """The accountant of ``epsilon``: pld (discretisation in the plan's settings) or rdp."""
    solved_for: Solve


class Curve(BaseModel):
    """ε after each checkpoint of the recommended (or, if nothing fits, closest) run."""

    model_config = ConfigDict(frozen=True)

    steps: tuple[int, ...]
    epochs: tuple[float, ...] | None = None
    rounds: tuple[int, ...] | None = None
    epsilon: tuple[float | None, ...]
    """ε at ``delta`` after each checkpoint; None where the PLD bounds no finite ε."""
    noise_multiplier: float
    sampling_rate: float
    delta: float
    method: Method = Method.PLD
    discretisation: float


class Plan(BaseModel):
    """The answer to a :class:`PlanRequest`: every configuration, the recommended one and its
    ε-over-training curve, and how every number was computed."""

    model_config = ConfigDict(frozen=True)

    request: PlanRequest
    solved_for: Solve
    federated: bool
    privacy_unit: Literal["example", "client"]
    population: int
    """n: records (DP-SGD) or clients (federated)."""
    sampling: Literal["poisson"] = "poisson"
    neighbouring_relation: Literal["add_or_remove_one"] = "add_or_remove_one"
    rows: tuple[PlanRow, ...]
    recommended: PlanRow | None
    """The fitting row with the smallest noise multiplier (ties: fewest steps); None if none."""
    closest: PlanRow | None = None
    """When nothing fits: the row with the smallest ε."""
    curve: Curve | None
    warnings: tuple[str, ...] = ()
    settings: dict[str, Any]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fits(self) -> bool:
        """Whether some configuration meets the target."""
        return self.recommended is not None


def plan(
    *,
    epsilon: float,
    delta: float,
    dataset_size: int | None = None,
    batch_size: int | Sequence[int] | None = None,
    epochs: float | Sequence[float] | None = None,
    noise_multiplier: float | Sequence[float] | None = None,
    clients: int | None = None,
    clients_per_round: int | None = None,
    rounds: int | Sequence[int] | None = None,
    checkpoints: int = 200,
    progress: ProgressCallback | None = None,
) -> Plan:
    """Plan a training run under (``epsilon``, ``delta``); see :mod:`privaudit.accounting.planner`.

    Examples::

        plan(epsilon=1, delta=1e-5, dataset_size=60000, batch_size=256, epochs=60)
        plan(epsilon=3, delta=1e-6, dataset_size=60000, batch_size=[128, 256],
             epochs=[10, 30], noise_multiplier=[0.8, 1.0, 1.2])
        plan(epsilon=8, delta=1e-5, clients=1000, clients_per_round=50, noise_multiplier=1.0)

    Raises :class:`~privaudit.errors.InputError` for missing or invalid settings.
    """
    try:
        request = PlanRequest.model_validate(
            {
                "target_epsilon": epsilon,
                "delta": delta,
                "dataset_size": dataset_size,
                "batch_sizes": batch_size,
                "epochs": epochs,
                "noise_multipliers": noise_multiplier,
                "clients": clients,
                "clients_per_round": clients_per_round,
                "rounds": rounds,
                "checkpoints": checkpoints,
            }
        )
    except ValidationError as error:
        raise _input_error(error) from None
    return solve(request, progress=progress)


def solve(request: PlanRequest, *, progress: ProgressCallback | None = None) -> Plan:
    """Compute the :class:`Plan` for ``request``."""
    report = progress or (lambda done, total: None)
    report(0, request.configurations)
    lots = _lots(request)
    solve_for = request.solve_for
    if solve_for is Solve.NOISE_MULTIPLIER:
        rows = _calibrate_noise_rows(request, lots, report)
    elif solve_for is Solve.STEPS:
        rows = _calibrate_steps_rows(request, lots, report)
    elif request.configurations > request.rdp_grid_above:
        rows = _rdp_rows(request, lots, report)
    else:
        rows = _pld_rows(request, lots, report)
    recommended = _recommend(rows)
    closest = None
    if recommended is None:
        accounted = [row for row in rows if row.epsilon is not None]
        closest = min(accounted, key=lambda row: row.epsilon or 0.0) if accounted else None
    shown = recommended or closest
    curve = _curve(request, shown) if shown is not None else None
    return Plan(
        request=request,
        solved_for=solve_for,
        federated=request.federated,
        privacy_unit="client" if request.federated else "example",
        population=request.population,
        rows=tuple(rows),
        recommended=recommended,
        closest=closest,
        curve=curve,
        warnings=tuple(_warnings(request, rows)),
        settings=_settings(request, rows),
    )


# ---------------------------------------------------------------------------------------------
# Configurations


class _Lot(BaseModel):
    """One sampling setting: a batch size (DP-SGD) or the clients per round (federated)."""

    model_config = ConfigDict(frozen=True)

    size: int
    """b, or clients per round m."""
    population: int
    """n, or total clients N."""
    federated: bool

    @property
    def sampling_rate(self) -> float:
        return self.size / self.population

    @property
    def steps_per_unit(self) -> float:
        """Steps per epoch (n/b) or per round (1)."""
        return 1.0 if self.federated else self.population / self.size


def _lots(request: PlanRequest) -> list[_Lot]:
    if request.federated:
        assert request.clients is not None and request.clients_per_round is not None
        return [_Lot(size=request.clients_per_round, population=request.clients, federated=True)]
    n = request.population
    return [_Lot(size=b, population=n, federated=False) for b in request.batch_sizes]


def _lengths(request: PlanRequest) -> tuple[float, ...]:
    return tuple(float(r) for r in request.rounds) if request.federated else request.epochs


def _steps(lot: _Lot, length: float) -> int:
    if lot.federated:
        return int(length)
    # ⌈E·n/b⌉: a partial last batch still is a step (60 epochs of 60000 in batches of 256 are
    # 14062.5 batches: 14063 steps). The relative 1e-12 keeps a whole E·n/b that comes out of
    # the float product a hair above an integer from gaining a step.
    exact = length * lot.population / lot.size
    return max(1, math.ceil(exact * (1 - 1e-12)))


def _row(
    request: PlanRequest,
    lot: _Lot,
    *,
    sigma: float | None,
    steps: int,
    epsilon: float | None,
    method: Method,
    length: float | None = None,
) -> PlanRow:
    fits = epsilon is not None and epsilon <= request.target_epsilon
    if request.federated:
        return PlanRow(
            noise_multiplier=sigma,
            sampling_rate=lot.sampling_rate,
            clients_per_round=lot.size,
            rounds=steps,
            steps=steps,
            epsilon=epsilon,
            delta=request.delta,
            fits=fits,
            method=method,
            solved_for=request.solve_for,
        )
    return PlanRow(
        noise_multiplier=sigma,
        sampling_rate=lot.sampling_rate,
        batch_size=lot.size,
        epochs=length if length is not None else steps / lot.steps_per_unit,
        steps=steps,
        epsilon=epsilon,
        delta=request.delta,
        fits=fits,
        method=method,
        solved_for=request.solve_for,
    )


SigmaAndEpsilon = Callable[[float | None, _Lot, int], tuple[float | None, float | None]]
"""(given σ or None, lot, steps) -> the row's σ and its PLD ε."""


def _calibrate_noise_rows(
    request: PlanRequest, lots: list[_Lot], report: ProgressCallback
) -> list[PlanRow]:
    def calibrated(_: float | None, lot: _Lot, steps: int) -> tuple[float | None, float | None]:
        return _calibrated_sigma(request, lot.sampling_rate, steps)

    return _pld_grid(request, lots, report, (None,), calibrated)


def _pld_rows(request: PlanRequest, lots: list[_Lot], report: ProgressCallback) -> list[PlanRow]:
    def accounted(sigma: float | None, lot: _Lot, steps: int) -> tuple[float | None, float | None]:
        assert sigma is not None
        return sigma, _pld_epsilon(request, sigma, lot.sampling_rate, steps)

    return _pld_grid(request, lots, report, request.noise_multipliers, accounted)


def _pld_grid(
    request: PlanRequest,
    lots: list[_Lot],
    report: ProgressCallback,
    sigmas: Sequence[float | None],
    evaluate: SigmaAndEpsilon,
) -> list[PlanRow]:
    """One PLD row per (σ, lot, length), in that order, reporting progress after each."""
    rows: list[PlanRow] = []
    for given in sigmas:
        for lot in lots:
            for length in _lengths(request):
                steps = _steps(lot, length)
                sigma, epsilon = evaluate(given, lot, steps)
                rows.append(
                    _row(
                        request,
                        lot,
                        sigma=sigma,
                        steps=steps,
                        epsilon=epsilon,
                        method=Method.PLD,
                        length=length,
                    )
                )
                report(len(rows), request.configurations)
    return rows


def _calibrated_sigma(
    request: PlanRequest, rate: float, steps: int
) -> tuple[float | None, float | None]:
    try:
        found = calibrate_noise(
            request.target_epsilon,
            request.delta,
            rate,
            steps,
            tolerance=request.tolerance,
            discretisation=request.discretisation,
        )
    except InputError as error:
        if _NO_NOISE_MEETS in error.problem:
            return None, None
        raise InputError(
            ARGUMENT,
            "target_epsilon",
            f"{error.problem} (q = {rate:.6g}, {steps} steps); expected a smaller ε",
        ) from None
    # Round up to a value people can type, and account that value: ε only falls as σ grows, so
    # it stays ≤ the target; if the re-accounted ε does not, keep the calibrated pair.
    sigma = _round_up(found.value, REPORTED_DIGITS)
    if sigma == found.value:
        return sigma, found.epsilon
    epsilon = epsilon_of(sigma, rate, steps, request.delta, request.discretisation)
    if epsilon <= found.epsilon:
        return sigma, epsilon
    return found.value, found.epsilon


def _calibrate_steps_rows(
    request: PlanRequest, lots: list[_Lot], report: ProgressCallback
) -> list[PlanRow]:
    rows: list[PlanRow] = []
    total = request.configurations
    for sigma in request.noise_multipliers:
        for lot in lots:
            found = calibrate_steps(
                request.target_epsilon,
                request.delta,
                sigma,
                lot.sampling_rate,
                discretisation=request.discretisation,
            )
            steps = int(found.value)
            epsilon: float | None = found.epsilon
            if steps < 1:
                # Even one step exceeds the target: report that step.
                steps = 1
                epsilon = _pld_epsilon(request, sigma, lot.sampling_rate, 1)
            rows.append(
                _row(request, lot, sigma=sigma, steps=steps, epsilon=epsilon, method=Method.PLD)
            )
            report(len(rows), total)
    return rows


def _pld_epsilon(request: PlanRequest, sigma: float, rate: float, steps: int) -> float | None:
    epsilon = epsilon_of(sigma, rate, steps, request.delta, request.discretisation)
    return epsilon if math.isfinite(epsilon) else None


def _rdp_rows(request: PlanRequest, lots: list[_Lot], report: ProgressCallback) -> list[PlanRow]:
    from privaudit.accounting.rdp import rdp_grid_epsilon  # only large grids need it

    lengths = _lengths(request)
    sigmas = np.array(request.noise_multipliers, dtype=np.float64)
    rates = np.array([lot.sampling_rate for lot in lots], dtype=np.float64)
    steps = np.array([[_steps(lot, length) for length in lengths] for lot in lots])
    grid = rdp_grid_epsilon(
        rates[None, :, None], sigmas[:, None, None], steps[None, :, :], request.delta
    )
    rows: list[PlanRow] = []
    for i, sigma in enumerate(request.noise_multipliers):
        for j, lot in enumerate(lots):
            for k, length in enumerate(lengths):
                value = float(grid[i, j, k])
                rows.append(
                    _row(
                        request,
                        lot,
                        sigma=sigma,
                        steps=int(steps[j, k]),
                        epsilon=value if math.isfinite(value) else None,
                        method=Method.RDP,
                        length=length,
                    )
                )
    total = request.configurations
    report(total, total)
    # PLD for the recommendation: walk the rows in the order the recommendation prefers; a row
    # RDP already certifies ends the walk, borderline rows before it may fit under PLD.
    lot_of = {lot.size: lot for lot in lots}
    checked = 0
    for index in sorted(range(len(rows)), key=lambda i: _preference(rows[i])):
        row = rows[index]
        if row.epsilon is None or row.noise_multiplier is None:
            continue
        borderline = row.epsilon <= _BORDERLINE * request.target_epsilon
        if not row.fits and not (borderline and checked < _BORDERLINE_CHECKS):
            continue
        checked += 0 if row.fits else 1
        lot = lot_of[_lot_size(row)]
        pld_value = _pld_epsilon(request, row.noise_multiplier, lot.sampling_rate, row.steps)
        if pld_value is not None and pld_value < row.epsilon:
            rows[index] = row.model_copy(
                update={
                    "epsilon": pld_value,
                    "fits": pld_value <= request.target_epsilon,
                    "method": Method.PLD,
                }
            )
        if rows[index].fits:
            break
    return rows


def _lot_size(row: PlanRow) -> int:
    size = row.batch_size if row.batch_size is not None else row.clients_per_round
    assert size is not None
    return size


def _preference(row: PlanRow) -> tuple[float, int, float]:
    sigma = row.noise_multiplier if row.noise_multiplier is not None else math.inf
    return (sigma, row.steps, row.epsilon if row.epsilon is not None else math.inf)


def _recommend(rows: Sequence[PlanRow]) -> PlanRow | None:
    fitting = [row for row in rows if row.fits]
    return min(fitting, key=_preference) if fitting else None


# ---------------------------------------------------------------------------------------------
# The ε-over-training curve


def curve_checkpoints(steps: int, steps_per_unit: float, limit: int) -> list[int]:
    """Step counts at which to evaluate ε: every step when there are at most ``limit``, every
    epoch (round) when there are 20 to ``limit`` whole ones, else ``limit`` evenly spaced
    steps; always ending at ``steps``."""
    if steps <= limit:
        return list(range(1, steps + 1))
    units = math.floor(steps / steps_per_unit + 1e-9)
    if _PER_UNIT_MIN <= units <= limit:
        marks = [min(steps, math.ceil(k * steps_per_unit - 1e-9)) for k in range(1, units + 1)]
    else:
        marks = [round(steps * k / limit) for k in range(1, limit + 1)]
    return sorted({*(m for m in marks if m >= 1), steps})


def _curve(request: PlanRequest, row: PlanRow) -> Curve | None:
    if row.noise_multiplier is None:
        return None
    steps_per_unit = 1.0 if request.federated else request.population / _lot_size(row)
    counts = curve_checkpoints(row.steps, steps_per_unit, request.checkpoints)
    step = dpsgd_mechanism(row.noise_multiplier, row.sampling_rate, 1)
    values = pld_engine.epsilon_curve(
        pld_engine.mechanism_pld(step, request.discretisation), counts, request.delta
    )
    # ε after no step is 0 (nothing released), which anchors the curve at the origin.
    all_steps = (0, *counts)
    epsilons = (0.0, *(float(v) if math.isfinite(v) else None for v in values))
    return Curve(
        steps=all_steps,
        epochs=None if request.federated else tuple(s / steps_per_unit for s in all_steps),
        rounds=all_steps if request.federated else None,
        epsilon=epsilons,
        noise_multiplier=row.noise_multiplier,
        sampling_rate=row.sampling_rate,
        delta=request.delta,
        discretisation=request.discretisation,
    )


# ---------------------------------------------------------------------------------------------
# Findings and provenance


def _warnings(request: PlanRequest, rows: Sequence[PlanRow]) -> list[str]:
    found: list[str] = []
    n = request.population
    unit = "clients" if request.federated else "records"
    if request.delta >= 1 / n:
        found.append(
            f"δ = {request.delta:g} is not below 1/n = {1 / n:.3g} (n = {n} {unit}): a"
            " mechanism that publishes one unit's data outright meets such a δ; choose δ well"
            f" below 1/n (e.g. ≤ 1/n^1.1 = {n**-1.1:.2g})"
        )
    if any(row.noise_multiplier is None for row in rows):
        found.append("no noise multiplier ≤ 1e6 meets the target for some configurations")
    return found


def _settings(request: PlanRequest, rows: Sequence[PlanRow]) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "accountant": "pld",
        "neighbouring_relation": "add_or_remove_one",
        "sampling": "poisson",
        "pld": {
            "discretisation": request.discretisation,
            "estimate": "pessimistic",
            "discretisation_method": "connect_the_dots",
        },
        "calibration_tolerance": request.tolerance
        if request.solve_for is Solve.NOISE_MULTIPLIER
        else None,
        "steps_rounding": "ceil(epochs · n / batch_size)" if not request.federated else "rounds",
        "library_versions": versions(),
    }
    if any(row.method is Method.RDP for row in rows):
        from privaudit.accounting.rdp import DEFAULT_ORDERS

        settings["rdp"] = {
            "orders": f"privaudit default ({DEFAULT_ORDERS.size} orders, "
            f"{DEFAULT_ORDERS.min():g}..{DEFAULT_ORDERS.max():g})",
            "conversion": "Canonne, Kamath & Steinke 2020, Prop. 12",
            "used_for": "the grid; PLD for the recommended configuration",
        }
    return settings


def _round_up(value: float, digits: int) -> float:
    """``value`` rounded up to ``digits`` significant digits."""
    if value <= 0 or not math.isfinite(value):
        return value
    exponent = math.floor(math.log10(value)) - digits + 1
    scale = 10.0**exponent
    rounded = math.ceil(value / scale - 1e-9) * scale
    # Parse the decimal text so the float is the shortest one that prints as intended.
    text = f"{rounded:.{max(0, -exponent)}f}"
    result = float(text)
    return result if result >= value else float(f"{rounded + scale:.{max(0, -exponent)}f}")


def _input_error(error: ValidationError) -> InputError:
    return from_validation_error(ARGUMENT, error)
