"""Averaging the clients' updates: FedAvg's example-weighted mean and the uniform one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from privaudit.checks import ARGUMENT
from privaudit.errors import InputError
from privaudit.train.models import Array


def weighted_average(vectors: Sequence[Array], weights: Sequence[float]) -> Array:
    """Σᵢ wᵢ·vᵢ / Σᵢ wᵢ (FedAvg's example-weighted mean when wᵢ = nᵢ)."""
    if not vectors or len(vectors) != len(weights):
        raise InputError(
            ARGUMENT,
            "weights",
            f"expected one weight per vector (at least one); found {len(weights)} for "
            f"{len(vectors)}",
        )
    w = np.asarray(weights, dtype=np.float64)
    if not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
        raise InputError(ARGUMENT, "weights", "must be finite, >= 0 and not all 0")
    total = np.zeros_like(vectors[0], dtype=np.float64)
    for vector, weight in zip(vectors, w, strict=True):
        total += weight * vector
    out: Array = (total / w.sum()).astype(vectors[0].dtype)
    return out


def average(vectors: Sequence[Array]) -> Array:
    """(1/n)·Σᵢ vᵢ: every client counts the same."""
    return weighted_average(vectors, [1.0] * len(vectors))
