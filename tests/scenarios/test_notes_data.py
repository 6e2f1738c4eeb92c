"""The hospital-notes data (privaudit.scenarios.notes.data): the cleaning rules on a generated
MTSamples file and on the real one, a split with no note on both sides, hospital partitions."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privaudit.data.loaders import MTSAMPLES_COLUMNS, load_mtsamples
from privaudit.data.partition import check_partition, label_histogram
from privaudit.errors import InputError
from privaudit.scenarios.notes import data, features
from privaudit.scenarios.notes.data import (
    CLINICAL_SPECIALTIES,
    NotesSplit,
    hospital_partition,
    prepare_notes,
)
from privaudit.scenarios.notes.features import hash_features
from tests.scenarios.conftest import normalised, real_data

CARDIO, NEURO, URO = "Cardiovascular / Pulmonary", "Neurology", "Urology"


# --- cleaning rules on a generated file --------------------------------------------------------


def write_mtsamples(folder: Path, rows: Sequence[tuple[str, str]]) -> Path:
    """An MTSamples-shaped CSV of (specialty, transcription) rows under folder/mtsamples/."""
    (folder / "mtsamples").mkdir()
    with (folder / "mtsamples" / "mtsamples.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(MTSAMPLES_COLUMNS)
        for k, (specialty, text) in enumerate(rows):
            writer.writerow([k, "description", f" {specialty} ", "sample", text, "keywords"])
    return folder


def generated_rows() -> list[tuple[str, str]]:
    rows = [(CARDIO, f"cardiac murmur echocardiogram number {w}") for w in "abcdefghij"]
    rows += [(NEURO, f"seizure electroencephalogram case {w}") for w in "abcdefghij"]
    rows += [(URO, f"prostate cystoscopy case {w}") for w in "abcdefghij"]
    rows += [
        ("Surgery", "cardiac bypass grafting note"),  # also filed under Cardio: kept there
        (CARDIO, "cardiac bypass grafting note"),
        (CARDIO, "stroke with atrial fibrillation"),  # under two kept specialties: dropped
        (NEURO, "stroke  with\natrial fibrillation"),  # (same text up to whitespace)
        (URO, "kidney stone lithotripsy"),  # twice under one specialty: one copy kept
        (URO, "kidney stone lithotripsy"),
        (URO, "   "),  # empty
        ("Radiology", "chest x-ray report"),  # not a kept specialty
    ]
    return rows


def test_cleaning_rules_and_counts(tmp_path: Path) -> None:
    folder = write_mtsamples(tmp_path, generated_rows())
    split = prepare_notes(folder, seed=3, test_fraction=0.25, specialties=(CARDIO, NEURO, URO))
    counts = split.counts
    assert counts is not None
    assert (counts.read, counts.other_specialty, counts.empty) == (38, 2, 1)
    assert (counts.conflicting, counts.conflicting_texts, counts.duplicates) == (2, 1, 1)
    assert counts.also_under_dropped_label == 1
    assert counts.kept == 32 == counts.train + counts.test
    assert counts.read == (
        counts.other_specialty + counts.empty + counts.conflicting + counts.duplicates + counts.kept
    )
    texts = [normalised(t) for t in split.train_texts + split.test_texts]
    assert "stroke with atrial fibrillation" not in texts
    assert texts.count("kidney stone lithotripsy") == 1
    assert "cardiac bypass grafting note" in texts
    assert "chest x-ray report" not in texts and "" not in texts
    assert split.classes == (CARDIO, NEURO, URO)
    labels = dict(zip(texts, np.concatenate([split.y_train, split.y_test]), strict=True))
    assert labels["cardiac bypass grafting note"] == 0 and labels["kidney stone lithotripsy"] == 2
    # Stratified: round(0.25 · count) of each class is held out.
    np.testing.assert_array_equal(np.bincount(split.y_test, minlength=3), [3, 2, 3])
    np.testing.assert_array_equal(split.x_train, hash_features(split.train_texts))
    with pytest.raises(ValueError):
        split.x_train[0, 0] = 1.0  # read-only


def test_split_is_seeded(tmp_path: Path) -> None:
    folder = write_mtsamples(tmp_path, generated_rows())
    kept = (CARDIO, NEURO, URO)
    first = prepare_notes(folder, seed=1, specialties=kept)
    again = prepare_notes(folder, seed=1, specialties=kept)
    other = prepare_notes(folder, seed=2, specialties=kept)
    assert first.test_texts == again.test_texts
    assert first.test_texts != other.test_texts


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"specialties": (CARDIO, "Cardiology")}, "specialties"),
        ({"specialties": (CARDIO,)}, "specialties"),
        ({"specialties": (CARDIO, CARDIO)}, "specialties"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"seed": -1}, "seed"),
    ],
)
def test_prepare_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], field: str) -> None:
    folder = write_mtsamples(tmp_path, generated_rows())
    arguments: dict[str, Any] = {"seed": 0, "specialties": (CARDIO, NEURO, URO), **kwargs}
    with pytest.raises(InputError, match=field):
        prepare_notes(folder, **arguments)


# --- the real data -----------------------------------------------------------------------------


def test_real_notes_keep_only_clean_specialty_labels(real_split: NotesSplit) -> None:
    raw = load_mtsamples(real_data())
    assert raw.texts is not None
    filed: dict[str, set[str]] = {}
    for text, label in zip(raw.texts, raw.y, strict=True):
        filed.setdefault(normalised(text), set()).add(raw.classes[int(label)])
    kept = set(CLINICAL_SPECIALTIES)
    assert real_split.classes == CLINICAL_SPECIALTIES
    for texts, y in (
        (real_split.train_texts, real_split.y_train),
        (real_split.test_texts, real_split.y_test),
    ):
        for text, label in zip(texts, y, strict=True):
            assert normalised(text), "empty note kept"
            # Filed under exactly one kept specialty — the label it carries.
            assert filed[normalised(text)] & kept == {CLINICAL_SPECIALTIES[int(label)]}
    everything = [normalised(t) for t in real_split.train_texts + real_split.test_texts]
    assert len(set(everything)) == len(everything), "a note is kept twice"
    assert not set(map(normalised, real_split.train_texts)) & set(
        map(normalised, real_split.test_texts)
    ), "a note is on both sides of the split"


def test_real_counts(real_split: NotesSplit) -> None:
    counts = real_split.counts
    assert counts is not None
    assert counts.read == 4999
    assert counts.read == (
        counts.other_specialty + counts.empty + counts.conflicting + counts.duplicates + counts.kept
    )
    assert counts.conflicting >= 2 * counts.conflicting_texts > 0
    assert 1000 <= counts.train <= 1300 and counts.test == len(real_split.y_test)
    assert real_split.x_train.shape == (counts.train, features.N_FEATURES)
    assert np.all(np.bincount(real_split.y_test) >= 25)


def test_real_hospitals_are_disjoint_covering_and_skewed(real_split: NotesSplit) -> None:
    parts = hospital_partition(real_split.y_train, seed=0)
    assert len(parts) == data.HOSPITALS
    check_partition(parts, real_split.n_train)
    assert min(len(p) for p in parts) >= data.MIN_HOSPITAL_NOTES
    mix = label_histogram(real_split.y_train, parts, len(real_split.classes))
    shares = mix / mix.sum(axis=1, keepdims=True)
    assert np.ptp(shares, axis=0).max() > 0.3  # some specialty's share differs a lot
    for part, again in zip(parts, hospital_partition(real_split.y_train, seed=0), strict=True):
        np.testing.assert_array_equal(part, again)


# --- hospitals on synthetic labels ---------------------------------------------------------------


def test_partition_covers_and_respects_min_size() -> None:
    labels = np.random.default_rng(0).integers(0, 6, size=1200)
    parts = hospital_partition(labels, 5, 1.0, seed=4, min_size=150)
    check_partition(parts, len(labels))
    assert min(len(p) for p in parts) >= 150
    with pytest.raises(InputError, match="min_size"):
        hospital_partition(labels, 5, seed=4, min_size=400)
