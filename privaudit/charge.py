"""Charge if it fits: the admission question a store asks under its lock or in its transaction,
answered with the verdict ``privaudit check`` would reach on the ledger with the new entries.

Checking a ledger and then appending to it races: two jobs that each saw room can together
overrun a budget. A :class:`PolicyAdmission` is handed to a store's ``append(new, admit=...)``,
which asks it with the ledger as it is at the moment of writing, so the check and the append are
one step for every writer of that store, on one machine (file lock) or many (database).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from privaudit.assess import Assessment, DatasetAssessment, Severity, Status, assess
from privaudit.ledger import Ledger, LedgerEntry
from privaudit.policy import Policy
from privaudit.rounding import number, up

__all__ = ["PolicyAdmission", "refusal_of"]


@dataclass
class PolicyAdmission:
    """An :data:`~privaudit.ledger.Admit`: admits new entries when no dataset they touch would
    fail ``policy`` (over its tier's ε limit, over a per-run cap, not in the policy, ...).

    After a call, :attr:`datasets` holds the would-be verdict of each dataset the entries touch
    (what was written, when admitted), for the caller to show."""

    policy: Policy
    delta: float | None = None
    """Overrides the tiers' δ, as ``privaudit check --delta`` does; None keeps the tiers'."""
    datasets: tuple[DatasetAssessment, ...] = field(default=(), init=False)

    def __call__(self, ledger: Ledger, new: tuple[LedgerEntry, ...]) -> str | None:
        touched = {entry.dataset for entry in new}
        # Datasets are accounted independently, so the verdict on the touched ones needs only
        # their entries and their part of the policy: the question stays cheap under the lock.
        entries = tuple(e for e in (*ledger.entries, *new) if e.dataset in touched)
        would_be = Ledger(ledger.path, entries, new[-1].hash if new else ledger.head, "")
        policy = self.policy.model_copy(
            update={
                "datasets": {
                    name: spec for name, spec in self.policy.datasets.items() if name in touched
                }
            }
        )
        result: Assessment = assess(would_be, policy, delta=self.delta)
        self.datasets = result.datasets
        refusals = [refusal_of(dataset) for dataset in result.datasets]
        found = [text for text in refusals if text is not None]
        return "; ".join(found) if found else None


def refusal_of(dataset: DatasetAssessment) -> str | None:
    """Why ``dataset``'s would-be verdict refuses the charge (one line), or None when it
    passes or only warns. Names the dataset, its ε with the entry (rounded up) and the limit."""
    if dataset.status is not Status.FAIL:
        return None
    limit = (
        "no limit (not in the policy)"
        if dataset.limit_epsilon is None
        else f"limit ε ≤ {number(dataset.limit_epsilon)} (tier {dataset.tier})"
    )
    what = f"dataset {dataset.dataset!r}: ε with this entry would be {up(dataset.epsilon)}"
    what += f" at δ = {number(dataset.delta)}, {limit}"
    reasons = [f.message for f in dataset.findings if f.severity is Severity.FAIL]
    if not reasons:
        # No failing finding: the ε itself is over the tier's limit (beyond its tolerance).
        reasons = ["over the limit"]
    return f"{what}: {'; '.join(reasons)}"
