"""A federated-learning simulator in Flower's shape, with client-level and example-level DP.

Shape
-----
Clients ``fit`` (and ``evaluate``) a model they are sent; a server *strategy* configures each
round (whom to ask, with what) and aggregates what comes back, as in Flower's ``Strategy``
(``configure_fit`` / ``aggregate_fit``). Server and clients are separate objects that exchange
only immutable messages — :class:`ModelMessage` down, :class:`UpdateMessage` up,
:class:`AggregateMessage` from an aggregator — whose arrays are read-only copies, so neither side
can reach into the other's state. The :class:`Server` logs every message it receives
(:attr:`Server.received`): the log is exactly the server's view, which is what the privacy
analysis is about. Clipping, noise, quantisation, sparsification, averaging and aggregation are
plain functions that do not care who calls them, so a Flower strategy can reuse them unchanged.

Privacy modes
-------------
1. **Client-level DP-FedAvg** (cross-device; McMahan, Ramage, Talwar & Zhang, "Learning
   differentially private recurrent language models", ICLR 2018, Alg. 1). Each round the server
   Poisson-samples clients at rate q; each sampled client runs E epochs of ordinary SGD from the
   global model and returns its model delta clipped to L2 norm C. The server adds N(0, (zC)²) to
   the sum and divides by the *expected* number of clients q·N (the fixed-denominator estimator
   f̃_f of McMahan et al. §2: the realised count would be released un-noised). Optionally C adapts
   (Andrew, Thakkar, McMahan & Ramaswamy, "Differentially private learning with adaptive
   clipping", NeurIPS 2021, Alg. 1): clients also report whether ‖Δ‖ ≤ C, the server estimates
   that fraction with noise σ_b and moves C geometrically toward the target quantile; the deltas'
   noise is raised so the pair of releases is one Gaussian mechanism with the stated z (their
   Thm. 1). Ledger: ``DpFedAvg(z, q, rounds=1)`` per round, privacy unit "client".
2. **Example-level DP across silos** (cross-silo; each silo's records are a ledger partition).

   a. *Local DP-SGD*: each silo runs DP-SGD steps on its own records (Poisson sampling within the
      silo, per-example clipping, its own noise σ·C; Abadi et al., CCS 2016, Alg. 1) and sends
      its noisy model delta; the server averages them, weighted by silo size or uniformly.
      Ledger: ``DpSgd(σ, q, steps)`` per silo per round, on that silo's partition (parallel
      composition across silos).
   b. *Distributed DP*: DP-SGD over secure aggregation (the "distributed Gaussian" of Kairouz,
      Liu & Steinke, "The distributed discrete Gaussian mechanism for federated learning with
      secure aggregation", ICML 2021, in its continuous form). Each round is one step: every
      silo Poisson-samples its records at rate q, sums their clipped gradients and adds a noise
      *share* N(0, σ²C²/m) (m = silos asked this round); the shares meet only in the aggregator,
      so the server sees Σ clipped + N(0, σ²C²·k/m) where k silos survived. Ledger:
      ``DistributedGaussian(σ, clients=m, survivors=k, sampling_rate=q)`` per round, partition
      None, with the *real* k (effective multiplier σ·√(k/m)). When the aggregator reveals each
      input to the server (:func:`plain_sum`, the default), the server sees each silo's share
      with only σC/√m of noise, and the ledger says so: ``DpSgd(σ/√m, q, 1)`` per surviving
      silo per round, on its partition. This mode offers no compression: quantising a noisy
      share would have to happen inside the secure sum, before the shares meet, with an
      analysis of the rounding (Kairouz et al. 2021 §4); otherwise the revealed sum is no
      longer the Gaussian the ledger describes.

What the accounting covers: the releases in the ledger. The per-round records (who was sampled,
who dropped, bytes) and local evaluation metrics are computed without noise — operator
diagnostics, not covered by ε, not to be published. Silo sizes are treated as public (they set
the normaliser q·n and the weights), as the dataset size n is in DP-SGD.

Heterogeneity
-------------
Selected clients may be offline (a per-round dropout probability, or an explicit schedule such
as "silo 2 is gone from round 30 on": they never receive the model) or straggle (they receive
the model but miss the round's deadline; their update is discarded unsent). Both reduce the
survivors of the round and never the accounting's conservatism: an absent client adds nothing.

Communication is counted in payload bytes (arrays as sent; headers and framing not counted):
down, the model to every client that received it plus any aggregation-protocol traffic to
clients; up, every update that arrived (or every byte the aggregation protocol uploaded).

Randomness: one ``numpy.random.SeedSequence`` per run (from the seed, or 128 bits from the OS's
cryptographic source) spawns independent generators for the server, the environment (dropouts),
the model's initialisation and each client. No global state.
"""

from __future__ import annotations

import importlib
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from os import PathLike
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from privaudit.errors import InputError, describe_value
from privaudit.ledger import LedgerEntry, append_entry
from privaudit.mechanisms import (
    DistributedGaussian,
    DpFedAvg,
    DpSgd,
    Mechanism,
    NonPrivate,
    Sampling,
)
from privaudit.train.dpsgd import add_gaussian_noise, poisson_sample, private_gradient
from privaudit.train.models import Array, Labels, Mlp, ModelSpec

__all__ = [
    "QSGD_8BIT",
    "Absence",
    "AdaptiveClipping",
    "AggregateMessage",
    "AggregateResult",
    "Aggregator",
    "Compression",
    "DistributedDpSgdConfig",
    "DistributedDpSgdSilo",
    "DistributedDpSgdStrategy",
    "DpFedAvgClient",
    "DpFedAvgConfig",
    "DpFedAvgStrategy",
    "EvaluateMessage",
    "FederatedResult",
    "FitClient",
    "FitOutcome",
    "Heterogeneity",
    "LedgerItem",
    "LocalDpSgdConfig",
    "LocalDpSgdSilo",
    "LocalDpSgdStrategy",
    "ModelMessage",
    "Payload",
    "Quantised",
    "RoundRecord",
    "Server",
    "Strategy",
    "UpdateMessage",
    "average",
    "clip_to_norm",
    "coalesce_entries",
    "dequantise",
    "encode",
    "evaluate",
    "geometric_clip_update",
    "gradient_share",
    "ideal_secure_sum",
    "local_dpsgd",
    "local_sgd",
    "noisy_unclipped_fraction",
    "plain_sum",
    "quantise",
    "run_distributed_dpsgd",
    "run_dp_fedavg",
    "run_local_dpsgd",
    "secure_aggregator",
    "simulate",
    "top_k",
    "update_noise_multiplier",
    "weighted_average",
    "write_ledger",
]

Mode = Literal["dpfedavg", "local_dpsgd", "distributed_dpsgd"]
Weighting = Literal["size", "uniform"]
UpdateKind = Literal["delta", "noisy_delta", "gradient_share"]
Rows = npt.NDArray[np.int64]
Codes = npt.NDArray[np.uint8]
Indices = npt.NDArray[np.int32]

_ARGUMENT = "<argument>"
# The ledger's identifier rule (privaudit.ledger): silo names become ledger partitions.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

QSGD_8BIT = 256
"""Quantisation levels of 8-bit stochastic quantisation (one byte per coordinate)."""


class LedgerItem(NamedTuple):
    """One release to write to the ledger: ``(partition, mechanism, meta)``."""

    partition: str | None
    mechanism: Mechanism
    meta: dict[str, Any]


# --- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Quantised:
    """Stochastically quantised values: ``low + code·(high − low)/(levels − 1)``, one byte per
    code, ``low`` and ``high`` as float32 (8 bytes)."""

    codes: Codes
    low: float
    high: float
    levels: int

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes) + 8


@dataclass(frozen=True, eq=False)
class Payload:
    """A vector as sent: dense, or top-k (int32 ``indices`` plus their values); the values
    either as floats or :class:`Quantised`."""

    size: int
    values: Array | Quantised
    indices: Indices | None = None
    dtype: np.dtype[Any] = field(default_factory=lambda: np.dtype(np.float32))

    @property
    def nbytes(self) -> int:
        values = self.values.nbytes
        return int(values) + (0 if self.indices is None else int(self.indices.nbytes))

    def decode(self) -> Array:
        """The dense vector the receiver reconstructs (a new, writable array)."""
        values = (
            dequantise(self.values, self.dtype)
            if isinstance(self.values, Quantised)
            else np.array(self.values, dtype=self.dtype)
        )
        if self.indices is None:
            return values
        dense = np.zeros(self.size, dtype=self.dtype)
        dense[self.indices] = values
        return dense


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


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Compression:
    """How updates are compressed before upload: top-k sparsification (the k largest |values|,
    sent as values plus int32 indices; biased, no error feedback) and/or unbiased stochastic
    quantisation of the (kept) values to ``levels`` evenly spaced values, one byte each."""

    top_k: int | None = None
    levels: int | None = None

    def __post_init__(self) -> None:
        _require(
            self.top_k is None or (_integer(self.top_k) and self.top_k >= 1),
            "compression.top_k",
            "must be None or an integer >= 1",
            self.top_k,
        )
        _require(
            self.levels is None or (_integer(self.levels) and 2 <= self.levels <= 256),
            "compression.levels",
            "must be None or an integer in 2..256 (one byte per value)",
            self.levels,
        )


