"""A run's releases into the privaudit ledger, consecutive identical rounds coalesced."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

from privaudit.checks import ARGUMENT
from privaudit.errors import InputError
from privaudit.federated.results import FederatedResult, LedgerItem
from privaudit.ledger import LedgerEntry, append_entry
from privaudit.mechanisms import DistributedGaussian, DpFedAvg, DpSgd, Mechanism, NonPrivate

_ROUND_KEYS = ("first_round", "last_round")


def coalesce_entries(
    entries: Sequence[LedgerItem], max_rounds: int | None = None
) -> list[LedgerItem]:
    """Merge, per partition, runs of consecutive rounds whose releases differ only in their
    count into one release repeating it (``rounds``/``steps`` summed): the same composition,
    fewer ledger lines. Meta becomes ``{"first_round", "last_round", ...}``; other meta keys
    (e.g. ``survivors``) must match to merge. ``max_rounds`` caps the rounds one entry covers,
    so the ledger still shows the budget being spent over training (one entry per block)."""
    out: list[LedgerItem] = []
    last: dict[str | None, int] = {}
    for item in entries:
        meta = dict(item.meta)
        round_ = meta.pop("round", None)
        if not isinstance(round_, int):
            raise InputError(ARGUMENT, "entries", "expected meta with an integer 'round'")
        at = last.get(item.partition)
        if at is not None:
            merged = _extended(out[at], item.mechanism, round_, meta, max_rounds)
            if merged is not None:
                out[at] = merged
                continue
        last[item.partition] = len(out)
        head = {"first_round": round_, "last_round": round_, **meta}
        out.append(LedgerItem(item.partition, item.mechanism, head))
    return out


def _extended(
    previous: LedgerItem,
    mechanism: Mechanism,
    round_: int,
    meta: dict[str, object],
    max_rounds: int | None,
) -> LedgerItem | None:
    # ``previous`` taking in the next round's release, or None when the two cannot merge.
    first, last = previous.meta["first_round"], previous.meta["last_round"]
    same_meta = {k: v for k, v in previous.meta.items() if k not in _ROUND_KEYS} == meta
    short = max_rounds is None or last - first + 1 < max_rounds
    merged = _merged(previous.mechanism, mechanism)
    if not (same_meta and short and last + 1 == round_ and merged is not None):
        return None
    return LedgerItem(previous.partition, merged, {**previous.meta, "last_round": round_})


def _merged(first: Mechanism, second: Mechanism) -> Mechanism | None:
    if isinstance(first, NonPrivate) and isinstance(second, NonPrivate):
        return first
    counts = {DpFedAvg: "rounds", DpSgd: "steps", DistributedGaussian: "steps"}
    name = counts.get(type(first))
    if name is None or type(first) is not type(second):
        return None
    if first.model_copy(update={name: 1}) != second.model_copy(update={name: 1}):
        return None
    total = getattr(first, name) + getattr(second, name)
    return type(first).model_validate({**first.model_dump(), name: total})


def write_ledger(
    result: FederatedResult,
    ledger_path: str | PathLike[str],
    dataset: str,
    run: str | None,
    privacy_unit: str | None = None,
    *,
    coalesce: bool = True,
    max_rounds: int | None = None,
) -> list[LedgerEntry]:
    """Append the run's releases to the ledger (``privacy_unit`` defaults to the mode's:
    "client" for DP-FedAvg, "example" across silos). ``coalesce`` merges consecutive identical
    rounds (:func:`coalesce_entries`); every append re-verifies the whole chain, so thousands
    of per-round lines would cost quadratic time."""
    items = (
        coalesce_entries(result.ledger_entries, max_rounds)
        if coalesce
        else list(result.ledger_entries)
    )
    unit = result.privacy_unit if privacy_unit is None else privacy_unit
    # Where the noise seed came from (privaudit.assess.SEED_META), not its value.
    # Unknown (None: simulate() called with the caller's own generators): nothing is written.
    seed = (
        {}
        if result.seed is None
        else {"seed": {"origin": "os.urandom" if result.seed == "crypto" else "user"}}
    )
    return [
        append_entry(
            ledger_path,
            dataset=dataset,
            mechanism=item.mechanism,
            partition=item.partition,
            privacy_unit=unit,
            run=run,
            meta={**item.meta, **seed},
        )
        for item in items
    ]
