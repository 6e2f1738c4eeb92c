"""The configurations of the three privacy modes, each refused at construction when unusable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from privaudit.checks import (
    is_finite,
    is_integer,
    require,
    require_count,
    require_non_negative,
    require_positive,
    require_rate,
    require_unit_interval,
)
from privaudit.federated.compression import Compression
from privaudit.train.models import ModelSpec

Weighting = Literal["size", "uniform"]


@dataclass(frozen=True)
class AdaptiveClipping:
    """Andrew et al. 2021, Alg. 1: track the ``target_quantile`` γ of the update norms with a
    geometric step ``learning_rate`` η_C, estimating the unclipped fraction with noise
    ``count_noise`` σ_b (default: expected clients / 20, their §3 recommendation)."""

    target_quantile: float = 0.5
    learning_rate: float = 0.2
    count_noise: float | None = None

    def __post_init__(self) -> None:
        require(
            is_finite(self.target_quantile) and 0 < self.target_quantile < 1,
            "adaptive_clipping.target_quantile",
            "must be in (0, 1)",
            self.target_quantile,
        )
        require_positive(self.learning_rate, "adaptive_clipping.learning_rate")
        require(
            self.count_noise is None or (is_finite(self.count_noise) and self.count_noise >= 0),
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
        require_count(self.rounds, "rounds")
        require_rate(self.client_sampling_rate, "client_sampling_rate")
        require_non_negative(self.noise_multiplier, "noise_multiplier")
        require_positive(self.clip_norm, "clip_norm")
        require_count(self.local_epochs, "local_epochs")
        require_count(self.local_batch_size, "local_batch_size")
        require_positive(self.local_learning_rate, "local_learning_rate")
        require_positive(self.server_learning_rate, "server_learning_rate")
        require_unit_interval(self.server_momentum, "server_momentum")
        _check_common(self.model, self.seed, self.compression)
        require(
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
        _check_dpsgd_steps(self)
        require_count(self.local_steps, "local_steps")
        require_unit_interval(self.momentum, "momentum")
        require_positive(self.server_learning_rate, "server_learning_rate")
        require(
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
        _check_dpsgd_steps(self)
        require_unit_interval(self.momentum, "momentum")
        _check_selection(self.silos_per_round)
        _check_common(self.model, self.seed, None)


def _check_dpsgd_steps(config: LocalDpSgdConfig | DistributedDpSgdConfig) -> None:
    # The cross-silo modes share DP-SGD's step parameters, checked in one order for both.
    require_count(config.rounds, "rounds")
    require_non_negative(config.noise_multiplier, "noise_multiplier")
    require_positive(config.clip_norm, "clip_norm")
    require_rate(config.sampling_rate, "sampling_rate")
    require_positive(config.learning_rate, "learning_rate")


def _check_selection(count: int | None) -> None:
    require(
        count is None or (is_integer(count) and count >= 1),
        "silos_per_round",
        "must be None (every silo) or an integer >= 1",
        count,
    )


def _check_common(model: ModelSpec, seed: int | None, compression: Compression | None) -> None:
    require(isinstance(model, ModelSpec), "model", "expected a ModelSpec", model)
    require(
        seed is None or (is_integer(seed) and seed >= 0),
        "seed",
        "must be None (cryptographic seeding) or an integer >= 0",
        seed,
    )
    require(
        compression is None or isinstance(compression, Compression),
        "compression",
        "expected None or a Compression",
        compression,
    )
