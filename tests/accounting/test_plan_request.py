"""Plan requests that are incomplete, inconsistent or out of range are refused, naming the field."""

from __future__ import annotations

import math

import pytest

from privaudit import InputError, plan


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"dataset_size": 100, "batch_size": 200, "epochs": 1}, "batch_sizes[0]"),
        ({"dataset_size": 100, "batch_size": 10}, "epochs"),
        ({"batch_size": 10, "epochs": 1}, "dataset_size"),
        ({"dataset_size": 100, "epochs": 1}, "batch_sizes"),
        ({"clients": 10, "clients_per_round": 11, "rounds": 2}, "clients_per_round"),
        ({"clients": 10, "rounds": 2}, "clients_per_round"),
        ({"dataset_size": 100, "batch_size": 10, "epochs": 1, "clients": 10}, None),
        ({}, None),
    ],
)
def test_incomplete_or_inconsistent_requests_are_input_errors(
    arguments: dict[str, object], field: str | None
) -> None:
    with pytest.raises(InputError) as caught:
        plan(epsilon=1.0, delta=1e-5, **arguments)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    "arguments",
    [
        {"epsilon": math.nan},
        {"epsilon": -1.0},
        {"epsilon": math.inf},
        {"delta": 1.0},
        {"batch_size": -5},
        {"epochs": math.nan},
        {"noise_multiplier": 0.0},
        {"dataset_size": 0},
    ],
)
def test_invalid_values_are_input_errors(arguments: dict[str, float]) -> None:
    base: dict[str, object] = {
        "epsilon": 1.0,
        "delta": 1e-5,
        "dataset_size": 100,
        "batch_size": 10,
        "epochs": 1,
    }
    with pytest.raises(InputError):
        plan(**{**base, **arguments})  # type: ignore[arg-type]
