"""What the guarantee does not say: group privacy in figures, for the limitations section.

The report's ε protects one privacy unit. A person who contributes several units, or a group
of people whose data are correlated, is protected less; group privacy says how much less. The
rest of the limitations section (what the guarantee does not cover, where the accountant is an
upper bound, what an empirical audit can show) reads the report's own figures in the template.
"""

from __future__ import annotations

import math
from typing import Final

from pydantic import BaseModel, ConfigDict

from privaudit.assess import DatasetAssessment

__all__ = ["GROUP_SIZES", "GroupPrivacy", "GroupRow", "group_delta", "group_privacy"]

GROUP_SIZES: Final = (1, 2, 5, 10)
"""Group sizes every table shows, besides the typical one of the unit."""

_PERSON_UNITS: Final = frozenset(
    {"user", "person", "patient", "customer", "client", "individual", "member", "account"}
)
"""Units that already stand for one person (or one person's device or account)."""


class GroupRow(BaseModel):
    """The guarantee for ``k`` units at once."""

    model_config = ConfigDict(frozen=True)

    k: int
    epsilon: float
    """k·ε: an upper bound (exact for pure DP, conservative for the Gaussian)."""
    delta: float
    """δ·(1 + e^ε + … + e^((k−1)ε)), at most 1."""
    typical: bool = False


class GroupPrivacy(BaseModel):
    """Group privacy of one dataset: the guarantee for groups of its units."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    unit: str
    typical_k: int
    typical_group: str
    """Who the typical group is, in words ("10 examples of one person")."""
    rows: tuple[GroupRow, ...]


def group_delta(epsilon: float, delta: float, k: int) -> float:
    """δ for a group of ``k`` units of an (ε, δ)-DP release: δ·Σ_{i<k} e^{iε}, at most 1.

    Group privacy (Vadhan 2017, "The Complexity of Differential Privacy", Lemma 2.2; Dwork &
    Roth 2014, Sec. 2.3): datasets k units apart are linked by k neighbouring steps, each
    multiplying probabilities by at most e^ε and adding δ, which sums to this geometric series
    (bounded by k·e^{(k−1)ε}·δ). Summed in log space, so a large kε cannot overflow.
    """
    if delta <= 0 or k == 1:
        return min(delta, 1.0)
    log_delta = math.log(delta) + _log_sum_exp([i * epsilon for i in range(k)])
    if log_delta >= 0:
        return 1.0
    # Nudged up by far more than the rounding of exp and log, so it never falls below the sum.
    return min(1.0, math.exp(log_delta) * (1 + 1e-12))


def group_privacy(assessment: DatasetAssessment) -> GroupPrivacy | None:
    """The group-privacy table of a dataset, or ``None`` where nothing was released or ε is
    unbounded (no group figure can be stated)."""
    epsilon, delta = assessment.epsilon, assessment.delta
    if assessment.entries == 0 or not math.isfinite(epsilon):
        return None
    unit = assessment.privacy_unit or "unit"
    typical_k, who = _typical_group(unit)
    rows = tuple(
        GroupRow(
            k=k,
            epsilon=k * epsilon,
            delta=group_delta(epsilon, delta, k),
            typical=k == typical_k,
        )
        for k in sorted({*GROUP_SIZES, typical_k})
    )
    return GroupPrivacy(
        dataset=assessment.dataset, unit=unit, typical_k=typical_k, typical_group=who, rows=rows
    )


def _typical_group(unit: str) -> tuple[int, str]:
    """A group a reader should have in mind: several records of one person when the unit is a
    record, a household when the unit is already a person."""
    if unit.lower() in _PERSON_UNITS:
        return 4, f"4 {unit}s whose data are linked (a household, or one person's 4 {unit}s)"
    return 10, f"10 {unit}s that belong to one person"


def _log_sum_exp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
