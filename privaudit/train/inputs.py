"""The data handed to a trainer, checked before its first step: a train/test split of float
features and integer labels, and the classes they name.

Every check runs before anything is released: a bad label must not stop a run that has already
spent privacy budget.
"""

from __future__ import annotations

from privaudit.checks import ARGUMENT, float_features, integer_labels
from privaudit.errors import InputError
from privaudit.train.models import Array, Labels

__all__ = ["checked_split", "class_count"]


def checked_split(
    x: Array,
    y: Labels,
    x_test: Array,
    y_test: Labels,
    *,
    names: tuple[str, str] = ("x_train", "y_train"),
) -> tuple[Array, Labels, Array, Labels]:
    """``x`` (n, d) and ``x_test`` (m, d) as finite float arrays, ``y`` and ``y_test`` as one
    integer label per row; ``names`` are the training arguments' names in error messages."""
    x_name, y_name = names
    x = float_features(x, x_name)
    y = integer_labels(y, y_name, len(x))
    x_test = float_features(x_test, "x_test")
    y_test = integer_labels(y_test, "y_test", len(x_test))
    if x_test.shape[1] != x.shape[1]:
        raise InputError(
            ARGUMENT,
            "x_test",
            f"expected {x.shape[1]} features like {x_name}; found {x_test.shape[1]}",
        )
    if not len(x):
        raise InputError(ARGUMENT, x_name, "is empty")
    return x, y, x_test, y_test


def class_count(n_classes: int | None, y: Labels, y_test: Labels, *, name: str = "y_train") -> int:
    """The number of classes the model predicts (at least 2): ``n_classes``, or by default
    1 + the largest test label (the public set names the classes, never the private one).
    Refuses labels outside 0..n_classes − 1."""
    if n_classes is None:
        n_classes = int(y_test.max()) + 1 if len(y_test) else 2
    for field, labels in ((name, y), ("y_test", y_test)):
        if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise InputError(ARGUMENT, field, f"labels must be in 0..{n_classes - 1} (n_classes)")
    return max(n_classes, 2)
