"""Test metrics agree with scikit-learn's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from privaudit.federated.evaluation import evaluate
from privaudit.train.models import softmax_regression
from tests.federated.support import blobs


def test_evaluate_matches_sklearn() -> None:
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    x, y = blobs(300)
    model = softmax_regression(10, 2)
    params = np.zeros(model.n_params, dtype=np.float32)
    params[1] = 1.0  # logit of class 1 = x₀: the Bayes direction
    metrics = evaluate(model, params, x, y)
    scores = x[:, 0]
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, scores))
    assert metrics["auprc"] == pytest.approx(average_precision_score(y, scores))
    predictions = (scores > 0).astype(int)
    assert metrics["accuracy"] == pytest.approx(np.mean(predictions == y))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y, predictions, average="macro"))
    one_class = evaluate(model, params, x[y == 1], y[y == 1])
    assert math.isnan(one_class["roc_auc"]) and math.isnan(one_class["auprc"])
    three = evaluate(softmax_regression(10, 3), np.zeros(33), x, y)
    assert set(three) == {"loss", "accuracy", "macro_f1"}
