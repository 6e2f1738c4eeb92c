"""Hashed note features (privaudit.scenarios.notes.features): each row depends on nothing but
its text."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from privaudit.errors import InputError
from privaudit.scenarios.notes import features
from privaudit.scenarios.notes.features import hash_features


def test_hashing_depends_only_on_the_text() -> None:
    note = "Cardiac catheterization: left ventricular ejection fraction 55%, no stenosis."
    alone = hash_features([note])
    corpus_a = hash_features(["Knee arthroscopy with meniscectomy.", note, "Renal colic."])
    corpus_b = hash_features([note] + ["Colonoscopy to the cecum, polyp removed."] * 50)
    np.testing.assert_array_equal(alone[0], corpus_a[1])
    np.testing.assert_array_equal(alone[0], corpus_b[0])
    np.testing.assert_array_equal(alone, hash_features([note]))  # no state left by earlier calls
    assert alone.dtype == np.float32 and alone.shape == (1, features.N_FEATURES)
    assert np.linalg.norm(alone[0]) == pytest.approx(1.0, rel=1e-6)


def test_hashing_drops_stop_words_digits_and_short_words() -> None:
    rows = hash_features(["the 120/80 mg of heart in it", "heart", "12 of an to", ""])
    np.testing.assert_array_equal(rows[0], rows[1])
    assert not rows[2].any() and not rows[3].any()  # nothing left: a zero row, not NaN


def test_hashing_is_sublinear_and_size_configurable() -> None:
    once, thrice = hash_features(["kidney ureter", "kidney kidney kidney ureter"], n_features=64)
    assert once.shape == (64,)
    # Signed hashing: each word is ±1 in one bucket (these two do not collide in 64).
    ratio = np.max(np.abs(thrice)) / np.min(np.abs(thrice[thrice != 0]))
    assert ratio == pytest.approx(np.log1p(3) / np.log1p(1), rel=1e-5)
    assert np.count_nonzero(once) == 2


@pytest.mark.parametrize("bad", [0, 1, 2.5, True])
def test_hashing_rejects_a_bad_size(bad: Any) -> None:
    with pytest.raises(InputError, match="n_features"):
        hash_features(["heart"], n_features=bad)
