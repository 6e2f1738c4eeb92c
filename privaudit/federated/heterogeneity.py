"""Who fails to report a round: random dropouts, scheduled absences and stragglers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privaudit.checks import is_finite, is_integer, require, require_count


@dataclass(frozen=True)
class Absence:
    """Client ``client`` is offline from ``first_round`` through ``last_round`` (None: for good)."""

    client: int
    first_round: int
    last_round: int | None = None

    def __post_init__(self) -> None:
        require_count(self.client, "absence.client", minimum=0)
        require_count(self.first_round, "absence.first_round")
        require(
            self.last_round is None
            or (is_integer(self.last_round) and self.last_round >= self.first_round),
            "absence.last_round",
            "must be None or an integer >= first_round",
            self.last_round,
        )

    def covers(self, client: int, round: int) -> bool:
        return (
            client == self.client
            and round >= self.first_round
            and (self.last_round is None or round <= self.last_round)
        )


@dataclass(frozen=True)
class Heterogeneity:
    """Who fails to report. Each selected client is independently offline with
    ``dropout_probability`` (it never receives the model) or scheduled offline by ``absences``;
    an online client straggles — receives the model, misses the deadline — with
    ``straggler_probability`` (one value, or one per client in client order)."""

    dropout_probability: float = 0.0
    straggler_probability: float | tuple[float, ...] = 0.0
    absences: tuple[Absence, ...] = ()

    def __post_init__(self) -> None:
        require(
            _probability(self.dropout_probability),
            "dropout_probability",
            "must be in [0, 1]",
            self.dropout_probability,
        )
        stragglers = self.straggler_probability
        values = stragglers if isinstance(stragglers, tuple) else (stragglers,)
        require(
            all(_probability(p) for p in values),
            "straggler_probability",
            "must be in [0, 1] (or a tuple of such, one per client)",
            stragglers,
        )
        require(
            isinstance(self.absences, tuple) and all(isinstance(a, Absence) for a in self.absences),
            "absences",
            "expected a tuple of Absence",
            self.absences,
        )

    def offline(self, client: int, round: int, rng: np.random.Generator) -> bool:
        scheduled = any(absence.covers(client, round) for absence in self.absences)
        # Draw even when scheduled offline, so a schedule does not shift later draws.
        random = self.dropout_probability > 0 and rng.random() < self.dropout_probability
        return scheduled or bool(random)

    def straggles(self, position: int, rng: np.random.Generator) -> bool:
        p = self.straggler_probability
        probability = p[position] if isinstance(p, tuple) else p
        return probability > 0 and bool(rng.random() < probability)


def _probability(value: object) -> bool:
    # Unlike checks.require_rate, both ends are allowed: 0 (never) and 1 (always) are useful.
    return is_finite(value) and 0 <= value <= 1  # type: ignore[operator]
