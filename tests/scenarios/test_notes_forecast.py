"""The hospital-notes data forecast (privaudit.scenarios.notes.forecast) on a synthetic problem:
more data helps, the answer is interpolated log-linearly, bad arguments are refused."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from privaudit.errors import InputError
from privaudit.scenarios.notes import forecast
from privaudit.scenarios.notes.forecast import ForecastResult, forecast_data
from tests.scenarios.conftest import synthetic_split


def test_forecast_more_data_helps() -> None:
    split = synthetic_split()
    result = forecast_data(split, epsilon=0.5, factors=(1, 2, 4, 8, 16), target=0.9, seeds=(0, 1))
    factors = [row.factor for row in result.rows]
    assert factors == [1, 2, 4, 8, 16]
    assert [row.notes for row in result.rows] == [300 * k for k in (1, 2, 4, 8, 16)]
    scores = [row.macro_f1 for row in result.rows]
    assert scores[-1] > scores[0] + 0.2
    assert all(later >= earlier - 0.05 for earlier, later in itertools.pairwise(scores))
    assert result.notes_needed is not None
    first = next(i for i, score in enumerate(scores) if score >= 0.9)
    assert first > 0, "the target should not be reached with the data at hand"
    assert result.rows[first - 1].notes < result.notes_needed <= result.rows[first].notes


def fake_runs(monkeypatch: pytest.MonkeyPatch, scores: dict[float, float]) -> None:
    class Run:
        def __init__(self, macro_f1: float) -> None:
            self.macro_f1 = macro_f1

    def fake(*_: Any, noise_divisor: float, **__: Any) -> Run:
        return Run(scores[noise_divisor])

    monkeypatch.setattr(forecast, "train_distributed", fake)


def test_forecast_interpolates_log_linearly(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_runs(monkeypatch, {1.0: 0.5, 2.0: 0.6, 4.0: 0.9, 8.0: 0.95})
    split = synthetic_split(n_train=100)
    result = forecast_data(split, factors=(1, 2, 4, 8), target=0.8, seeds=(0,))
    assert isinstance(result, ForecastResult)
    # 0.8 is 2/3 of the way from 0.6 (k = 2) to 0.9 (k = 4): k = 2 · 2^(2/3).
    assert result.notes_needed == int(np.ceil(100 * 2 * 2 ** (2 / 3)))
    unreachable = forecast_data(split, factors=(1, 2, 4, 8), target=0.99, seeds=(0,))
    assert unreachable.notes_needed is None
    at_hand = forecast_data(split, factors=(1, 2), target=0.5, seeds=(0,))
    assert at_hand.notes_needed == 100


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"factors": ()}, "factors"),
        ({"factors": (2, 1)}, "factors"),
        ({"factors": (0, 1)}, "factors"),
        ({"target": 1.5}, "target"),
        ({"seeds": ()}, "seeds"),
    ],
)
def test_forecast_rejects_bad_arguments(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError, match=field):
        forecast_data(synthetic_split(n_train=100), **kwargs)
