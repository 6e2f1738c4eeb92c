"""What a simulation hands back: per-round records, the releases for the ledger, the model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from privaudit.mechanisms import Mechanism
from privaudit.train.models import Array, Mlp

if TYPE_CHECKING:
    # Only for the annotation: the server module needs these results at run time.
    from privaudit.federated.server import Server

Mode = Literal["dpfedavg", "local_dpsgd", "distributed_dpsgd"]


class LedgerItem(NamedTuple):
    """One release to write to the ledger: ``(partition, mechanism, meta)``."""

    partition: str | None
    mechanism: Mechanism
    meta: dict[str, Any]


@dataclass(frozen=True)
class RoundRecord:
    """One round as the simulator saw it (un-noised operator diagnostics, not covered by ε)."""

    round: int
    selected: tuple[int, ...]
    """Clients the server asked (Poisson-sampled in DP-FedAvg)."""
    dropped: tuple[int, ...]
    """Selected but offline: never received the model."""
    stragglers: tuple[int, ...]
    """Received the model, missed the deadline."""
    survivors: tuple[int, ...]
    """Whose update is in the aggregate."""
    bytes_up: int
    bytes_down: int
    clip_norm: float
    """C used this round (moves under adaptive clipping)."""
    noise_multiplier: float
    """Effective noise multiplier of the round's release (σ·√(k/m) under secure aggregation,
    σ/√m per silo when the server sees every share)."""
    unclipped_fraction: float | None
    """Adaptive clipping: the server's noisy estimate of the fraction with ‖Δ‖ ≤ C."""
    metrics: Mapping[str, float] | None
    """Test metrics of the model after this round, when evaluated."""
    seconds: float
    """Wall time since the start of the simulation."""


@dataclass(frozen=True, eq=False)
class FederatedResult:
    """A finished simulation: per-round records, the releases to write to the ledger, the final
    model and the server (whose ``received`` log is the server's whole view)."""

    mode: Mode
    privacy_unit: str
    rounds: tuple[RoundRecord, ...]
    ledger_entries: tuple[LedgerItem, ...]
    """One item per release, in order: per round (DP-FedAvg, distributed DP) or per silo per
    round (local DP-SGD, or distributed DP when the server saw every share)."""
    params: Array
    model: Mlp
    server: Server
    seed: int | Literal["crypto"] | None
    """The run's seed; "crypto" when seeded from the OS; None when :func:`simulate` was called
    with caller-made generators."""
    wall_time: float
    engine: str = "simulator"
    """Where the rounds ran: ``simulator`` (in process) or ``flower`` (Flower's Deployment
    Engine, one process per party)."""
    stopped: str | None = None
    """Why the run ended before its last planned round (e.g. the budget guard refused the
    next round); None when every planned round ran."""
    ledger_written: bool = False
    """True when the engine wrote each round to the ledger as it committed it (Flower); the
    caller must then not write the releases again."""

    @property
    def final_metrics(self) -> Mapping[str, float] | None:
        """Test metrics of the last evaluated round."""
        for record in reversed(self.rounds):
            if record.metrics is not None:
                return record.metrics
        return None


@dataclass(frozen=True, eq=False)
class FitOutcome:
    """What a strategy's ``aggregate_fit`` returns."""

    params: Array
    ledger: tuple[LedgerItem, ...]
    clip_norm: float
    noise_multiplier: float
    unclipped_fraction: float | None = None
