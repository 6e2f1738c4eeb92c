"""The immutable messages server, clients and aggregator exchange — their only contact."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from privaudit.federated.compression import Payload
from privaudit.train.models import Array

UpdateKind = Literal["delta", "noisy_delta", "gradient_share"]


@dataclass(frozen=True, eq=False)
class ModelMessage:
    """Server → client: the global model for ``round`` and the round's instructions."""

    round: int
    params: Array
    clip_norm: float | None = None
    """DP-FedAvg: the clip norm C of this round (it moves under adaptive clipping)."""
    report_clipping: bool = False
    """DP-FedAvg with adaptive clipping: also send the bit [‖Δ‖ ≤ C]."""
    participants: int | None = None
    """Distributed DP: the number m of silos asked this round; each adds 1/m of the noise."""

    @property
    def nbytes(self) -> int:
        return int(self.params.nbytes)


@dataclass(frozen=True, eq=False)
class UpdateMessage:
    """Client → server (or → aggregator): one client's contribution to ``round``."""

    client_id: int
    round: int
    payload: Payload
    kind: UpdateKind
    """``delta`` (clipped, un-noised: DP-FedAvg), ``noisy_delta`` (local DP-SGD) or
    ``gradient_share`` (clipped-gradient sum plus a noise share: distributed DP)."""
    weight: float
    """Averaging weight: 1 in DP-FedAvg (uniform, fixed denominator), the silo size otherwise."""
    unclipped: bool | None = None
    """Adaptive clipping's bit [‖Δ‖ ≤ C], sent as one byte; None when not asked for."""

    @property
    def vector(self) -> Array:
        return self.payload.decode()

    @property
    def nbytes(self) -> int:
        return self.payload.nbytes + (0 if self.unclipped is None else 1)


@dataclass(frozen=True, eq=False)
class AggregateMessage:
    """Aggregator → server: the sum of the survivors' inputs, and what else the server saw."""

    round: int
    total: Array
    survivors: tuple[int, ...]
    planned: tuple[int, ...]
    """The clients whose inputs reached the aggregator (before its own dropouts)."""
    reveals_inputs: bool
    """True when the server also saw every input (then logged as UpdateMessages)."""
    server_view: Any = None
    """The aggregation protocol's traffic as the server saw it (e.g. masked inputs)."""
    nbytes: int = 0
    """Bytes the server received during aggregation."""


@dataclass(frozen=True, eq=False)
class EvaluateMessage:
    """Client → server: metrics of a model on the client's own data (un-noised: a diagnostic
    that is not covered by the ledger; do not publish)."""

    client_id: int
    round: int
    examples: int
    metrics: Mapping[str, float]


ReceivedMessage = UpdateMessage | AggregateMessage | EvaluateMessage
