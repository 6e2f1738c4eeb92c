"""A change to a ledger: a base against the new ledger, the prefix check, per dataset ε before
and after.

A ledger only grows, so the ledger a pull request leaves must start with every entry of its base
(the ledger on the target branch). The hash chain makes one comparison enough for that: the new
ledger's entry at position ``len(base)`` carries the base's head hash exactly when the two agree
on every entry up to there. Anything else rewrote history and fails the change.

"What the change adds" is the certified ε after the change minus the certified ε before it. It is
a difference of two upper bounds, not a privacy guarantee of the added releases on their own:
composition is not additive (PLD composition of the whole is usually well below the sum of its
parts), so the figure says how much closer the dataset came to its limit, nothing more.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from privaudit.assess import Assessment, DatasetAssessment, Finding, Severity, Status, assess
from privaudit.ledger import Ledger, LedgerEntry
from privaudit.policy import Policy

__all__ = [
    "ADDED_NOTE",
    "HISTORY_REWRITTEN",
    "Change",
    "DatasetChange",
    "compare",
    "first_difference",
    "json_data",
    "with_change",
]

HISTORY_REWRITTEN = "history_rewritten"
"""The code of the failing finding of a change that is not an append."""

ADDED_NOTE = (
    "added = ε after − ε before: the difference of certified ε values, not itself a DP"
    " guarantee of the change (composition is not additive)"
)


class DatasetChange(BaseModel):
    """One dataset before and after the change. Unbounded ε is ``inf`` (JSON ``null``)."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    epsilon_before: float
    epsilon_after: float
    added: float | None
    """``epsilon_after - epsilon_before`` on the unrounded values; ``inf`` when only the after
    is unbounded; None when both are unbounded (nothing can be said)."""
    entries_before: int
    entries_after: int
    entries_added: int
    """``entries_after - entries_before`` (negative when a rewrite removed entries)."""
    limit_epsilon: float | None
    used_fraction: float | None
    status_before: Status
    status: Status
    """The dataset's status after the change: the one the gate's exit code uses."""


class Change(BaseModel):
    """A base ledger against the new ledger: the prefix check and every dataset's ε change."""

    model_config = ConfigDict(frozen=True)

    base_source: str
    """What ``--base`` named: a ledger file or ``git:REV``."""
    base_missing: bool
    """The ledger did not exist at the base revision (a new ledger): the base is empty."""
    base_entries: int
    base_head: str
    new_entries: int
    new_head: str
    prefix: bool
    """The base's entries are the new ledger's first entries: the change only appended."""
    first_difference: int | None
    """The seq of the first entry where the two differ (None when ``prefix``)."""
    entries_removed: int
    """How many more entries the base has than the new ledger (0 when it has fewer)."""
    datasets: tuple[DatasetChange, ...]
    note: str = ADDED_NOTE


def first_difference(base: Sequence[LedgerEntry], new: Sequence[LedgerEntry]) -> int | None:
    """The 1-based position of the first entry of ``base`` that ``new`` does not hold unchanged,
    or None when ``base`` is a prefix of ``new``."""
    if not base:
        return None
    if len(new) >= len(base) and new[len(base) - 1].hash == base[-1].hash:
        # Each hash covers the previous one (prev), so equal heads mean equal prefixes.
        return None
    for position, (old, now) in enumerate(zip(base, new, strict=False), start=1):
        if old.hash != now.hash:
            return position
    return len(new) + 1  # every shared entry agrees: the base's later entries were removed


