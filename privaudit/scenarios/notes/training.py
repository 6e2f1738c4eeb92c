"""Training the hospital-notes model three ways: distributed noise, local noise, no noise.

Two deployments at the same example-level ε (δ = 1e-5 < 1/n):

- **distributed noise over secure aggregation** — each hospital sends its clipped-gradient sum
  plus a noise share N(0, σ²C²/5); only the sum is revealed. Mathematically this is central
  DP-SGD on the union of the hospitals' notes. Ledger mechanism: ``DistributedGaussian(σ,
  clients=5, survivors=5, sampling_rate=1, steps=rounds)`` (partition None).
- **local noise per hospital** — each hospital runs the same DP-SGD on its own notes with its
  own full noise σC, the server averages the noisy updates weighted by hospital size (FedAvg,
  McMahan et al., AISTATS 2017). The averaged noise is √5 times larger on the same gradient.
  Ledger: ``DpSgd(σ, q = 1, rounds)`` per hospital partition (parallel composition).

The non-private baseline trains the same model on the same features without clipping or noise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from privaudit.checks import is_finite, require, require_positive
from privaudit.federated import (
    FederatedResult,
    evaluate,
    ideal_secure_sum,
    run_distributed_dpsgd,
    run_local_dpsgd,
)
from privaudit.mechanisms import Mechanism, NonPrivate
from privaudit.scenarios.notes.data import NotesSplit
from privaudit.scenarios.notes.recipe import RECIPE, NotesRecipe

__all__ = ["NotesRun", "Variant", "train_distributed", "train_local", "train_nonprivate"]

Variant = Literal["distributed", "local", "non_private"]


@dataclass(frozen=True, eq=False)
class NotesRun:
    """One trained model and its test metrics."""

    variant: Variant
    seed: int
    macro_f1: float
    accuracy: float
    target_epsilon: float | None
    epsilon: float | None
    """Certified ε (PLD) of the run at ``delta``; None when not private."""
    delta: float | None
    noise_multiplier: float
    mechanism: Mechanism
    """The ledger release: ``DistributedGaussian`` (partition None) for a distributed run,
    ``DpSgd`` per hospital partition for a local one, ``NonPrivate`` otherwise."""
    seconds: float
    result: FederatedResult


def train_distributed(
    split: NotesSplit,
    parts: Sequence[npt.ArrayLike],
    recipe: NotesRecipe = RECIPE,
    *,
    epsilon: float,
    seed: int,
    noise_divisor: float = 1.0,
    dropout_allowance: float = 1.0,
) -> NotesRun:
    """DP-SGD with distributed noise over (ideal) secure aggregation across the hospitals
    ``parts`` (index arrays into the training notes), calibrated to ``epsilon`` at δ.

    ``noise_divisor`` k > 1 trains with σ/k: not private at ε, but the noise level of k× more
    notes at ε (Sander et al. 2023); used by the forecast
    (:func:`~privaudit.scenarios.notes.forecast.forecast_data`), whose runs are simulations.
    ``dropout_allowance`` a ≥ 1 multiplies σ by a, as a deployment does that plans its noise
    for some hospitals dropping out (√(n/t) for t of n surviving); more noise, lower ε.
    """
    started = time.perf_counter()
    _check_delta(recipe.delta, split.n_train, "training notes")
    require_positive(noise_divisor, "noise_divisor")
    require(
        is_finite(dropout_allowance) and dropout_allowance >= 1,
        "dropout_allowance",
        "must be >= 1",
        dropout_allowance,
    )
    calibration = recipe.calibration(epsilon)
    sigma = calibration.value * dropout_allowance / noise_divisor
    result = run_distributed_dpsgd(
        split.x_train * np.float32(recipe.feature_scale),
        split.y_train,
        parts,
        recipe.distributed_config(sigma, seed),
        aggregator=ideal_secure_sum,
        n_classes=len(split.classes),
    )
    simulated = noise_divisor != 1
    return _finished(
        "distributed",
        split,
        recipe,
        result,
        seed=seed,
        target=epsilon,
        epsilon=None if simulated else calibration.epsilon,
        sigma=sigma,
        mechanism=recipe.distributed_mechanism(sigma, len(parts)),
        started=started,
    )


def train_local(
    split: NotesSplit,
    parts: Sequence[npt.ArrayLike],
    recipe: NotesRecipe = RECIPE,
    *,
    epsilon: float,
    seed: int,
) -> NotesRun:
    """Local noise: each hospital runs the recipe's DP-SGD on its own notes at ``epsilon``
    (parallel composition over the disjoint hospitals), the server averages the noisy deltas."""
    started = time.perf_counter()
    for part in parts:
        _check_delta(recipe.delta, len(np.asarray(part)), "notes of a hospital")
    calibration = recipe.calibration(epsilon)
    sigma = calibration.value
    result = run_local_dpsgd(
        split.x_train * np.float32(recipe.feature_scale),
        split.y_train,
        parts,
        recipe.local_config(sigma, seed),
        n_classes=len(split.classes),
    )
    return _finished(
        "local",
        split,
        recipe,
        result,
        seed=seed,
        target=epsilon,
        epsilon=calibration.epsilon,
        sigma=sigma,
        mechanism=recipe.local_mechanism(sigma),
        started=started,
    )


def train_nonprivate(
    split: NotesSplit,
    parts: Sequence[npt.ArrayLike],
    recipe: NotesRecipe = RECIPE,
    *,
    seed: int,
    rounds: int = 300,
    learning_rate: float = 4.0,
) -> NotesRun:
    """The non-private baseline: the same model and features, full-batch gradient descent over
    the hospitals' plain gradient sums, without noise and without clipping (C is set above the
    largest possible per-example gradient norm √(2(s² + 1)), so nothing is clipped)."""
    started = time.perf_counter()
    scale = recipe.feature_scale
    unclipped = 2 * math.sqrt(2 * (scale**2 + 1))
    config = replace(
        recipe.distributed_config(0.0, seed),
        rounds=rounds,
        clip_norm=unclipped,
        learning_rate=learning_rate / scale**2,  # the same step on the weights at any scale
        momentum=0.9,
    )
    result = run_distributed_dpsgd(
        split.x_train * np.float32(scale),
        split.y_train,
        parts,
        config,
        aggregator=ideal_secure_sum,
        n_classes=len(split.classes),
    )
    return _finished(
        "non_private",
        split,
        recipe,
        result,
        seed=seed,
        target=None,
        epsilon=None,
        sigma=0.0,
        mechanism=NonPrivate(),
        started=started,
    )


def _finished(
    variant: Variant,
    split: NotesSplit,
    recipe: NotesRecipe,
    result: FederatedResult,
    *,
    seed: int,
    target: float | None,
    epsilon: float | None,
    sigma: float,
    mechanism: Mechanism,
    started: float,
) -> NotesRun:
    metrics = evaluate(
        result.model, result.params, split.x_test * np.float32(recipe.feature_scale), split.y_test
    )
    return NotesRun(
        variant=variant,
        seed=seed,
        macro_f1=metrics["macro_f1"],
        accuracy=metrics["accuracy"],
        target_epsilon=target,
        epsilon=epsilon,
        delta=None if target is None else recipe.delta,
        noise_multiplier=sigma,
        mechanism=mechanism,
        seconds=time.perf_counter() - started,
        result=result,
    )


def _check_delta(delta: float, n: int, what: str) -> None:
    # δ is the probability of total failure; at δ ≥ 1/n "release one random record" is (0, δ)-DP.
    require(n >= 1 and delta < 1 / n, "delta", f"expected δ < 1/n = 1/{n} ({what})", delta)
