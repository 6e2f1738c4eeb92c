"""The auditor's choices for one audit, checked before any work: the claim under test, the
canaries, the confidence, the bound's method, the score, the guesses and the checks' level.

:func:`~privaudit.audit.dpsgd.audit_dpsgd` and :func:`~privaudit.audit.fedavg.audit_fedavg`
take them as keyword arguments (:class:`AuditOptions`) and hold them as :class:`AuditSettings`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Required, TypedDict

from privaudit.audit.canaries import CANARY_NORM_RATIO, SCORES, Score
from privaudit.audit.planted import PlantedBug, consented_bug
from privaudit.checks import is_finite, require, require_count, require_positive

__all__ = ["CHECK_LEVEL", "METHODS", "AuditOptions", "AuditSettings", "Guesses", "Progress"]

Progress = Callable[[str], None]
Guesses = int | Literal["ceiling", "design", "search"]

CHECK_LEVEL: Final = 1e-4
"""Level of each direct check (noise, sampling, clipping). Exact tests at this level flag a
correct trainer about once in 10,000 audits each. At β = 0.05 the three would flag about one
correct audit in seven, so a series of audits of a correct trainer would report "violations"
(one of six MNIST audits measured had a sampling p-value of 0.007). The planted bugs are off by
factors of 4 and 10, which these tests see at any level; a 5% error in the noise std or ~10% in
the sampling rate is flagged as well once u·T and the canary samplings are in the thousands."""

METHODS: Final = ("auto", "one_run", "one_run_fdp")
"""The bounds an audit of one training run may use (see :mod:`privaudit.audit.session`);
``auto`` picks one of the other two for the claim (:mod:`privaudit.audit.premise`)."""


class AuditOptions(TypedDict, total=False):
    """The keyword arguments of the audit functions; :class:`AuditSettings` documents each
    and holds the defaults."""

    epsilon_claimed: Required[float]
    delta: Required[float]
    seed: Required[int]
    canaries: int
    untouched: int
    beta: float
    method: str
    score: Score
    guesses: Guesses
    check_level: float
    canary_norm_ratio: float
    name: str
    data: Mapping[str, Any] | None
    n_classes: int | None
    planted_bug: PlantedBug | None
    progress: Progress | None


@dataclass(frozen=True)
class AuditSettings:
    """One audit's choices, checked when made: a planted bug first (refused without the
    environment's consent), then the claim and the statistics' settings."""

    epsilon_claimed: float
    """The accountant's ε at ``delta`` for the mechanism the trainer is told."""
    delta: float
    seed: int
    """Fixes the auditor's coin flips, its design simulations and the trainer's randomness
    (independent streams); the trainer configuration's own seed is not used."""
    canaries: int = 1000
    untouched: int = 200
    """Coordinates no record or canary touches: the noise check's sample."""
    beta: float = 0.05
    """The ε lower bound holds with probability 1 − β for a trainer that meets the claim."""
    method: str = "auto"
    score: Score = "likelihood_ratio"
    guesses: Guesses = "ceiling"
    """``ceiling`` (k maximising the ideal auditor's bound, :mod:`privaudit.audit.ceiling`),
    ``design`` (simulated correct trainers; slow for large m), ``search`` or a fixed k."""
    check_level: float = CHECK_LEVEL
    canary_norm_ratio: float = CANARY_NORM_RATIO
    name: str | None = None
    """The record's name; ``audit-dpsgd`` or ``audit-fedavg`` by default."""
    data: Mapping[str, Any] | None = None
    """Copied into the record (name, provenance, ...)."""
    n_classes: int | None = None
    planted_bug: PlantedBug | None = None
    progress: Progress | None = None

    def __post_init__(self) -> None:
        consented_bug(self.planted_bug)
        require_positive(self.epsilon_claimed, "epsilon_claimed")
        for field, value in (
            ("delta", self.delta),
            ("beta", self.beta),
            ("check_level", self.check_level),
        ):
            require(is_finite(value) and 0 < value < 1, field, "must be in (0, 1)", value)
        require_count(self.seed, "seed", minimum=0)
        require(self.score in SCORES, "score", f"expected one of {', '.join(SCORES)}", self.score)
        require(
            self.method in METHODS, "method", f"expected one of {', '.join(METHODS)}", self.method
        )
        ratio = self.canary_norm_ratio
        require(
            is_finite(ratio) and ratio > 1,
            "canary_norm_ratio",
            "must be > 1 (a canary's raw norm above the clip norm)",
            ratio,
        )