def compare(
    base: Ledger,
    new: Ledger,
    after: Assessment,
    policy: Policy | None,
    *,
    base_source: str,
    base_missing: bool = False,
    delta: float | None = None,
) -> Change:
    """Compare ``base`` with ``new``; ``after`` is the gate's assessment of ``new``.

    The base is assessed against the same ``policy`` and ``delta``, so before and after differ
    only by the entries: the same accountant, tier and δ account both.
    """
    before = assess(base, policy, delta=delta)
    differs = first_difference(base.entries, new.entries)
    old = {ds.dataset: ds for ds in before.datasets}
    now = {ds.dataset: ds for ds in after.datasets}
    return Change(
        base_source=base_source,
        base_missing=base_missing,
        base_entries=len(base.entries),
        base_head=base.head,
        new_entries=len(new.entries),
        new_head=new.head,
        prefix=differs is None,
        first_difference=differs,
        entries_removed=max(0, len(base.entries) - len(new.entries)),
        datasets=tuple(
            _dataset_change(name, old.get(name), now.get(name))
            for name in sorted(old.keys() | now.keys())
        ),
    )


def with_change(assessment: Assessment, change: Change) -> Assessment:
    """The assessment with a failing finding when the change rewrote history, so every output
    format reports it and the exit code is 1."""
    if change.prefix:
        return assessment
    finding = Finding(code=HISTORY_REWRITTEN, severity=Severity.FAIL, message=_rewrite(change))
    return assessment.model_copy(
        update={"findings": (*assessment.findings, finding), "status": Status.FAIL}
    )


def _rewrite(change: Change) -> str:
    assert change.first_difference is not None
    where = change.first_difference
    base = change.base_source
    if where > change.new_entries:
        last = change.base_entries
        what = (
            f"entr{'y' if where == last else 'ies'} {where}{'' if where == last else f'-{last}'}"
            f" of base {base} {'was' if where == last else 'were'} removed (the ledger has"
            f" {change.new_entries} entr{'y' if change.new_entries == 1 else 'ies'}, the base"
            f" {change.base_entries})"
        )
    else:
        what = f"entry {where} differs from entry {where} of base {base}"
        if change.entries_removed:
            what += f", and the ledger has {change.entries_removed} entries fewer than the base"
    return (
        f"the change rewrote the ledger's history: {what}; a ledger is append-only, so the base's"
        " entries must be the first entries of the new ledger, unchanged"
    )


def _dataset_change(
    name: str, before: DatasetAssessment | None, after: DatasetAssessment | None
) -> DatasetChange:
    # A dataset only on one side (absent from the policy and from one ledger) has no entries
    # there, hence ε = 0 on that side.
    epsilon_before = before.epsilon if before else 0.0
    epsilon_after = after.epsilon if after else 0.0
    entries_before = before.entries if before else 0
    entries_after = after.entries if after else 0
    latest = after or before  # the limit as the new policy side states it
    return DatasetChange(
        dataset=name,
        epsilon_before=epsilon_before,
        epsilon_after=epsilon_after,
        added=_added(epsilon_before, epsilon_after),
        entries_before=entries_before,
        entries_after=entries_after,
        entries_added=entries_after - entries_before,
        limit_epsilon=latest.limit_epsilon if latest else None,
        used_fraction=after.used_fraction if after else None,
        status_before=before.status if before else Status.PASS,
        status=after.status if after else Status.PASS,
    )


def _added(before: float, after: float) -> float | None:
    # Computed on the unrounded values; renderers round it up like every ε, so the shown
    # addition is never below the computed one. (It may then differ by one unit in the last
    # digit from the difference of the shown, each rounded up, before and after.)
    if math.isinf(after):
        return None if math.isinf(before) else math.inf
    if math.isinf(before):
        return None  # a bounded after with an unbounded before: no meaningful difference
    return after - before


def json_data(change: Change) -> dict[str, Any]:
    """The change as plain JSON data; an unbounded ε is ``null`` with a ``bounded_*`` flag."""
    data: dict[str, Any] = json.loads(change.model_dump_json())
    for item, original in zip(data["datasets"], change.datasets, strict=True):
        item["bounded_before"] = math.isfinite(original.epsilon_before)
        item["bounded_after"] = math.isfinite(original.epsilon_after)
    return data