@dataclass(frozen=True)
class AdaptiveClipping:
    """Andrew et al. 2021, Alg. 1: track the ``target_quantile`` γ of the update norms with a
    geometric step ``learning_rate`` η_C, estimating the unclipped fraction with noise
    ``count_noise`` σ_b (default: expected clients / 20, their §3 recommendation)."""

    target_quantile: float = 0.5
    learning_rate: float = 0.2
    count_noise: float | None = None

    def __post_init__(self) -> None:
        _require(
            _finite(self.target_quantile) and 0 < self.target_quantile < 1,
            "adaptive_clipping.target_quantile",
            "must be in (0, 1)",
            self.target_quantile,
        )
        _require(
            _finite(self.learning_rate) and self.learning_rate > 0,
            "adaptive_clipping.learning_rate",
            "must be > 0",
            self.learning_rate,
        )
        _require(
            self.count_noise is None or (_finite(self.count_noise) and self.count_noise >= 0),
            "adaptive_clipping.count_noise",
            "must be None or >= 0",
            self.count_noise,
        )


@dataclass(frozen=True)
class DpFedAvgConfig:
    """Client-level DP-FedAvg. ``noise_multiplier`` z is the total (with adaptive clipping it
    covers the clipped-count query too); z = 0 trains without privacy (still clipped) and the
    ledger says ``non_private``. ``clip_norm`` is C, or its start value under adaptive clipping."""

    rounds: int
    client_sampling_rate: float
    noise_multiplier: float
    clip_norm: float
    local_epochs: int = 1
    local_batch_size: int = 32
    local_learning_rate: float = 0.1
    server_learning_rate: float = 1.0
    server_momentum: float = 0.0
    """Heavy-ball momentum on the averaged update (FedAvgM; Hsu, Qi & Brown 2019)."""
    adaptive_clipping: AdaptiveClipping | None = None
    compression: Compression | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_rounds(self.rounds)
        _check_rate(self.client_sampling_rate, "client_sampling_rate")
        _check_noise(self.noise_multiplier)
        _check_positive(self.clip_norm, "clip_norm")
        _check_count(self.local_epochs, "local_epochs")
        _check_count(self.local_batch_size, "local_batch_size")
        _check_positive(self.local_learning_rate, "local_learning_rate")
        _check_positive(self.server_learning_rate, "server_learning_rate")
        _check_momentum(self.server_momentum, "server_momentum")
        _check_common(self.model, self.seed, self.compression)
        _require(
            self.adaptive_clipping is None or isinstance(self.adaptive_clipping, AdaptiveClipping),
            "adaptive_clipping",
            "expected None or an AdaptiveClipping",
            self.adaptive_clipping,
        )


@dataclass(frozen=True)
class LocalDpSgdConfig:
    """Cross-silo, each silo running ``local_steps`` DP-SGD steps a round on its own records:
    Poisson sampling at ``sampling_rate`` q within the silo (expected batch q·n_silo), clipping
    to ``clip_norm``, noise ``noise_multiplier``·C, SGD at ``learning_rate`` (momentum within the
    round). The server moves the model by ``server_learning_rate`` × the average of the silos'
    deltas, weighted by silo size or uniformly. ``silos_per_round`` asks a uniformly random
    subset each round (None: every silo)."""

    rounds: int
    noise_multiplier: float
    clip_norm: float
    sampling_rate: float
    learning_rate: float
    local_steps: int = 1
    momentum: float = 0.0
    server_learning_rate: float = 1.0
    weighting: Weighting = "size"
    silos_per_round: int | None = None
    compression: Compression | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_rounds(self.rounds)
        _check_noise(self.noise_multiplier)
        _check_positive(self.clip_norm, "clip_norm")
        _check_rate(self.sampling_rate, "sampling_rate")
        _check_positive(self.learning_rate, "learning_rate")
        _check_count(self.local_steps, "local_steps")
        _check_momentum(self.momentum, "momentum")
        _check_positive(self.server_learning_rate, "server_learning_rate")
        _require(
            self.weighting in ("size", "uniform"),
            "weighting",
            "expected size or uniform",
            self.weighting,
        )
        _check_selection(self.silos_per_round)
        _check_common(self.model, self.seed, self.compression)


@dataclass(frozen=True)
class DistributedDpSgdConfig:
    """Cross-silo DP-SGD over an aggregator: one step a round. Every asked silo Poisson-samples
    its records at ``sampling_rate`` q, sums their gradients clipped to ``clip_norm`` C and adds
    its share N(0, σ²C²/m) of the noise; the server divides the sum by q·(records of the
    surviving silos) and takes an SGD step (``learning_rate``, heavy-ball ``momentum``)."""

    rounds: int
    noise_multiplier: float
    clip_norm: float
    sampling_rate: float
    learning_rate: float
    momentum: float = 0.0
    silos_per_round: int | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_rounds(self.rounds)
        _check_noise(self.noise_multiplier)
        _check_positive(self.clip_norm, "clip_norm")
        _check_rate(self.sampling_rate, "sampling_rate")
        _check_positive(self.learning_rate, "learning_rate")
        _check_momentum(self.momentum, "momentum")
        _check_selection(self.silos_per_round)
        _check_common(self.model, self.seed, None)


