"""Shared by the scenario tests: where the real data lives, the real notes split, and a small
synthetic stand-in for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privaudit.scenarios.notes import NotesSplit, prepare_notes

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
needs_creditcard = pytest.mark.skipif(
    not (DATA / "creditcard").is_dir(),
    reason=f"real data not found at {DATA}/creditcard (see ../shared/data/README.md)",
)
needs_mtsamples = pytest.mark.skipif(
    not (DATA / "mtsamples").is_dir(),
    reason=f"real data not found at {DATA}/mtsamples (see ../shared/data/README.md)",
)


def real_data() -> Path:
    path = DATA / "mtsamples"
    if not (path / "mtsamples.csv.gz").is_file() and not (path / "mtsamples.csv").is_file():
        pytest.skip(f"real data not available: no mtsamples.csv(.gz) in {path}")
    return DATA


@pytest.fixture(scope="session")
def real_split() -> NotesSplit:
    return prepare_notes(real_data(), seed=0)


def normalised(text: str) -> str:
    return " ".join(text.split())


def synthetic_split(n_train: int = 300, seed: int = 0) -> NotesSplit:
    """Three classes of unit vectors scattered around three directions: separable without
    noise, while DP noise at ε = 0.5 on 300 examples costs half the macro-F1."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 256))

    def draw(n: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        y = rng.integers(0, 3, size=n)
        x = centres[y] * 0.03 + rng.normal(size=(n, 256)) / 8
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32), y.astype(np.int64)

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(600)
    return NotesSplit(x_train, y_train, x_test, y_test, classes=("a", "b", "c"))
