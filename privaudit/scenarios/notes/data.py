"""The hospital-notes data: MTSamples notes cleaned, split, hashed and spread over 5 hospitals.

MTSamples files many notes twice: under a *note type* (Surgery, Consult - History and Phy.,
Radiology, ...) and under the specialty they belong to. Only the clinical specialties of
:data:`CLINICAL_SPECIALTIES` are kept; a note also filed under a dropped note type stays, under
its specialty. Among the kept specialties a text filed under two of them has no single true
label: every copy is dropped. Of a text filed twice under one specialty one copy is kept; empty
notes are dropped. Texts are compared after collapsing whitespace, and the train/test split is
drawn per class over these text groups (:func:`~privaudit.data.loaders.text_groups`), so no note is
on both sides. Every drop is counted in :class:`NotesCounts`.

Each hospital holds a different specialty mix (label skew: per class, hospital shares ~
Dirichlet(α = 1); Hsu, Qi & Brown 2019): :func:`hospital_partition`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from privaudit.checks import ARGUMENT, is_finite, require, require_count
from privaudit.data.loaders import load_mtsamples, text_groups
from privaudit.data.partition import dirichlet
from privaudit.errors import InputError
from privaudit.scenarios.notes.features import N_FEATURES, hash_features, hashing_provenance

__all__ = [
    "CLINICAL_SPECIALTIES",
    "DIRICHLET_ALPHA",
    "HOSPITALS",
    "MIN_HOSPITAL_NOTES",
    "TEST_FRACTION",
    "NotesCounts",
    "NotesSplit",
    "hospital_partition",
    "prepare_notes",
]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

CLINICAL_SPECIALTIES: Final = (
    "Cardiovascular / Pulmonary",
    "Gastroenterology",
    "Neurology",
    "Obstetrics / Gynecology",
    "Orthopedic",
    "Urology",
)
"""The specialties classified, in class-index order.

Kept: the six largest clinical specialties whose notes say which organ system they are about
(150–365 notes each after cleaning, so every class can appear at several hospitals and the test
set holds ≥ 30 notes of each). Without privacy, softmax regression on the hashed features reaches
macro-F1 ≈ 0.93 on them.

