"""Where a federation's rounds run: what a scenario hands an engine, and what engines promise.

The in-process simulator (:mod:`privaudit.federated.runs`) is the default engine. Another one
(Flower's Deployment Engine, in :mod:`privaudit.integrations.flower`) runs the same distributed
DP-SGD over secure aggregation with each party in its own process; the caller picks it and
passes it down, so nothing here depends on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from privaudit.federated.config import DistributedDpSgdConfig
from privaudit.federated.heterogeneity import Heterogeneity
from privaudit.federated.results import FederatedResult, RoundRecord
from privaudit.train.models import Array, Labels


@dataclass(frozen=True)
class LedgerTarget:
    """Where an engine writes each committed round, and the policy whose limit it must keep."""

    path: Path
    dataset: str
    run: str
    privacy_unit: str
    policy: Path | None = None
    epsilon_limit: float | None = None
    """Tighter than the tier's limit, never looser (refused)."""


@dataclass(frozen=True, eq=False)
class SecureDpSgdRun:
    """Distributed DP-SGD over secure aggregation: silo i holds ``parts[i]`` of ``x``/``y``; a
    round's sum is revealed only when ``threshold`` silos take part."""

    x: Array
    y: Labels
    parts: Sequence[Any]
    config: DistributedDpSgdConfig
    threshold: int
    value_bound: float
    silo_names: Sequence[str]
    x_test: Array
    y_test: Labels
    n_classes: int
    heterogeneity: Heterogeneity | None = None
    """Absences: an engine of real processes makes them happen (it kills the silo's process
    at that round); it never only pretends."""
    evaluate_every: int = 1
    on_round: Callable[[RoundRecord], None] | None = None
    ledger: LedgerTarget | None = None
    logs: Path | None = None
    """Where an engine leaves its logs (never copies of the data)."""


class Engine(Protocol):
    """Runs a :class:`SecureDpSgdRun` and returns what the simulator would: per-round records,
    the releases, the model. An engine that writes the ledger itself, round by round, says so
    in :attr:`FederatedResult.ledger_written`."""

    name: str

    def run_secure_dpsgd(self, run: SecureDpSgdRun) -> FederatedResult: ...


@dataclass(frozen=True)
class InProcessEngine:
    """The simulator as an engine: the same run, every party in this process, the real secure
    aggregation protocol between them. The caller writes the ledger afterwards."""

    name: str = "simulator"

    def run_secure_dpsgd(self, run: SecureDpSgdRun) -> FederatedResult:
        from privaudit.federated.aggregation import secure_aggregator
        from privaudit.federated.runs import run_distributed_dpsgd

        return run_distributed_dpsgd(
            run.x,
            run.y,
            run.parts,
            run.config,
            aggregator=secure_aggregator(run.threshold, run.value_bound, bits=64),
            silo_names=run.silo_names,
            x_test=run.x_test,
            y_test=run.y_test,
            n_classes=run.n_classes,
            heterogeneity=run.heterogeneity,
            evaluate_every=run.evaluate_every,
            on_round=run.on_round,
        )
