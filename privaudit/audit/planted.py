"""Planted privacy bugs: deliberate breakages of the audited trainers, run only with consent.

To test the audit itself, :class:`PlantedBug` breaks the trainer on purpose: ``NO_CLIPPING``
(nothing is clipped; a canary contributes its raw norm G = 10·C), ``NOISE_DIV_10`` (noise σ/10)
and ``SAMPLING_X4`` (sampling at min(1, 4q) while the accountant is told q). They exist only
here — the training APIs (``train_dpsgd``, ``run_dpsgd``, the federated runners) cannot reach
them — and the audit functions accept one only as the keyword ``planted_bug`` *and* when the
environment variable ``PRIVAUDIT_ALLOW_PLANTED_BUGS`` is ``yes-break-privacy``. The record says
which bug was planted. Each is caught twice at a claimed ε = 2: by the ε bound, and by the direct
check it breaks (:mod:`privaudit.audit.canaries`) — the clipping check for ``NO_CLIPPING`` (a
sampled canary adds 10·C), the noise check for ``NOISE_DIV_10``, the sampling check for
``SAMPLING_X4``. The direct checks do not depend on the claimed ε, so they still catch these
bugs where m = 1,000 canaries cannot bound ε above the claim.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum

from privaudit.checks import ARGUMENT
from privaudit.errors import EXIT_USAGE, InputError, PrivauditError

__all__ = [
    "PLANTED_BUGS_CONSENT",
    "PLANTED_BUGS_VARIABLE",
    "PlantedBug",
    "PlantedBugRefusedError",
    "TrainerAsRun",
    "as_run",
    "consented_bug",
    "planted_bug_named",
]

PLANTED_BUGS_VARIABLE = "PRIVAUDIT_ALLOW_PLANTED_BUGS"
PLANTED_BUGS_CONSENT = "yes-break-privacy"


class PlantedBug(StrEnum):
    """Deliberate privacy bugs, only for testing the audit (see the module docstring)."""

    NO_CLIPPING = "no_clipping"
    """Skip clipping: every gradient (and a canary's G·e_c) enters the sum at full norm."""
    NOISE_DIV_10 = "noise_div_10"
    """Add noise σ·C/10 instead of σ·C."""
    SAMPLING_X4 = "sampling_x4"
    """Sample at min(1, 4q) while the accountant is told q."""


class PlantedBugRefusedError(PrivauditError):
    """A planted bug was asked for without the environment's explicit consent."""

    exit_code = EXIT_USAGE


def consented_bug(bug: object) -> PlantedBug | None:
    """``bug`` if the environment consents to it (None stays None); refused otherwise."""
    if bug is None:
        return None
    if not isinstance(bug, PlantedBug):
        # Only the enum member: a string from a config file or a command line cannot get here.
        raise InputError(
            ARGUMENT, "planted_bug", f"expected None or a PlantedBug; found {type(bug).__name__}"
        )
    if os.environ.get(PLANTED_BUGS_VARIABLE) != PLANTED_BUGS_CONSENT:
        raise PlantedBugRefusedError(
            f"planted bug {bug.value} refused: it breaks privacy on purpose and runs only when"
            f" the environment sets {PLANTED_BUGS_VARIABLE}={PLANTED_BUGS_CONSENT}"
        )
    return bug


def planted_bug_named(name: str | None) -> PlantedBug | None:
    """The bug ``--plant-bug`` names, refused (before any work) unless the environment
    consents."""
    if name is None:
        return None
    try:
        bug = PlantedBug(name)
    except ValueError:
        known = ", ".join(b.value for b in PlantedBug)
        raise InputError("--plant-bug", None, f"expected one of {known}; found {name!r}") from None
    return consented_bug(bug)


@dataclass(frozen=True)
class TrainerAsRun:
    """What the audited trainer really does: the parameters it was told, unless a bug was
    planted."""

    sampling_rate: float
    noise_multiplier: float
    clips: bool
    """Whether records' gradients (and canaries) are clipped to C before the sum."""


def as_run(
    bug: PlantedBug | None, *, sampling_rate: float, noise_multiplier: float
) -> TrainerAsRun:
    """The trainer told ``sampling_rate`` and ``noise_multiplier``, as ``bug`` breaks it."""
    return TrainerAsRun(
        sampling_rate=min(1.0, 4 * sampling_rate)
        if bug is PlantedBug.SAMPLING_X4
        else sampling_rate,
        noise_multiplier=noise_multiplier / 10
        if bug is PlantedBug.NOISE_DIV_10
        else noise_multiplier,
        clips=bug is not PlantedBug.NO_CLIPPING,
    )
