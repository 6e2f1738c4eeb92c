"""The learning task: softmax regression on scikit-learn's bundled digits, split over clients.

No download: the data ship with scikit-learn. Each client holds one slice of a fixed shuffle of
80% of the digits; the server keeps the other 20% to evaluate the global model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]
CLASSES = 10
FEATURES = 64


def _digits() -> tuple[Array, Array]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.asarray(digits.data, dtype=np.float64) / 16.0
    y = np.asarray(digits.target, dtype=np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    return x[order], y[order]


def partition(index: int, count: int) -> tuple[Array, Array]:
    """Client ``index`` of ``count``: its slice of the training 80%."""
    x, y = _digits()
    cut = int(0.8 * len(x))
    rows = np.array_split(np.arange(cut), count)[index]
    return x[rows], y[rows]


def held_out() -> tuple[Array, Array]:
    """The server's 20% for central evaluation."""
    x, y = _digits()
    cut = int(0.8 * len(x))
    return x[cut:], y[cut:]


def initial() -> list[Array]:
    return [np.zeros((FEATURES, CLASSES)), np.zeros(CLASSES)]


def _probabilities(params: list[Array], x: Array) -> Array:
    logits = x @ params[0] + params[1]
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    probabilities: Array = exp / exp.sum(axis=1, keepdims=True)
    return probabilities


def local_sgd(
    params: list[Array], x: Array, y: Array, epochs: int, learning_rate: float, seed: int
) -> tuple[list[Array], float]:
    """``epochs`` of minibatch SGD (batch 32) from ``params``; the new parameters and loss."""
    weights, bias = params[0].copy(), params[1].copy()
    rng = np.random.default_rng(seed)
    onehot = np.eye(CLASSES)[y]
    for _ in range(epochs):
        for rows in np.array_split(rng.permutation(len(x)), max(1, len(x) // 32)):
            error = _probabilities([weights, bias], x[rows]) - onehot[rows]
            weights -= learning_rate * x[rows].T @ error / len(rows)
            bias -= learning_rate * error.mean(axis=0)
    return [weights, bias], loss([weights, bias], x, y)


def loss(params: list[Array], x: Array, y: Array) -> float:
    p = _probabilities(params, x)[np.arange(len(y)), y]
    return float(-np.log(np.maximum(p, 1e-12)).mean())


def accuracy(params: list[Array], x: Array, y: Array) -> float:
    return float((_probabilities(params, x).argmax(axis=1) == y).mean())
