"""What a trained variant leaves in the results folder: its run record, and the ε it is shown with.

The record is the ``records`` run-record format (runs/NAME.json): the rounds the federated run
went through, an epoch row at each evaluated round, the final metrics, and the privacy block
(None for a baseline that is not private).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from privaudit.scenarios.context import Context
from privaudit.scenarios.results import VariantResult

if TYPE_CHECKING:
    from privaudit.federated import FederatedResult
    from privaudit.records.run import EpochRecord, RoundRecord


def run_epsilon(items: Sequence[Any], delta: float) -> float:
    """ε of one run's ledger items alone: sequential within a partition, max over partitions
    (entries without a partition touch all of them)."""
    from privaudit.accounting.accountant import account
    from privaudit.assess import partition_compositions

    groups = partition_compositions((i.partition, i.mechanism) for i in items)
    return max(account(group, delta).epsilon for _, group in groups)


def epsilon_curve(items: Sequence[Any], rounds: Sequence[int], delta: float) -> dict[int, float]:
    """ε after each of ``rounds`` (items carry meta["round"])."""
    values = {}
    for r in rounds:
        prefix = [i for i in items if int(i.meta.get("round", i.meta.get("last_round", 0))) <= r]
        if prefix:
            values[r] = run_epsilon(prefix, delta)
    return values


def privacy_block(
    context: Context,
    *,
    sigma: float,
    clip: float,
    rate: float,
    rounds_planned: int,
    rounds_done: int,
    epsilon: float,
    in_ledger: bool,
) -> dict[str, Any]:
    """The run record's privacy fields of a private variant."""
    return {
        "target_epsilon": context.epsilon,
        "delta": context.delta,
        "noise_multiplier": sigma,
        "clip_norm": clip,
        "sampling": "poisson",
        "sampling_rate": rate,
        "steps_planned": rounds_planned,
        "steps_done": rounds_done,
        "epsilon": epsilon,
        "mechanism": None,
        "ledger": str(context.ledger) if in_ledger else None,
        "dataset_id": context.scenario.dataset,
    }


def write_run_record(
    context: Context,
    variant: VariantResult,
    result: FederatedResult,
    *,
    kind: str,
    trust_model: str | None,
    privacy: dict[str, Any] | None,
    config: dict[str, Any],
    data: dict[str, Any],
    curve: Mapping[int, float] | None = None,
) -> None:
    """runs/NAME.json of ``variant`` in the results folder being built."""
    from privaudit.records.run import (
        PrivacyRecord,
        RunRecord,
        library_versions,
        now,
        write_record,
    )

    rounds, epochs = _history(result, curve)
    record = RunRecord(
        kind=kind,
        name=variant.name,
        created=now(),
        data=data,
        config=config,
        privacy=None if privacy is None else PrivacyRecord(**privacy),
        epochs=epochs,
        test_accuracy=variant.metrics.get("test_accuracy", math.nan),
        wall_seconds=variant.wall_seconds,
        random_source=f"seed={context.seed}",
        versions=library_versions(),
        metrics=variant.metrics,
        rounds=rounds,
        trust_model=trust_model,
        in_ledger=variant.in_ledger,
    )
    write_record(record, context.scratch / "runs" / f"{variant.name}.json")


def _history(
    result: FederatedResult, curve: Mapping[int, float] | None
) -> tuple[tuple[RoundRecord, ...], tuple[EpochRecord, ...]]:
    """Every round of the run, and an epoch row for each round that was evaluated."""
    from privaudit.records.run import EpochRecord, RoundRecord

    rounds: list[RoundRecord] = []
    epochs: list[EpochRecord] = []
    for r in result.rounds:
        metrics = {k: float(v) for k, v in (r.metrics or {}).items()}
        rounds.append(
            RoundRecord(
                round=r.round,
                clients=len(r.selected),
                survivors=len(r.survivors),
                bytes_up=int(r.bytes_up),
                bytes_down=int(r.bytes_down),
                clip_norm=float(r.clip_norm),
                metrics=metrics,
            )
        )
        if r.metrics:
            epochs.append(
                EpochRecord(
                    epoch=r.round,
                    steps=r.round,
                    epsilon=None if curve is None else curve.get(r.round),
                    test_accuracy=float(r.metrics.get("accuracy", math.nan)),
                    test_loss=float(r.metrics.get("loss", math.nan)),
                    seconds=float(r.seconds),
                )
            )
    return tuple(rounds), tuple(epochs)
