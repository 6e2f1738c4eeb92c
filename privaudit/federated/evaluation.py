"""Test metrics of a model: loss, accuracy, macro-F1 and, for two classes, ROC AUC and AUPRC."""

from __future__ import annotations

import importlib
import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from privaudit.checks import ARGUMENT, float_features, integer_labels
from privaudit.errors import InputError
from privaudit.train.models import Array, Labels, Mlp


def evaluate(
    model: Mlp, params: Array, x: Array, y: Labels, *, chunk: int = 8192
) -> dict[str, float]:
    """Test metrics: ``loss`` (mean cross-entropy), ``accuracy``, ``macro_f1`` (over the classes
    present in the labels or predictions) and, for two classes, ``roc_auc`` and ``auprc``
    (average precision, class 1 positive; NaN when the labels hold one class only)."""
    x, y = evaluation_data(model, x, y)
    return metrics(model, params, x, y, chunk)


def evaluation_data(model: Mlp, x: Any, y: Any) -> tuple[Array, Labels]:
    """``x``, ``y`` checked once as test data for ``model``, so rounds can skip the checks."""
    x = float_features(x, "x")
    y = integer_labels(y, "y", len(x))
    if not len(x):
        raise InputError(ARGUMENT, "x", "is empty; nothing to evaluate")
    if y.min() < 0 or y.max() >= model.n_classes:
        raise InputError(ARGUMENT, "y", f"labels must be in 0..{model.n_classes - 1}")
    return x, y


def metrics(model: Mlp, params: Array, x: Array, y: Labels, chunk: int = 8192) -> dict[str, float]:
    """:func:`evaluate` on data already checked by :func:`evaluation_data`."""
    # Checked data only: scanning a large test set for NaN on every round costs more than the
    # evaluation itself.
    predicted = _predict(model, params, x, y, chunk)
    sk = importlib.import_module("sklearn.metrics")
    out = {
        "loss": predicted.loss / len(x),
        "accuracy": float(np.mean(predicted.labels == y)),
        "macro_f1": float(sk.f1_score(y, predicted.labels, average="macro", zero_division=0)),
    }
    if predicted.scores is not None:
        both = len(np.unique(y)) == 2
        score = predicted.scores
        out["roc_auc"] = float(sk.roc_auc_score(y, score)) if both else math.nan
        out["auprc"] = float(sk.average_precision_score(y, score)) if both else math.nan
    return out


class _Predictions(NamedTuple):
    loss: float
    """Summed cross-entropy."""
    labels: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64] | None
    """Two classes: a score monotone in p(class 1)."""


def _predict(model: Mlp, params: Array, x: Array, y: Labels, chunk: int) -> _Predictions:
    # In chunks: the logits of a whole large test set at once would not fit in memory.
    binary = model.n_classes == 2
    predictions: list[npt.NDArray[np.int64]] = []
    scores: list[npt.NDArray[np.float64]] = []
    loss = 0.0
    for start in range(0, len(x), chunk):
        z = model.logits(params, x[start : start + chunk]).astype(np.float64)
        labels = y[start : start + chunk]
        top = z.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
        loss += float(np.sum(log_norm - z[np.arange(len(z)), labels]))
        predictions.append(np.argmax(z, axis=1).astype(np.int64))
        if binary:
            scores.append(z[:, 1] - z[:, 0])  # monotone in p(class 1): ranks like it
    return _Predictions(
        loss, np.concatenate(predictions), np.concatenate(scores) if binary else None
    )
