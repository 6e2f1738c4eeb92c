"""A trainer's data is checked field by field before its first step."""

from __future__ import annotations

import numpy as np
import pytest

from privaudit.errors import InputError
from privaudit.train.inputs import checked_split, class_count

X = np.zeros((4, 3))
Y = np.array([0, 1, 2, 1])


@pytest.mark.parametrize(
    ("split", "field"),
    [
        ((X.astype(np.int64), Y, X, Y), "x_train"),
        ((np.full((4, 3), np.nan), Y, X, Y), "x_train"),
        ((X, Y[:3], X, Y), "y_train"),
        ((X, Y, X, Y[:3]), "y_test"),
        ((X, Y.astype(float), X, Y), "y_train"),
        ((X, Y, np.zeros((4, 2)), Y), "x_test"),
        ((X[:0], Y[:0], X, Y), "x_train"),
    ],
)
def test_each_bad_part_of_a_split_is_named(split: tuple[np.ndarray, ...], field: str) -> None:
    with pytest.raises(InputError, match=f"^<argument>: {field}: "):
        checked_split(*split)


def test_the_training_arguments_can_have_other_names() -> None:
    with pytest.raises(InputError, match=r"^<argument>: y: "):
        checked_split(X, Y[:3], X, Y, names=("x", "y"))


def test_classes_come_from_the_public_labels_and_bound_every_label() -> None:
    assert class_count(None, Y, Y) == 3
    assert class_count(None, Y[:0], Y[:0]) == 2
    assert class_count(5, Y, Y) == 5
    assert class_count(None, np.zeros(4, dtype=int), np.zeros(4, dtype=int)) == 2
    with pytest.raises(InputError, match=r"^<argument>: y_train: labels must be in 0\.\.1"):
        class_count(None, Y, np.array([0, 1]))
    with pytest.raises(InputError, match=r"^<argument>: y: "):
        class_count(2, Y, np.array([0, 1]), name="y")
