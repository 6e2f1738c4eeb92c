"""The ``hospital-notes`` scenario: specialty classification of MTSamples notes at 5 hospitals.

Hashed text features (no shared vocabulary); distributed noise over secure aggregation is the
deployment, local noise per hospital and the non-private baseline are trained beside it. The
data, features and recipe are :mod:`privaudit.scenarios.notes`; :func:`forecast_hospital_notes`
asks how many notes the deployment would need for a macro-F1 target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from privaudit.scenarios.context import Context, Scenario, Trained
from privaudit.scenarios.planning import calibrate_distributed, secure_sum
from privaudit.scenarios.variants import (
    FederatedData,
    VariantSpec,
    local_dp,
    run_baseline,
    run_variant,
)

if TYPE_CHECKING:
    from privaudit.scenarios.notes import ForecastResult, NotesSplit

HOSPITAL_THRESHOLD: Final = 4
"""Secure aggregation needs 4 of the 5 hospitals; noise is planned for that."""


def forecast_hospital_notes(
    data_dir: Path, *, epsilon: float, target: float, factors: Sequence[float]
) -> tuple[ForecastResult, float, float]:
    """How many notes hospital-notes needs for macro-F1 ``target`` at ``epsilon``
    (:func:`privaudit.scenarios.notes.forecast_data`) with the deployment's settings: the scenario
    policy's δ and the noise planned for dropouts. Returns the forecast, δ and that allowance."""
    from privaudit.scenarios.notes import HOSPITALS, forecast_data, prepare_notes, recipe_for

    delta = SCENARIO.policy_delta()
    allowance = math.sqrt(HOSPITALS / HOSPITAL_THRESHOLD)
    result = forecast_data(
        prepare_notes(data_dir, seed=0),
        replace(recipe_for(epsilon), delta=delta),
        epsilon=epsilon,
        factors=factors,
        target=target,
        dropout_allowance=allowance,
    )
    return result, delta, allowance


def _notes(split: NotesSplit, scale: float, names: list[str]) -> FederatedData:
    """The notes' features scaled for the recipe, held by the hospitals."""
    counts = split.counts
    data = {
        "name": "mtsamples",
        "train": split.n_train,
        "test": len(split.y_test),
        "classes": list(split.classes),
        "provenance": dict(split.provenance),
        "features": "feature hashing (2^12 signed buckets, sublinear tf, L2 rows): no vocabulary",
        "dropped": None
        if counts is None
        else {
            "other_specialty_or_note_type": counts.other_specialty,
            "empty": counts.empty,
            "conflicting_duplicates": counts.conflicting,
            "same_label_duplicates": counts.duplicates,
        },
    }
    return FederatedData(
        x=np.asarray(split.x_train) * scale,
        y=np.asarray(split.y_train),
        x_test=np.asarray(split.x_test) * scale,
        y_test=np.asarray(split.y_test),
        n_classes=len(split.classes),
        data=data,
        silo_names=names,
    )


def _hospital_notes(context: Context) -> Trained:
    from privaudit.scenarios.notes import HOSPITALS, hospital_partition, prepare_notes, recipe_for

    context.say("data: MTSamples clinical notes, hashed features (no shared vocabulary)")
    split = prepare_notes(context.data_dir, seed=context.seed)
    recipe = replace(recipe_for(context.epsilon), delta=context.delta)
    if context.quick:
        recipe = replace(recipe, rounds=3)
    names = [f"hospital-{chr(ord('a') + i)}" for i in range(HOSPITALS)]
    data = _notes(split, recipe.feature_scale, names)
    parts = hospital_partition(data.y, HOSPITALS, seed=context.seed)
    rounds = recipe.rounds
    sigma = calibrate_distributed(
        context.epsilon, context.delta, recipe.sampling_rate, rounds, HOSPITALS, HOSPITAL_THRESHOLD
    )
    secure = secure_sum(HOSPITAL_THRESHOLD, parts, recipe.clip_norm, sigma)
    deployment = run_variant(
        context,
        data,
        VariantSpec(
            name="hospitals-secagg",
            description="5 hospitals, distributed noise over secure aggregation",
            announce=f"secure aggregation across {HOSPITALS} hospitals: {rounds} full-batch"
            f" rounds, σ = {sigma:.3f} (planned for {HOSPITAL_THRESHOLD} of {HOSPITALS}"
            " surviving)",
            config=recipe.distributed_config(sigma, context.seed),
            parts=parts,
            in_ledger=True,
            aggregator=secure,
            secure=secure,
        ),
    )
    local = run_variant(
        context,
        data,
        local_dp(
            context,
            recipe.sgd,
            "hospitals-local-dp",
            "5 hospitals, local DP-SGD noise per hospital at the same ε",
            lambda local_sigma: f"local noise per hospital: {rounds} rounds, σ = {local_sigma:.3f}",
            parts,
        ),
    )
    baseline = run_baseline(context, data, "hospitals-non-private", parts, recipe.sgd)
    summary: dict[str, Any] = {
        **data.data,
        "hospitals": names,
        "threshold": HOSPITAL_THRESHOLD,
        "hospital_sizes": [len(p) for p in parts],
        "specialty_mix": [np.bincount(data.y[p], minlength=data.n_classes).tolist() for p in parts],
    }
    return deployment, [local, baseline], summary


SCENARIO = Scenario(
    "hospital-notes",
    "Clinical notes at 5 hospitals: specialty classification without sharing text",
    "hospital-notes.yaml",
    "mtsamples-notes",
    1.0,
    "mtsamples",
    train=_hospital_notes,
)
