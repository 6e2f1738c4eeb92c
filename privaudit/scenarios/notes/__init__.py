"""The hospital-notes scenario's machine learning: MTSamples notes over 5 hospitals.

Task: classify a transcribed clinical note by its medical specialty, trained across hospitals
whose notes never leave them. Each hospital holds a different specialty mix (label skew: per
class, hospital shares ~ Dirichlet(α = 1); Hsu, Qi & Brown 2019).

- :mod:`~privaudit.scenarios.notes.data`: the notes cleaned, split and spread over hospitals.
- :mod:`~privaudit.scenarios.notes.features`: feature hashing of each note alone (no vocabulary).
- :mod:`~privaudit.scenarios.notes.recipe`: the tuned full-batch DP-SGD recipe per target ε,
  with the measured macro-F1 of every variant.
- :mod:`~privaudit.scenarios.notes.training`: distributed noise, local noise, no noise.
- :mod:`~privaudit.scenarios.notes.forecast`: how many notes a macro-F1 target would need.

The scenario run itself (ledger, run records, report) is :mod:`privaudit.scenarios.hospital_notes`.
"""

from __future__ import annotations

from privaudit.scenarios.notes.data import (
    CLINICAL_SPECIALTIES,
    DIRICHLET_ALPHA,
    HOSPITALS,
    MIN_HOSPITAL_NOTES,
    TEST_FRACTION,
    NotesCounts,
    NotesSplit,
    hospital_partition,
    prepare_notes,
)
from privaudit.scenarios.notes.features import N_FEATURES, TOKEN_PATTERN, hash_features
from privaudit.scenarios.notes.forecast import ForecastResult, ForecastRow, forecast_data
from privaudit.scenarios.notes.recipe import DELTA, NOTES_RECIPES, RECIPE, NotesRecipe, recipe_for
from privaudit.scenarios.notes.training import (
    NotesRun,
    train_distributed,
    train_local,
    train_nonprivate,
)

__all__ = [
    "CLINICAL_SPECIALTIES",
    "DELTA",
    "DIRICHLET_ALPHA",
    "HOSPITALS",
    "MIN_HOSPITAL_NOTES",
    "NOTES_RECIPES",
    "N_FEATURES",
    "RECIPE",
    "TEST_FRACTION",
    "TOKEN_PATTERN",
    "ForecastResult",
    "ForecastRow",
    "NotesCounts",
    "NotesRecipe",
    "NotesRun",
    "NotesSplit",
    "forecast_data",
    "hash_features",
    "hospital_partition",
    "prepare_notes",
    "recipe_for",
    "train_distributed",
    "train_local",
    "train_nonprivate",
]