Dropped, because the label names a kind of document, not a specialty, and the same notes are
filed again under their specialty: Surgery, Consult - History and Phy., SOAP / Chart / Progress
Notes, Discharge Summary, Office Notes, Letters, Emergency Room Reports, IME-QME-Work Comp etc.,
General Medicine (mostly consults), and Radiology (imaging reports, filed again under Neurology,
Cardiovascular / Pulmonary, Orthopedic, ...: their text is about the organ, so they would
blur those classes). Neurosurgery is dropped too: its spine and brain operations are also
filed under Orthopedic and Neurology and its notes are not separable from theirs (adding it
costs ≈ 0.06 of non-private macro-F1). ENT and Ophthalmology are distinguishable (adding both
keeps non-private macro-F1 ≈ 0.9) but hold < 100 notes each: about 15 per hospital and 18 in
the test set, so under DP the macro average would be decided by two small, noisy classes;
pass them in ``specialties`` to study the 8-class task. The remaining specialties have < 100
notes each.
"""

TEST_FRACTION: Final = 0.2
HOSPITALS: Final = 5
DIRICHLET_ALPHA: Final = 1.0
MIN_HOSPITAL_NOTES: Final = 100
"""A hospital with fewer notes could not train alone at any useful ε (local-noise variant)."""


@dataclass(frozen=True)
class NotesCounts:
    """What :func:`prepare_notes` kept and dropped, in rows of the MTSamples file."""

    read: int
    """Rows in the file."""
    other_specialty: int
    """Rows under a specialty or note type not in the kept set."""
    empty: int
    """Rows of a kept specialty with an empty transcription."""
    conflicting: int
    """Rows whose text is also filed under another kept specialty (every copy dropped)."""
    conflicting_texts: int
    """Distinct texts behind ``conflicting``."""
    duplicates: int
    """Extra copies of a text under the same specialty."""
    also_under_dropped_label: int
    """Kept notes whose text is also filed under a dropped label (kept under the specialty)."""
    train: int
    test: int

    @property
    def kept(self) -> int:
        return self.train + self.test


@dataclass(frozen=True, eq=False)
class NotesSplit:
    """Hashed features (float32 rows of L2 norm 1, or 0 for a note with no word left), labels
    indexing ``classes``, the texts, and what preparation dropped. Arrays are read-only."""

    x_train: F32
    y_train: I64
    x_test: F32
    y_test: I64
    classes: tuple[str, ...]
    train_texts: tuple[str, ...] = ()
    test_texts: tuple[str, ...] = ()
    counts: NotesCounts | None = None
    provenance: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("x_train", "x_test"):
            array = getattr(self, name)
            if array.dtype != np.float32 or array.ndim != 2:
                raise InputError(
                    ARGUMENT, name, f"expected 2-D float32; found {array.ndim}-D {array.dtype}"
                )
        for name, x_name in (("y_train", "x_train"), ("y_test", "x_test")):
            labels = getattr(self, name)
            if labels.dtype != np.int64 or labels.shape != (len(getattr(self, x_name)),):
                raise InputError(ARGUMENT, name, f"expected one int64 label per row of {x_name}")
            if len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
                raise InputError(
                    ARGUMENT, name, f"labels must index classes (0..{len(self.classes) - 1})"
                )
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise InputError(ARGUMENT, "x_test", "expected as many features as x_train")
        if len(self.classes) < 2:
            raise InputError(ARGUMENT, "classes", "expected at least 2 classes")
        for name in ("x_train", "y_train", "x_test", "y_test"):
            view = getattr(self, name).view()
            view.setflags(write=False)
            object.__setattr__(self, name, view)

    @property
    def n_train(self) -> int:
        return len(self.y_train)


@dataclass(frozen=True)
class _Kept:
    """The rows :func:`_clean` keeps (one a text group, in file order) and what it dropped."""

    rows: I64
    other_specialty: int
    empty: int
    conflicting: int
    conflicting_texts: int
    duplicates: int
    also_under_dropped_label: int


def prepare_notes(
    data_dir: Path,
    *,
    seed: int,
    test_fraction: float = TEST_FRACTION,
    specialties: Sequence[str] = CLINICAL_SPECIALTIES,
    n_features: int = N_FEATURES,
) -> NotesSplit:
    """MTSamples restricted to ``specialties``, cleaned, split and hashed (see the module text).

    The split is stratified: within each class the text groups are shuffled with
    ``numpy.random.default_rng(seed)`` and ``round(test_fraction · count)`` go to the test set.
    """
    require(
        is_finite(test_fraction) and 0 < test_fraction < 1,
        "test_fraction",
        "must be in (0, 1)",
        test_fraction,
    )
    require_count(seed, "seed", minimum=0)
    kept_names = tuple(specialties)
    if len(kept_names) < 2 or len(set(kept_names)) != len(kept_names):
        raise InputError(
            ARGUMENT, "specialties", f"expected ≥ 2 distinct names; found {kept_names!r}"
        )
    dataset = load_mtsamples(data_dir)
    unknown = [name for name in kept_names if name not in dataset.classes]
    if unknown:
        raise InputError(
            ARGUMENT, "specialties", f"expected MTSamples specialties; found unknown {unknown!r}"
        )
    assert dataset.texts is not None  # load_mtsamples always returns the texts
    texts = dataset.texts
    names = [dataset.classes[int(label)] for label in dataset.y]
    class_of = {name: k for k, name in enumerate(kept_names)}
    kept = _clean(texts, names, class_of)
    rows = kept.rows
    y = np.array([class_of[names[k]] for k in rows], dtype=np.int64)
    test_mask = _test_mask(y, len(kept_names), test_fraction, seed)
    # One row per text group now, so a split of rows is a split of groups.
    x = hash_features([texts[k] for k in rows], n_features=n_features)
    train_rows, test_rows = rows[~test_mask], rows[test_mask]
    counts = NotesCounts(
        read=len(texts),
        other_specialty=kept.other_specialty,
        empty=kept.empty,
        conflicting=kept.conflicting,
        conflicting_texts=kept.conflicting_texts,
        duplicates=kept.duplicates,
        also_under_dropped_label=kept.also_under_dropped_label,
        train=len(train_rows),
        test=len(test_rows),
    )
    provenance = {
        **{key: value for key, value in dataset.provenance.items() if key != "distinct_texts"},
        "specialties": "; ".join(kept_names),
        "split": f"stratified by specialty over text groups, test fraction {test_fraction:g}",
        "seed": str(seed),
        "features": hashing_provenance(n_features),
    }
    return NotesSplit(
        x_train=x[~test_mask],
        y_train=y[~test_mask],
        x_test=x[test_mask],
        y_test=y[test_mask],
        classes=kept_names,
        train_texts=tuple(texts[k] for k in train_rows),
        test_texts=tuple(texts[k] for k in test_rows),
        counts=counts,
        provenance=provenance,
    )


def _clean(texts: Sequence[str], names: Sequence[str], class_of: dict[str, int]) -> _Kept:
    """The cleaning rules of the module text, applied to the file's rows."""
    # Whitespace-collapsed: copies that differ only in line breaks are the same note.
    keys = [" ".join(text.split()) for text in texts]
    groups = text_groups(keys)
    labels_of: dict[int, set[str]] = {}
    for k, name in enumerate(names):
        if keys[k]:
            labels_of.setdefault(int(groups[k]), set()).add(name)
    conflicting = duplicates = also_dropped = 0
    conflicting_groups: set[int] = set()
    chosen: dict[int, int] = {}  # text group -> the row kept for it
    for k, name in enumerate(names):
        if name not in class_of or not keys[k]:
            continue
        group = int(groups[k])
        kept_labels = labels_of[group] & class_of.keys()
        if len(kept_labels) > 1:
            conflicting += 1
            conflicting_groups.add(group)
        elif group in chosen:
            duplicates += 1
        else:
            chosen[group] = k
            also_dropped += bool(labels_of[group] - class_of.keys())
    return _Kept(
        rows=np.array(sorted(chosen.values()), dtype=np.int64),
        other_specialty=sum(1 for name in names if name not in class_of),
        empty=sum(1 for k, name in enumerate(names) if name in class_of and not keys[k]),
        conflicting=conflicting,
        conflicting_texts=len(conflicting_groups),
        duplicates=duplicates,
        also_under_dropped_label=also_dropped,
    )


def _test_mask(y: I64, n_classes: int, test_fraction: float, seed: int) -> npt.NDArray[np.bool_]:
    """Stratified: ``round(test_fraction · count)`` rows of each class, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    test_mask = np.zeros(len(y), dtype=bool)
    for label in range(n_classes):
        members = np.flatnonzero(y == label)
        count = round(test_fraction * len(members))
        test_mask[rng.permutation(members)[:count]] = True
    return test_mask


def hospital_partition(
    labels: npt.ArrayLike,
    hospitals: int = HOSPITALS,
    alpha: float = DIRICHLET_ALPHA,
    *,
    seed: int,
    min_size: int = MIN_HOSPITAL_NOTES,
) -> list[I64]:
    """The training notes' hospitals: per specialty, shares ~ Dir(α) (label skew; each hospital
    its own specialty mix), redrawn until every hospital has ≥ ``min_size`` notes. Sorted,
    disjoint index arrays covering every note (:func:`privaudit.data.partition.dirichlet`)."""
    return dirichlet(labels, hospitals, alpha, seed, min_size=min_size)