@dataclass(frozen=True)
class Absence:
    """Client ``client`` is offline from ``first_round`` through ``last_round`` (None: for good)."""

    client: int
    first_round: int
    last_round: int | None = None

    def __post_init__(self) -> None:
        _require(
            _integer(self.client) and self.client >= 0,
            "absence.client",
            "must be an integer >= 0",
            self.client,
        )
        _require(
            _integer(self.first_round) and self.first_round >= 1,
            "absence.first_round",
            "must be an integer >= 1",
            self.first_round,
        )
        _require(
            self.last_round is None
            or (_integer(self.last_round) and self.last_round >= self.first_round),
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
        _require(
            _finite(self.dropout_probability) and 0 <= self.dropout_probability <= 1,
            "dropout_probability",
            "must be in [0, 1]",
            self.dropout_probability,
        )
        stragglers = self.straggler_probability
        values = stragglers if isinstance(stragglers, tuple) else (stragglers,)
        _require(
            all(_finite(p) and 0 <= p <= 1 for p in values),
            "straggler_probability",
            "must be in [0, 1] (or a tuple of such, one per client)",
            stragglers,
        )
        _require(
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


# --- results -----------------------------------------------------------------------------------


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


# --- plain functions: clipping, local training, noise shares ------------------------------------


def clip_to_norm(vector: Array, clip_norm: float) -> tuple[Array, float]:
    """(``vector``·min(1, C/‖vector‖), ‖vector‖): a new array of L2 norm ≤ C, and the norm
    before clipping (computed in float64)."""
    if not (_finite(clip_norm) and clip_norm > 0):
        raise InputError(_ARGUMENT, "clip_norm", f"must be > 0; found {describe_value(clip_norm)}")
    norm = float(np.linalg.norm(np.asarray(vector, dtype=np.float64)))
    if norm <= clip_norm:
        return np.array(vector, copy=True), norm
    scaled: Array = (vector * (clip_norm / norm)).astype(vector.dtype, copy=False)
    return scaled, norm


def local_sgd(
    model: Mlp,
    params: Array,
    x: Array,
    y: Labels,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    rng: np.random.Generator,
    rows: Rows | None = None,
) -> Array:
    """Ordinary minibatch SGD from ``params`` (a new array): ``epochs`` passes over the records
    ``rows`` of ``x``/``y`` (all when None) in a fresh random order, batches of ``batch_size``.
    The client update of FedAvg (McMahan et al., AISTATS 2017, Alg. 1 ClientUpdate)."""
    own = np.arange(len(x), dtype=np.int64) if rows is None else rows
    current = np.array(params, copy=True)
    for _ in range(epochs):
        order = own[rng.permutation(len(own))]
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            current -= learning_rate * model.gradient(current, x[batch], y[batch])
    return current


def local_dpsgd(
    model: Mlp,
    params: Array,
    x: Array,
    y: Labels,
    *,
    steps: int,
    sampling_rate: float,
    clip_norm: float,
    noise_multiplier: float,
    learning_rate: float,
    momentum: float,
    rng: np.random.Generator,
    rows: Rows | None = None,
) -> Array:
    """``steps`` DP-SGD steps from ``params`` on the records ``rows`` (all when None): Poisson
    sampling at ``sampling_rate``, per-example clipping, N(0, (σC)²) on the sum, division by the
    expected batch q·n, SGD with heavy-ball momentum (a new array). Abadi et al. 2016, Alg. 1."""
    own = np.arange(len(x), dtype=np.int64) if rows is None else rows
    expected_batch = sampling_rate * len(own)
    current = np.array(params, copy=True)
    velocity = np.zeros_like(current) if momentum else None
    for _ in range(steps):
        batch = own[poisson_sample(len(own), sampling_rate, rng)]
        gradient = private_gradient(
            model,
            current,
            x[batch],
            y[batch],
            clip_norm=clip_norm,
            noise_multiplier=noise_multiplier,
            expected_batch_size=expected_batch,
            rng=rng,
        ).gradient
        if velocity is None:
            current -= learning_rate * gradient
        else:
            velocity *= momentum
            velocity += gradient
            current -= learning_rate * velocity
    return current


def gradient_share(
    model: Mlp,
    params: Array,
    x: Array,
    y: Labels,
    *,
    sampling_rate: float,
    clip_norm: float,
    noise_multiplier: float,
    participants: int,
    rng: np.random.Generator,
    rows: Rows | None = None,
) -> Array:
    """One silo's input to a distributed-DP step: the sum of the clipped gradients of a Poisson
    sample of its records plus N(0, σ²C²/m). m independent shares sum to N(0, σ²C²); k of them
    to N(0, σ²C²·k/m), the effective multiplier σ·√(k/m) that ``DistributedGaussian`` records
    (Kairouz, Liu & Steinke 2021, §3, continuous case)."""
    if not (_integer(participants) and participants >= 1):
        raise InputError(
            _ARGUMENT, "participants", f"must be an integer >= 1; found {participants!r}"
        )
    own = np.arange(len(x), dtype=np.int64) if rows is None else rows
    batch = own[poisson_sample(len(own), sampling_rate, rng)]
    total, _, _ = model.clipped_gradient_sum(params, x[batch], y[batch], clip_norm)
    return add_gaussian_noise(total, noise_multiplier / math.sqrt(participants), clip_norm, rng)


# --- plain functions: adaptive clipping --------------------------------------------------------


def update_noise_multiplier(noise_multiplier: float, count_noise: float) -> float:
    """The deltas' multiplier z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2) that, with the clipped-count query
    at noise σ_b, makes one round a Gaussian mechanism of multiplier z (Andrew et al. 2021,
    Thm. 1: the centred bit bᵢ − ½ has sensitivity ½, so the count's multiplier is 2σ_b and
    the inverse squared multipliers add)."""
    if noise_multiplier == 0:
        return 0.0
    if not (2 * count_noise > noise_multiplier):
        raise InputError(
            _ARGUMENT,
            "adaptive_clipping.count_noise",
            f"must be > z/2 = {noise_multiplier / 2:g} for the deltas to keep any noise budget "
            f"(Andrew et al. 2021, Thm. 1); found {count_noise:g}",
        )
    return float((noise_multiplier**-2 - (2 * count_noise) ** -2) ** -0.5)


def noisy_unclipped_fraction(
    centred_bits: float, count_noise: float, expected_clients: float, rng: np.random.Generator
) -> float:
    """b̄ = ½ + (Σᵢ (bᵢ − ½) + N(0, σ_b²)) / (q·N): the private estimate of the fraction of
    updates with ‖Δ‖ ≤ C (Andrew et al. 2021, Alg. 1, with centred bits and the expected
    number of clients as the fixed denominator)."""
    noise = rng.normal(0.0, count_noise) if count_noise > 0 else 0.0
    return 0.5 + (centred_bits + noise) / expected_clients


def geometric_clip_update(
    clip_norm: float, unclipped_fraction: float, target_quantile: float, learning_rate: float
) -> float:
    """C ← C·exp(−η_C (b̄ − γ)) (Andrew et al. 2021, §2.2, the geometric update): C shrinks
    while more than the target fraction γ of the updates fit under it."""
    return float(clip_norm * math.exp(-learning_rate * (unclipped_fraction - target_quantile)))


# --- plain functions: averaging ----------------------------------------------------------------


def weighted_average(vectors: Sequence[Array], weights: Sequence[float]) -> Array:
    """Σᵢ wᵢ·vᵢ / Σᵢ wᵢ (FedAvg's example-weighted mean when wᵢ = nᵢ)."""
    if not vectors or len(vectors) != len(weights):
        raise InputError(
            _ARGUMENT,
            "weights",
            f"expected one weight per vector (at least one); found {len(weights)} for "
            f"{len(vectors)}",
        )
    w = np.asarray(weights, dtype=np.float64)
    if not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
        raise InputError(_ARGUMENT, "weights", "must be finite, >= 0 and not all 0")
    total = np.zeros_like(vectors[0], dtype=np.float64)
    for vector, weight in zip(vectors, w, strict=True):
        total += weight * vector
    out: Array = (total / w.sum()).astype(vectors[0].dtype)
    return out


def average(vectors: Sequence[Array]) -> Array:
    """(1/n)·Σᵢ vᵢ: every client counts the same."""
    return weighted_average(vectors, [1.0] * len(vectors))


# --- plain functions: compression --------------------------------------------------------------


def top_k(vector: Array, k: int) -> tuple[Indices, Array]:
    """The positions (int32, sorted) and values of the ``k`` entries of largest magnitude."""
    flat = np.asarray(vector).ravel()
    k = min(k, flat.size)
    if k == flat.size:
        keep = np.arange(flat.size)
    else:
        keep = np.sort(np.argpartition(np.abs(flat), flat.size - k)[flat.size - k :])
    return keep.astype(np.int32), np.array(flat[keep], copy=True)


def quantise(values: Array, rng: np.random.Generator, levels: int = QSGD_8BIT) -> Quantised:
    """Unbiased stochastic quantisation to ``levels`` evenly spaced points on [min, max]:
    each value rounds to one of its two neighbouring points with probabilities that make the
    expectation exact (Suresh, Yu, Kumar & McMahan, "Distributed mean estimation with limited
    communication", ICML 2017, §3 π_sk; Alistarh et al., QSGD, NeurIPS 2017, per-vector
    scale). The range is widened outward to float32 so every value lies inside the grid the
    receiver rebuilds from the two float32 scalars."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if not (_integer(levels) and 2 <= levels <= 256):
        raise InputError(_ARGUMENT, "levels", f"must be an integer in 2..256; found {levels!r}")
    if v.size == 0:
        return Quantised(np.zeros(0, dtype=np.uint8), 0.0, 0.0, levels)
    low = _float32_outward(float(v.min()), down=True)
    high = _float32_outward(float(v.max()), down=False)
    if high == low:
        return Quantised(np.zeros(v.size, dtype=np.uint8), low, high, levels)
    step = (high - low) / (levels - 1)
    position = (v - low) / step
    floor = np.floor(position)
    up = rng.random(v.size) < (position - floor)
    codes = np.clip(floor + up, 0, levels - 1).astype(np.uint8)
    return Quantised(codes, low, high, levels)


def dequantise(quantised: Quantised, dtype: npt.DTypeLike = np.float32) -> Array:
    """The values a :class:`Quantised` stands for."""
    q = quantised
    step = (q.high - q.low) / (q.levels - 1) if q.levels > 1 else 0.0
    out: Array = (q.low + q.codes.astype(np.float64) * step).astype(dtype)
    return out


def encode(
    vector: Array,
    compression: Compression | None = None,
    rng: np.random.Generator | None = None,
) -> Payload:
    """``vector`` as sent under ``compression`` (dense floats when None); quantisation needs
    ``rng``. Arrays in the payload are read-only copies."""
    v = np.asarray(vector)
    if v.ndim != 1:
        raise InputError(_ARGUMENT, "vector", f"expected a 1-D array; found shape {v.shape}")
    dtype = v.dtype
    if compression is None:
        return Payload(v.size, _frozen(v), None, dtype)
    indices: Indices | None = None
    values: Array = v
    if compression.top_k is not None and compression.top_k < v.size:
        indices, values = top_k(v, compression.top_k)
    if compression.levels is None:
        kept: Array | Quantised = _frozen(values)
    else:
        if rng is None:
            raise InputError(_ARGUMENT, "rng", "quantisation needs a random generator")
        q = quantise(values, rng, compression.levels)
        kept = Quantised(_frozen(q.codes), q.low, q.high, q.levels)
    return Payload(v.size, kept, None if indices is None else _frozen(indices), dtype)


def _float32_outward(value: float, *, down: bool) -> float:
    rounded = np.float32(value)
    if (down and float(rounded) > value) or (not down and float(rounded) < value):
        rounded = np.nextafter(rounded, np.float32(-np.inf if down else np.inf))
    return float(rounded)


# --- aggregation -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class AggregateResult:
    """What an aggregator returns: the sum of the survivors' inputs and the traffic it took."""

    total: Array | None
    """Σ inputs of ``survivors``; None when nobody survived (nothing is revealed)."""
    survivors: tuple[int, ...]
    """Clients whose inputs are in ``total`` (sorted)."""
    bytes_per_client: Mapping[int, int]
    """Bytes each client uploaded during aggregation."""
    bytes_server: int
    """Bytes the server received."""
    bytes_to_clients: int = 0
    """Protocol bytes sent to clients, all together (keys, shares; not the model)."""
    reveals_inputs: bool = True
    """Whether the server saw each input. Defaults to the conservative answer: an aggregator
    must say False to be accounted as a secure sum."""
    server_view: Any = None
    """The protocol's traffic as the server saw it, for inspection."""


Aggregator = Callable[[int, Mapping[int, Array]], AggregateResult]
"""``aggregator(round, inputs by client id) -> AggregateResult``. The round lets a protocol
simulate its own per-round events (e.g. dropouts in the middle of secure aggregation)."""


def plain_sum(round: int, inputs: Mapping[int, Array]) -> AggregateResult:
    """The server receives every input and sums them: 4·d bytes per client for float32."""
    survivors = tuple(sorted(inputs))
    per_client = {c: int(np.asarray(inputs[c]).nbytes) for c in survivors}
    return AggregateResult(
        total=_sum(inputs, survivors),
        survivors=survivors,
        bytes_per_client=per_client,
        bytes_server=sum(per_client.values()),
        reveals_inputs=True,
    )


def ideal_secure_sum(round: int, inputs: Mapping[int, Array]) -> AggregateResult:
    """The ideal functionality of secure aggregation: the server learns the sum and who is in
    it, nothing else. No cryptography and no protocol overhead — for simulations and tests;
    :func:`secure_aggregator` runs the real protocol."""
    survivors = tuple(sorted(inputs))
    per_client = {c: int(np.asarray(inputs[c]).nbytes) for c in survivors}
    total = _sum(inputs, survivors)
    return AggregateResult(
        total=total,
        survivors=survivors,
        bytes_per_client=per_client,
        bytes_server=0 if total is None else int(total.nbytes),
        reveals_inputs=False,
    )


def secure_aggregator(
    threshold: int,
    value_bound: float,
    dropouts_by_round: Callable[[int], set[int]] | None = None,
    *,
    late_dropouts_by_round: Callable[[int], set[int]] | None = None,
    **options: Any,
) -> Aggregator:
    """An :data:`Aggregator` running ``privaudit.federated.secagg.secure_sum`` (Bonawitz et al.,
    "Practical secure aggregation for privacy-preserving machine learning", CCS 2017).

    ``dropouts_by_round(r)`` names clients that drop in the middle of round r's protocol,
    after the key exchange and before sending their masked input: the protocol recovers and
    the sum leaves them out. ``late_dropouts_by_round(r)`` names clients that drop after
    sending it: their input stays in the sum. A round with fewer than two inputs, or fewer
    than ``threshold`` clients left at some step, aborts: nothing is revealed, the model does
    not move, and the bytes of the aborted protocol are not counted.

    ``value_bound`` must cover every coordinate of every input — for a noisy share, the clipped
    sum plus several σC/√m — and an input outside it is refused rather than altered: clipping a
    share would make the revealed sum non-Gaussian. Inputs are rounded to the protocol's fixed
    point (error ≤ 1/(2·scale) a coordinate) before they meet; the ledger's Gaussian analysis
    ignores that rounding, as it ignores floating point (Kairouz, Liu & Steinke 2021 account
    for it exactly with the discrete Gaussian). Extra ``options`` (``scale``, ``bits``,
    ``rng_seed``) go to ``secure_sum``. The module is imported when this is called, so this
    module works without it.
    """
    secagg = importlib.import_module("privaudit.federated.secagg")
    if not (_integer(threshold) and threshold >= 1):
        raise InputError(_ARGUMENT, "threshold", f"must be an integer >= 1; found {threshold!r}")
    if not (_finite(value_bound) and value_bound > 0):
        raise InputError(_ARGUMENT, "value_bound", f"must be > 0; found {value_bound!r}")

    def aggregate(round: int, inputs: Mapping[int, Array]) -> AggregateResult:
        clients = sorted(inputs)
        for client in clients:
            largest = float(np.max(np.abs(inputs[client]))) if np.size(inputs[client]) else 0.0
            if not largest <= value_bound:
                raise InputError(
                    _ARGUMENT,
                    "value_bound",
                    f"expected every input within ±{value_bound:g}; found {largest:.6g} from "
                    f"client {client} in round {round} (raise value_bound)",
                )
        aborted = AggregateResult(None, (), {}, 0, reveals_inputs=False)
        if len(clients) < 2:
            # A sum of one input is that input: the protocol refuses to run.
            return aborted
        early = set(dropouts_by_round(round)) & set(clients) if dropouts_by_round else set()
        late = (
            set(late_dropouts_by_round(round)) & set(clients) if late_dropouts_by_round else set()
        )
        try:
            raw = secagg.secure_sum(
                dict(inputs),
                threshold=threshold,
                value_bound=value_bound,
                drop_before_input=tuple(sorted(early)),
                drop_after_input=tuple(sorted(late - early)),
                **options,
            )
        except secagg.SecureAggregationError:
            return aborted
        survivors = tuple(sorted(int(c) for c in raw.survivors))
        dtype = inputs[clients[0]].dtype
        total = np.asarray(raw.total, dtype=dtype) if survivors else None
        return AggregateResult(
            total=total,
            survivors=survivors,
            bytes_per_client=_per_client(raw.bytes_sent_per_client, clients),
            bytes_server=int(raw.bytes_server_received),
            bytes_to_clients=sum(_per_client(raw.bytes_received_per_client, clients).values()),
            reveals_inputs=False,
            server_view=raw.server_view,
        )

    return aggregate


def _per_client(value: Any, clients: Sequence[int]) -> dict[int, int]:
    # Bytes per client as a mapping, or as one figure for every client.
    if isinstance(value, Mapping):
        return {int(c): int(b) for c, b in value.items()}
    return dict.fromkeys(clients, int(value))


def _sum(inputs: Mapping[int, Array], clients: Sequence[int]) -> Array | None:
    if not clients:
        return None
    total = np.array(inputs[clients[0]], copy=True)
    for client in clients[1:]:
        total += inputs[client]
    return total


# --- clients -----------------------------------------------------------------------------------


class FitClient(Protocol):
    """Anything that answers a :class:`ModelMessage` with an :class:`UpdateMessage`."""

    def fit(self, message: ModelMessage) -> UpdateMessage: ...


class _Client:
    """A client's data (its ``rows`` of a shared read-only feature array), model and generator."""

    def __init__(
        self,
        client_id: int,
        x: Array,
        y: Labels,
        rows: npt.ArrayLike,
        model: Mlp,
        rng: np.random.Generator,
    ) -> None:
        self.client_id = client_id
        self.model = model
        self._x = _read_only(x)
        self._y = _read_only(y)
        self._rows: Rows = np.asarray(rows, dtype=np.int64)
        self._rng = rng

    @property
    def num_examples(self) -> int:
        return len(self._rows)

    def evaluate(self, message: ModelMessage) -> EvaluateMessage:
        """Metrics of the received model on this client's own records (un-noised)."""
        metrics = evaluate(self.model, message.params, self._x[self._rows], self._y[self._rows])
        return EvaluateMessage(self.client_id, message.round, self.num_examples, metrics)

    def _message(
        self,
        message: ModelMessage,
        vector: Array,
        kind: UpdateKind,
        weight: float,
        compression: Compression | None = None,
        unclipped: bool | None = None,
    ) -> UpdateMessage:
        return UpdateMessage(
            client_id=self.client_id,
            round=message.round,
            payload=encode(vector, compression, self._rng),
            kind=kind,
            weight=weight,
            unclipped=unclipped,
        )


class DpFedAvgClient(_Client):
    """A cross-device client: E epochs of local SGD, the delta clipped to the round's C."""

    def __init__(
        self,
        client_id: int,
        x: Array,
        y: Labels,
        rows: npt.ArrayLike,
        model: Mlp,
        rng: np.random.Generator,
        *,
        epochs: int,
        batch_size: int,
        learning_rate: float,
        compression: Compression | None = None,
    ) -> None:
        super().__init__(client_id, x, y, rows, model, rng)
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.compression = compression

    def fit(self, message: ModelMessage) -> UpdateMessage:
        if message.clip_norm is None:
            raise InputError("<message>", "clip_norm", "DP-FedAvg needs the round's clip norm")
        trained = local_sgd(
            self.model,
            message.params,
            self._x,
            self._y,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            rng=self._rng,
            rows=self._rows,
        )
        clipped, norm = clip_to_norm(trained - message.params, message.clip_norm)
        bit = bool(norm <= message.clip_norm) if message.report_clipping else None
        # Uniform weight: the fixed-denominator estimator gives every client the same bounded
        # influence; the client's example count is not sent.
        return self._message(message, clipped, "delta", 1.0, self.compression, bit)


class LocalDpSgdSilo(_Client):
    """A silo that runs DP-SGD on its own records and sends its noisy model delta."""

    def __init__(
        self,
        client_id: int,
        x: Array,
        y: Labels,
        rows: npt.ArrayLike,
        model: Mlp,
        rng: np.random.Generator,
        *,
        steps: int,
        sampling_rate: float,
        clip_norm: float,
        noise_multiplier: float,
        learning_rate: float,
        momentum: float = 0.0,
        compression: Compression | None = None,
    ) -> None:
        super().__init__(client_id, x, y, rows, model, rng)
        self.steps = steps
        self.sampling_rate = sampling_rate
        self.clip_norm = clip_norm
        self.noise_multiplier = noise_multiplier
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.compression = compression

    def fit(self, message: ModelMessage) -> UpdateMessage:
        trained = local_dpsgd(
            self.model,
            message.params,
            self._x,
            self._y,
            steps=self.steps,
            sampling_rate=self.sampling_rate,
            clip_norm=self.clip_norm,
            noise_multiplier=self.noise_multiplier,
            learning_rate=self.learning_rate,
            momentum=self.momentum,
            rng=self._rng,
            rows=self._rows,
        )
        delta = trained - message.params
        return self._message(
            message, delta, "noisy_delta", float(self.num_examples), self.compression
        )


class DistributedDpSgdSilo(_Client):
    """A silo of distributed DP-SGD: its clipped-gradient sum plus its share of the noise."""

    def __init__(
        self,
        client_id: int,
        x: Array,
        y: Labels,
        rows: npt.ArrayLike,
        model: Mlp,
        rng: np.random.Generator,
        *,
        sampling_rate: float,
        clip_norm: float,
        noise_multiplier: float,
    ) -> None:
        super().__init__(client_id, x, y, rows, model, rng)
        self.sampling_rate = sampling_rate
        self.clip_norm = clip_norm
        self.noise_multiplier = noise_multiplier

    def fit(self, message: ModelMessage) -> UpdateMessage:
        if message.participants is None:
            raise InputError("<message>", "participants", "distributed DP needs the silo count")
        share = gradient_share(
            self.model,
            message.params,
            self._x,
            self._y,
            sampling_rate=self.sampling_rate,
            clip_norm=self.clip_norm,
            noise_multiplier=self.noise_multiplier,
            participants=message.participants,
            rng=self._rng,
            rows=self._rows,
        )
        return self._message(message, share, "gradient_share", float(self.num_examples))


# --- strategies --------------------------------------------------------------------------------


class Strategy(Protocol):
    """Flower's server strategy, reduced to what the simulator needs."""

    mode: Mode
    privacy_unit: str
    uses_aggregator: bool
    """True when updates go through an :data:`Aggregator` instead of straight to the server."""

    def configure_fit(
        self, round: int, params: Array, clients: Sequence[int]
    ) -> dict[int, ModelMessage]: ...

    def aggregate_fit(
        self, round: int, params: Array, received: Sequence[ReceivedMessage]
    ) -> FitOutcome: ...


class DpFedAvgStrategy:
    """McMahan et al. 2018, Alg. 1 (with Andrew et al. 2021, Alg. 1 when clipping adapts)."""

    mode: Mode = "dpfedavg"
    privacy_unit = "client"
    uses_aggregator = False

    def __init__(self, config: DpFedAvgConfig, population: int, rng: np.random.Generator) -> None:
        _require(
            _integer(population) and population >= 1,
            "population",
            "must be an integer >= 1",
            population,
        )
        self.config = config
        self.population = population
        self.clip_norm = float(config.clip_norm)
        self.expected_clients = config.client_sampling_rate * population
        adaptive = config.adaptive_clipping
        self.count_noise = 0.0
        if adaptive is not None:
            if adaptive.count_noise is not None:
                self.count_noise = adaptive.count_noise
            elif config.noise_multiplier > 0:
                self.count_noise = self.expected_clients / 20
        self.update_noise = (
            update_noise_multiplier(config.noise_multiplier, self.count_noise)
            if adaptive is not None
            else config.noise_multiplier
        )
        self._rng = rng
        self._velocity: Array | None = None

    def configure_fit(
        self, round: int, params: Array, clients: Sequence[int]
    ) -> dict[int, ModelMessage]:
        if len(clients) != self.population:
            raise InputError(
                _ARGUMENT,
                "clients",
                f"expected the whole population of {self.population} to sample from; found "
                f"{len(clients)}",
            )
        # Poisson sampling over the whole population, online or not: the amplification the
        # ledger claims assumes each client is in with probability q, independently.
        chosen = poisson_sample(len(clients), self.config.client_sampling_rate, self._rng)
        message = ModelMessage(
            round=round,
            params=_frozen(params),
            clip_norm=self.clip_norm,
            report_clipping=self.config.adaptive_clipping is not None,
        )
        return {int(clients[i]): message for i in chosen}

    def aggregate_fit(
        self, round: int, params: Array, received: Sequence[ReceivedMessage]
    ) -> FitOutcome:
        config = self.config
        clip = self.clip_norm
        total = np.zeros_like(params)
        centred_bits = 0.0
        for message in received:
            if not isinstance(message, UpdateMessage):
                continue
            # Re-clipped where the noise is added: stochastic rounding can lift a norm above C,
            # and the noise is calibrated to C whatever a client sent.
            clipped, _ = clip_to_norm(message.vector, clip)
            total += clipped
            if config.adaptive_clipping is not None:
                centred_bits += (1.0 if message.unclipped else 0.0) - 0.5
        # McMahan et al. 2018, Alg. 1: Δ = (Σ Δ_k + N(0, (zC)²)) / (qN).
        noisy = add_gaussian_noise(total, self.update_noise, clip, self._rng)
        mean = noisy / np.asarray(self.expected_clients, dtype=noisy.dtype)
        new_params = _server_step(
            params, mean, config.server_learning_rate, config.server_momentum, self, sign=1.0
        )
        fraction: float | None = None
        adaptive = config.adaptive_clipping
        if adaptive is not None:
            fraction = noisy_unclipped_fraction(
                centred_bits, self.count_noise, self.expected_clients, self._rng
            )
            self.clip_norm = geometric_clip_update(
                clip, fraction, adaptive.target_quantile, adaptive.learning_rate
            )
        mechanism: Mechanism = (
            DpFedAvg(
                noise_multiplier=config.noise_multiplier,
                client_sampling_rate=config.client_sampling_rate,
                rounds=1,
            )
            if config.noise_multiplier > 0
            else NonPrivate()
        )
        return FitOutcome(
            params=new_params,
            ledger=(LedgerItem(None, mechanism, {"round": round}),),
            clip_norm=clip,
            noise_multiplier=config.noise_multiplier,
            unclipped_fraction=fraction,
        )


class LocalDpSgdStrategy:
    """Cross-silo FedAvg of DP-SGD deltas: each silo's release is its own noisy delta."""

    mode: Mode = "local_dpsgd"
    privacy_unit = "example"
    uses_aggregator = False

    def __init__(
        self,
        config: LocalDpSgdConfig,
        partitions: Mapping[int, str],
        rng: np.random.Generator,
    ) -> None:
        self.config = config
        self.partitions = _check_partitions(partitions)
        self._rng = rng
        self._velocity: Array | None = None

    def configure_fit(
        self, round: int, params: Array, clients: Sequence[int]
    ) -> dict[int, ModelMessage]:
        chosen = _select(clients, self.config.silos_per_round, self._rng)
        message = ModelMessage(round=round, params=_frozen(params))
        return dict.fromkeys(chosen, message)

    def aggregate_fit(
        self, round: int, params: Array, received: Sequence[ReceivedMessage]
    ) -> FitOutcome:
        config = self.config
        updates = [m for m in received if isinstance(m, UpdateMessage)]
        new_params = np.array(params, copy=True)
        if updates:
            vectors = [u.vector for u in updates]
            weights = [u.weight if config.weighting == "size" else 1.0 for u in updates]
            mean = weighted_average(vectors, weights)
            new_params = _server_step(params, mean, config.server_learning_rate, 0.0, self, 1.0)
        ledger = tuple(
            LedgerItem(
                self.partitions[u.client_id],
                _dpsgd_or_non_private(
                    config.noise_multiplier, config.sampling_rate, config.local_steps
                ),
                {"round": round},
            )
            for u in updates
        )
        return FitOutcome(new_params, ledger, config.clip_norm, config.noise_multiplier)


class DistributedDpSgdStrategy:
    """DP-SGD over an aggregator: the server only needs the sum of the silos' shares."""

    mode: Mode = "distributed_dpsgd"
    privacy_unit = "example"
    uses_aggregator = True

    def __init__(
        self,
        config: DistributedDpSgdConfig,
        partitions: Mapping[int, str],
        sizes: Mapping[int, int],
        rng: np.random.Generator,
    ) -> None:
        self.config = config
        self.partitions = _check_partitions(partitions)
        if set(sizes) != set(self.partitions):
            raise InputError(_ARGUMENT, "sizes", "expected one size per silo, as partitions")
        self.sizes = dict(sizes)
        self._rng = rng
        self._velocity: Array | None = None
        self._asked: dict[int, int] = {}

    def configure_fit(
        self, round: int, params: Array, clients: Sequence[int]
    ) -> dict[int, ModelMessage]:
        chosen = _select(clients, self.config.silos_per_round, self._rng)
        self._asked = {round: len(chosen)}
        message = ModelMessage(round=round, params=_frozen(params), participants=len(chosen))
        return dict.fromkeys(chosen, message)

    def aggregate_fit(
        self, round: int, params: Array, received: Sequence[ReceivedMessage]
    ) -> FitOutcome:
        config = self.config
        sigma = config.noise_multiplier
        asked = self._asked.get(round, len(self.partitions))
        aggregates = [m for m in received if isinstance(m, AggregateMessage)]
        if len(aggregates) > 1:
            raise InputError("<message>", "round", f"expected one aggregate in round {round}")
        if not aggregates or not aggregates[0].survivors:
            return FitOutcome(np.array(params, copy=True), (), config.clip_norm, sigma)
        aggregate = aggregates[0]
        survivors = aggregate.survivors
        # DP-SGD's normaliser: the expected batch q·n of the silos in the sum (sizes public).
        expected_batch = config.sampling_rate * sum(self.sizes[s] for s in survivors)
        gradient = aggregate.total / np.asarray(expected_batch, dtype=aggregate.total.dtype)
        new_params = _server_step(
            params, gradient, config.learning_rate, config.momentum, self, sign=-1.0
        )
        k = len(survivors)
        if sigma == 0:
            ledger: tuple[LedgerItem, ...] = (
                LedgerItem(None, NonPrivate(), {"round": round, "survivors": k}),
            )
            effective = 0.0
        elif aggregate.reveals_inputs:
            # The server saw each share: a record is protected only by its own silo's share,
            # σC/√m of noise — DP-SGD on that silo's partition with multiplier σ/√m.
            effective = sigma / math.sqrt(asked)
            ledger = tuple(
                LedgerItem(
                    self.partitions[s],
                    DpSgd(
                        noise_multiplier=effective,
                        sampling_rate=config.sampling_rate,
                        steps=1,
                        sampling=Sampling.POISSON,
                    ),
                    {"round": round, "survivors": k},
                )
                for s in survivors
            )
        else:
            mechanism = DistributedGaussian(
                noise_multiplier=sigma,
                clients=asked,
                survivors=k,
                sampling_rate=config.sampling_rate,
                steps=1,
            )
            effective = mechanism.effective_noise_multiplier
            ledger = (LedgerItem(None, mechanism, {"round": round, "survivors": k}),)
        return FitOutcome(new_params, ledger, config.clip_norm, effective)


def _server_step(
    params: Array,
    update: Array,
    learning_rate: float,
    momentum: float,
    owner: DpFedAvgStrategy | LocalDpSgdStrategy | DistributedDpSgdStrategy,
    sign: float,
) -> Array:
    # Heavy-ball momentum, PyTorch's form: v ← μv + u; θ ← θ ± η·v (post-processing).
    if momentum:
        if owner._velocity is None:
            owner._velocity = np.zeros_like(params)
        owner._velocity *= momentum
        owner._velocity += update
        update = owner._velocity
    out: Array = (params + sign * learning_rate * update).astype(params.dtype, copy=False)
    return out


def _select(clients: Sequence[int], count: int | None, rng: np.random.Generator) -> list[int]:
    if count is None or count >= len(clients):
        return [int(c) for c in clients]
    chosen = np.sort(rng.choice(len(clients), size=count, replace=False))
    return [int(clients[i]) for i in chosen]


def _dpsgd_or_non_private(sigma: float, rate: float, steps: int) -> Mechanism:
    if sigma == 0:
        return NonPrivate()
    return DpSgd(noise_multiplier=sigma, sampling_rate=rate, steps=steps, sampling=Sampling.POISSON)


# --- server ------------------------------------------------------------------------------------


class Server:
    """Holds the global model and a strategy; sees only the messages it is handed.

    Every received message is logged in :attr:`received` (when ``keep_messages``; the log of a
    long run with large models can take gigabytes), in arrival order.
    """

    def __init__(
        self, strategy: Strategy, model: Mlp, params: Array, *, keep_messages: bool = True
    ) -> None:
        self.strategy = strategy
        self.model = model
        self._params = np.array(params, copy=True)
        self.keep_messages = keep_messages
        self._log: list[ReceivedMessage] = []
        self._round = 0
        self._asked: frozenset[int] = frozenset()
        self._pending: list[ReceivedMessage] = []

    @property
    def params(self) -> Array:
        """The current global model (a read-only copy)."""
        params: Array = _frozen(self._params)
        return params

    @property
    def received(self) -> tuple[ReceivedMessage, ...]:
        """Every message the server received, in order (empty unless ``keep_messages``)."""
        return tuple(self._log)

    def configure_fit(self, round: int, clients: Sequence[int]) -> dict[int, ModelMessage]:
        messages = self.strategy.configure_fit(round, self._params, clients)
        self._round = round
        self._asked = frozenset(messages)
        self._pending = []
        return messages

    def receive(self, message: ReceivedMessage) -> None:
        if message.round != self._round:
            raise InputError(
                "<message>", "round", f"expected round {self._round}; found {message.round}"
            )
        if isinstance(message, UpdateMessage | EvaluateMessage) and (
            message.client_id not in self._asked
        ):
            raise InputError(
                "<message>",
                "client_id",
                f"client {message.client_id} was not asked in round {self._round}",
            )
        self._pending.append(message)
        if self.keep_messages:
            self._log.append(message)

    def aggregate_fit(self, round: int) -> FitOutcome:
        outcome = self.strategy.aggregate_fit(round, self._params, tuple(self._pending))
        self._params = np.array(outcome.params, copy=True)
        self._pending = []
        return outcome

    def evaluate(self, x: Array, y: Labels) -> dict[str, float]:
        """Centralised evaluation on (public) test data."""
        return evaluate(self.model, self._params, x, y)


# --- simulation --------------------------------------------------------------------------------

RoundCallback = Callable[[RoundRecord], None]


def simulate(
    server: Server,
    clients: Mapping[int, FitClient],
    rounds: int,
    *,
    environment: np.random.Generator,
    heterogeneity: Heterogeneity | None = None,
    aggregator: Aggregator | None = None,
    test_data: tuple[Array, Labels] | None = None,
    evaluate_every: int = 1,
    on_round: RoundCallback | None = None,
) -> FederatedResult:
    """Run ``rounds`` rounds: the server configures, online clients fit, updates reach the
    server (or the ``aggregator``, for strategies that use one), the server aggregates.

    ``environment`` draws dropouts and stragglers. With ``test_data`` the model is evaluated
    every ``evaluate_every`` rounds and after the last.
    """
    _check_rounds(rounds)
    _require(
        _integer(evaluate_every) and evaluate_every >= 1,
        "evaluate_every",
        "must be an integer >= 1",
        evaluate_every,
    )
    strategy = server.strategy
    if strategy.uses_aggregator and aggregator is None:
        raise InputError(_ARGUMENT, "aggregator", f"{strategy.mode} needs an aggregator")
    world = heterogeneity or Heterogeneity()
    population = sorted(clients)
    straggling = world.straggler_probability
    if isinstance(straggling, tuple) and len(straggling) != len(population):
        raise InputError(
            _ARGUMENT,
            "straggler_probability",
            f"expected one probability per client ({len(population)}); found {len(straggling)}",
        )
    position = {client: i for i, client in enumerate(population)}
    if test_data is not None:
        test_data = _evaluation_data(server.model, *test_data)
    start = time.perf_counter()
    records: list[RoundRecord] = []
    ledger: list[LedgerItem] = []
    for r in range(1, rounds + 1):
        messages = server.configure_fit(r, population)
        selected = tuple(sorted(messages))
        dropped: list[int] = []
        stragglers: list[int] = []
        delivered: dict[int, UpdateMessage] = {}
        bytes_down = 0
        for client in selected:
            if world.offline(client, r, environment):
                dropped.append(client)
                continue
            bytes_down += messages[client].nbytes
            if world.straggles(position[client], environment):
                stragglers.append(client)
                continue
            delivered[client] = clients[client].fit(messages[client])
        bytes_up = 0
        if strategy.uses_aggregator:
            assert aggregator is not None  # checked above
            survivors: tuple[int, ...] = ()
            if delivered:
                result = aggregator(r, {c: u.vector for c, u in delivered.items()})
                survivors = tuple(result.survivors)
                if not set(survivors) <= set(delivered):
                    raise InputError(
                        _ARGUMENT,
                        "aggregator",
                        f"reported survivors {survivors} outside its inputs in round {r}",
                    )
                if result.reveals_inputs:
                    for client in survivors:
                        server.receive(delivered[client])
                if result.total is not None and survivors:
                    server.receive(
                        AggregateMessage(
                            round=r,
                            total=_frozen(result.total),
                            survivors=survivors,
                            planned=tuple(sorted(delivered)),
                            reveals_inputs=result.reveals_inputs,
                            server_view=result.server_view,
                            nbytes=result.bytes_server,
                        )
                    )
                else:
                    survivors = ()
                bytes_up = sum(result.bytes_per_client.values())
                bytes_down += result.bytes_to_clients
        else:
            for update in delivered.values():
                server.receive(update)
                bytes_up += update.nbytes
            survivors = tuple(delivered)
        outcome = server.aggregate_fit(r)
        ledger.extend(outcome.ledger)
        metrics = None
        if test_data is not None and (r % evaluate_every == 0 or r == rounds):
            metrics = _metrics(server.model, server.params, *test_data)
        records.append(
            RoundRecord(
                round=r,
                selected=selected,
                dropped=tuple(dropped),
                stragglers=tuple(stragglers),
                survivors=survivors,
                bytes_up=bytes_up,
                bytes_down=bytes_down,
                clip_norm=outcome.clip_norm,
                noise_multiplier=outcome.noise_multiplier,
                unclipped_fraction=outcome.unclipped_fraction,
                metrics=metrics,
                seconds=time.perf_counter() - start,
            )
        )
        if on_round is not None:
            on_round(records[-1])
    return FederatedResult(
        mode=strategy.mode,
        privacy_unit=strategy.privacy_unit,
        rounds=tuple(records),
        ledger_entries=tuple(ledger),
        params=server.params,
        model=server.model,
        server=server,
        seed=None,
        wall_time=time.perf_counter() - start,
    )


# --- one-call runs -----------------------------------------------------------------------------


def run_dp_fedavg(
    x: Array,
    y: Labels,
    parts: Sequence[npt.ArrayLike],
    config: DpFedAvgConfig,
    *,
    x_test: Array | None = None,
    y_test: Labels | None = None,
    n_classes: int | None = None,
    heterogeneity: Heterogeneity | None = None,
    evaluate_every: int = 1,
    keep_messages: bool = False,
    on_round: RoundCallback | None = None,
) -> FederatedResult:
    """Client-level DP-FedAvg with client i holding the records ``parts[i]`` of ``x``/``y``
    (e.g. from :mod:`privaudit.data.partition`)."""
    setup = _setup(x, y, parts, x_test, y_test, n_classes, config.model, config.seed)
    clients = {
        i: DpFedAvgClient(
            i,
            setup.x,
            setup.y,
            rows,
            setup.model,
            setup.client_rngs[i],
            epochs=config.local_epochs,
            batch_size=config.local_batch_size,
            learning_rate=config.local_learning_rate,
            compression=config.compression,
        )
        for i, rows in enumerate(setup.parts)
    }
    strategy = DpFedAvgStrategy(config, len(clients), setup.server_rng)
    server = Server(strategy, setup.model, setup.params, keep_messages=keep_messages)
    result = simulate(
        server,
        clients,
        config.rounds,
        environment=setup.environment,
        heterogeneity=heterogeneity,
        test_data=setup.test,
        evaluate_every=evaluate_every,
        on_round=on_round,
    )
    return replace(result, seed=setup.seed)


def run_local_dpsgd(
    x: Array,
    y: Labels,
    parts: Sequence[npt.ArrayLike],
    config: LocalDpSgdConfig,
    *,
    x_test: Array | None = None,
    y_test: Labels | None = None,
    n_classes: int | None = None,
    silo_names: Sequence[str] | None = None,
    heterogeneity: Heterogeneity | None = None,
    evaluate_every: int = 1,
    keep_messages: bool = False,
    on_round: RoundCallback | None = None,
) -> FederatedResult:
    """Cross-silo training, each silo running DP-SGD locally on the records ``parts[i]``;
    silo i is the ledger partition ``silo_names[i]`` (default ``silo-i``)."""
    setup = _setup(x, y, parts, x_test, y_test, n_classes, config.model, config.seed)
    names = _silo_names(silo_names, len(setup.parts))
    clients = {
        i: LocalDpSgdSilo(
            i,
            setup.x,
            setup.y,
            rows,
            setup.model,
            setup.client_rngs[i],
            steps=config.local_steps,
            sampling_rate=config.sampling_rate,
            clip_norm=config.clip_norm,
            noise_multiplier=config.noise_multiplier,
            learning_rate=config.learning_rate,
            momentum=config.momentum,
            compression=config.compression,
        )
        for i, rows in enumerate(setup.parts)
    }
    strategy = LocalDpSgdStrategy(config, dict(enumerate(names)), setup.server_rng)
    server = Server(strategy, setup.model, setup.params, keep_messages=keep_messages)
    result = simulate(
        server,
        clients,
        config.rounds,
        environment=setup.environment,
        heterogeneity=heterogeneity,
        test_data=setup.test,
        evaluate_every=evaluate_every,
        on_round=on_round,
    )
    return replace(result, seed=setup.seed)


def run_distributed_dpsgd(
    x: Array,
    y: Labels,
    parts: Sequence[npt.ArrayLike],
    config: DistributedDpSgdConfig,
    *,
    aggregator: Aggregator = plain_sum,
    x_test: Array | None = None,
    y_test: Labels | None = None,
    n_classes: int | None = None,
    silo_names: Sequence[str] | None = None,
    heterogeneity: Heterogeneity | None = None,
    evaluate_every: int = 1,
    keep_messages: bool = False,
    on_round: RoundCallback | None = None,
) -> FederatedResult:
    """Cross-silo DP-SGD with distributed noise, silo i holding the records ``parts[i]``. With
    the default :func:`plain_sum` the server sees every share, and the ledger records that
    weaker per-silo guarantee; pass :func:`secure_aggregator` (or :func:`ideal_secure_sum`)
    for the distributed-Gaussian guarantee."""
    setup = _setup(x, y, parts, x_test, y_test, n_classes, config.model, config.seed)
    names = _silo_names(silo_names, len(setup.parts))
    clients = {
        i: DistributedDpSgdSilo(
            i,
            setup.x,
            setup.y,
            rows,
            setup.model,
            setup.client_rngs[i],
            sampling_rate=config.sampling_rate,
            clip_norm=config.clip_norm,
            noise_multiplier=config.noise_multiplier,
        )
        for i, rows in enumerate(setup.parts)
    }
    sizes = {i: len(rows) for i, rows in enumerate(setup.parts)}
    strategy = DistributedDpSgdStrategy(config, dict(enumerate(names)), sizes, setup.server_rng)
    server = Server(strategy, setup.model, setup.params, keep_messages=keep_messages)
    result = simulate(
        server,
        clients,
        config.rounds,
        environment=setup.environment,
        heterogeneity=heterogeneity,
        aggregator=aggregator,
        test_data=setup.test,
        evaluate_every=evaluate_every,
        on_round=on_round,
    )
    return replace(result, seed=setup.seed)


@dataclass(frozen=True, eq=False)
class _Setup:
    x: Array
    y: Labels
    parts: list[Rows]
    test: tuple[Array, Labels] | None
    model: Mlp
    params: Array
    seed: int | Literal["crypto"]
    server_rng: np.random.Generator
    environment: np.random.Generator
    client_rngs: list[np.random.Generator]


def _setup(
    x: Array,
    y: Labels,
    parts: Sequence[npt.ArrayLike],
    x_test: Array | None,
    y_test: Labels | None,
    n_classes: int | None,
    spec: ModelSpec,
    seed: int | None,
) -> _Setup:
    x = _features(x, "x")
    y = _labels(y, "y", len(x))
    rows = _parts(parts, len(x))
    test: tuple[Array, Labels] | None = None
    if (x_test is None) != (y_test is None):
        raise InputError(_ARGUMENT, "x_test", "give both x_test and y_test, or neither")
    if x_test is not None and y_test is not None:
        xt = _features(x_test, "x_test")
        if xt.shape[1] != x.shape[1]:
            raise InputError(
                _ARGUMENT, "x_test", f"expected {x.shape[1]} features like x; found {xt.shape[1]}"
            )
        test = (xt, _labels(y_test, "y_test", len(xt)))
    if n_classes is None:
        # Public labels (the test set) decide when given, as in train_dpsgd.
        source = test[1] if test is not None and len(test[1]) else y
        n_classes = int(source.max()) + 1 if len(source) else 2
    for name, labels in (("y", y), ("y_test", None if test is None else test[1])):
        if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise InputError(_ARGUMENT, name, f"labels must be in 0..{n_classes - 1} (n_classes)")
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    x = x.astype(dtype, copy=False)
    if test is not None:
        test = (test[0].astype(dtype, copy=False), test[1])
    model = spec.build(x.shape[1], max(int(n_classes), 2))
    entropy = secrets.randbits(128) if seed is None else seed
    streams = np.random.SeedSequence(entropy).spawn(3 + len(rows))
    generators = [np.random.Generator(np.random.PCG64(s)) for s in streams]
    params = model.init(generators[2], dtype)
    return _Setup(
        x=x,
        y=y,
        parts=rows,
        test=test,
        model=model,
        params=params,
        seed="crypto" if seed is None else seed,
        server_rng=generators[0],
        environment=generators[1],
        client_rngs=generators[3:],
    )


# --- evaluation --------------------------------------------------------------------------------


def evaluate(
    model: Mlp, params: Array, x: Array, y: Labels, *, chunk: int = 8192
) -> dict[str, float]:
    """Test metrics: ``loss`` (mean cross-entropy), ``accuracy``, ``macro_f1`` (over the classes
    present in the labels or predictions) and, for two classes, ``roc_auc`` and ``auprc``
    (average precision, class 1 positive; NaN when the labels hold one class only)."""
    x, y = _evaluation_data(model, x, y)
    return _metrics(model, params, x, y, chunk)


def _evaluation_data(model: Mlp, x: Any, y: Any) -> tuple[Array, Labels]:
    x = _features(x, "x")
    y = _labels(y, "y", len(x))
    if not len(x):
        raise InputError(_ARGUMENT, "x", "is empty; nothing to evaluate")
    if y.min() < 0 or y.max() >= model.n_classes:
        raise InputError(_ARGUMENT, "y", f"labels must be in 0..{model.n_classes - 1}")
    return x, y


def _metrics(model: Mlp, params: Array, x: Array, y: Labels, chunk: int = 8192) -> dict[str, float]:
    # Checked data only: scanning a large test set for NaN on every round costs more than the
    # evaluation itself.
    binary = model.n_classes == 2
    predictions: list[npt.NDArray[np.int64]] = []
    scores: list[npt.NDArray[np.float64]] = []
    loss = 0.0
    for start in range(0, len(x), chunk):
        z = model.logits(params, x[start : start + chunk]).astype(np.float64)
        labels = y[start : start + chunk]
        top = z.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
        loss += float(np.sum(log_norm - z[np.arange(len(z)), labels]))
        predictions.append(np.argmax(z, axis=1).astype(np.int64))
        if binary:
            scores.append(z[:, 1] - z[:, 0])  # monotone in p(class 1): ranks like it
    predicted = np.concatenate(predictions)
    sk = importlib.import_module("sklearn.metrics")
    out = {
        "loss": loss / len(x),
        "accuracy": float(np.mean(predicted == y)),
        "macro_f1": float(sk.f1_score(y, predicted, average="macro", zero_division=0)),
    }
    if binary:
        score = np.concatenate(scores)
        both = len(np.unique(y)) == 2
        out["roc_auc"] = float(sk.roc_auc_score(y, score)) if both else math.nan
        out["auprc"] = float(sk.average_precision_score(y, score)) if both else math.nan
    return out


# --- ledger ------------------------------------------------------------------------------------


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
            raise InputError(_ARGUMENT, "entries", "expected meta with an integer 'round'")
        head = {"first_round": round_, "last_round": round_, **meta}
        at = last.get(item.partition)
        if at is not None:
            previous = out[at]
            same_meta = {
                k: v for k, v in previous.meta.items() if k not in ("first_round", "last_round")
            } == meta
            merged = _merged(previous.mechanism, item.mechanism)
            short = (
                max_rounds is None
                or previous.meta["last_round"] - previous.meta["first_round"] + 1 < max_rounds
            )
            if (
                same_meta
                and short
                and previous.meta["last_round"] + 1 == round_
                and merged is not None
            ):
                out[at] = LedgerItem(
                    item.partition, merged, {**previous.meta, "last_round": round_}
                )
                continue
        last[item.partition] = len(out)
        out.append(LedgerItem(item.partition, item.mechanism, head))
    return out


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
    return [
        append_entry(
            ledger_path,
            dataset=dataset,
            mechanism=item.mechanism,
            partition=item.partition,
            privacy_unit=unit,
            run=run,
            meta=item.meta,
        )
        for item in items
    ]


# --- validation and helpers --------------------------------------------------------------------


def _frozen(array: npt.ArrayLike) -> Any:
    copy = np.array(array, copy=True)
    copy.setflags(write=False)
    return copy


def _read_only(array: Any) -> Any:
    view = np.asarray(array).view()
    view.setflags(write=False)
    return view


def _features(x: Any, name: str) -> Array:
    array = np.asarray(x)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        raise InputError(
            _ARGUMENT,
            name,
            f"expected float features of shape (n, d); found {array.dtype} {array.shape}",
        )
    if not np.all(np.isfinite(array)):
        raise InputError(_ARGUMENT, name, "contains NaN or infinite values")
    return array


def _labels(y: Any, name: str, n: int) -> Labels:
    array = np.asarray(y)
    if array.shape != (n,) or not np.issubdtype(array.dtype, np.integer):
        raise InputError(
            _ARGUMENT,
            name,
            f"expected {n} integer labels, one per example; found {array.dtype} {array.shape}",
        )
    return array


def _parts(parts: Sequence[npt.ArrayLike], n: int) -> list[Rows]:
    if len(parts) == 0:
        raise InputError(_ARGUMENT, "parts", "expected at least one client")
    rows: list[Rows] = []
    seen = np.zeros(n, dtype=np.int64)
    for i, part in enumerate(parts):
        index = np.asarray(part)
        if index.ndim != 1 or (index.size and not np.issubdtype(index.dtype, np.integer)):
            raise InputError(_ARGUMENT, f"parts[{i}]", "expected a 1-D integer index array")
        if index.size == 0:
            raise InputError(_ARGUMENT, f"parts[{i}]", "is empty; every client needs records")
        if index.min() < 0 or index.max() >= n:
            raise InputError(_ARGUMENT, f"parts[{i}]", f"expected indices in 0..{n - 1}")
        np.add.at(seen, index, 1)
        rows.append(index.astype(np.int64))
    if (seen > 1).any():
        record = int(np.argmax(seen > 1))
        # A record in two clients would be two privacy units' data: parallel composition fails.
        raise InputError(
            _ARGUMENT, "parts", f"expected disjoint parts; record {record} is in {seen[record]}"
        )
    return rows


def _silo_names(names: Sequence[str] | None, count: int) -> list[str]:
    chosen = [f"silo-{i}" for i in range(count)] if names is None else list(names)
    if len(chosen) != count:
        raise InputError(
            _ARGUMENT, "silo_names", f"expected {count} names, one per silo; found {len(chosen)}"
        )
    return chosen


def _check_partitions(partitions: Mapping[int, str]) -> dict[int, str]:
    names = dict(partitions)
    for client, name in names.items():
        if not (isinstance(name, str) and _IDENTIFIER.fullmatch(name)):
            raise InputError(
                _ARGUMENT,
                f"silo_names[{client}]",
                "expected a ledger partition name (letters, digits, '.', '_' or '-', starting "
                f"with a letter or digit); found {describe_value(name)}",
            )
    if len(set(names.values())) != len(names):
        raise InputError(_ARGUMENT, "silo_names", "expected distinct names, one per silo")
    return names


def _check_rounds(rounds: int) -> None:
    _require(_integer(rounds) and rounds >= 1, "rounds", "must be an integer >= 1", rounds)


def _check_rate(rate: float, name: str) -> None:
    _require(_finite(rate) and 0 < rate <= 1, name, "must be in (0, 1]", rate)


def _check_noise(sigma: float) -> None:
    _require(_finite(sigma) and sigma >= 0, "noise_multiplier", "must be >= 0", sigma)


def _check_positive(value: float, name: str) -> None:
    _require(_finite(value) and value > 0, name, "must be > 0", value)


def _check_count(value: int, name: str) -> None:
    _require(_integer(value) and value >= 1, name, "must be an integer >= 1", value)


def _check_momentum(value: float, name: str) -> None:
    _require(_finite(value) and 0 <= value < 1, name, "must be in [0, 1)", value)


def _check_selection(count: int | None) -> None:
    _require(
        count is None or (_integer(count) and count >= 1),
        "silos_per_round",
        "must be None (every silo) or an integer >= 1",
        count,
    )


def _check_common(model: ModelSpec, seed: int | None, compression: Compression | None) -> None:
    _require(isinstance(model, ModelSpec), "model", "expected a ModelSpec", model)
    _require(
        seed is None or (_integer(seed) and seed >= 0),
        "seed",
        "must be None (cryptographic seeding) or an integer >= 0",
        seed,
    )
    _require(
        compression is None or isinstance(compression, Compression),
        "compression",
        "expected None or a Compression",
        compression,
    )


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require(ok: bool, field_name: str, problem: str, found: object) -> None:
    if not ok:
        raise InputError(_ARGUMENT, field_name, f"{problem}; found {describe_value(found)}")
