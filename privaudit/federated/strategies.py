"""The server strategies of the three modes (Flower's ``Strategy``): whom to ask each round, how
to turn what comes back into the next model, and which releases that was for the ledger."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from privaudit.checks import ARGUMENT, require_count
from privaudit.errors import InputError, describe_value
from privaudit.federated.adaptive_clipping import (
    geometric_clip_update,
    noisy_unclipped_fraction,
    update_noise_multiplier,
)
from privaudit.federated.arrays import frozen
from privaudit.federated.averaging import weighted_average
from privaudit.federated.config import DistributedDpSgdConfig, DpFedAvgConfig, LocalDpSgdConfig
from privaudit.federated.messages import (
    AggregateMessage,
    ModelMessage,
    ReceivedMessage,
    UpdateMessage,
)
from privaudit.federated.results import FitOutcome, LedgerItem, Mode
from privaudit.federated.updates import clip_to_norm
from privaudit.mechanisms import (
    DistributedGaussian,
    DpFedAvg,
    DpSgd,
    Mechanism,
    NonPrivate,
    Sampling,
)
from privaudit.train.dpsgd import add_gaussian_noise, poisson_sample
from privaudit.train.models import Array

# The ledger's identifier rule (privaudit.ledger): silo names become ledger partitions.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


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


class _ServerOptimizer:
    """Heavy-ball momentum on the server, PyTorch's form: v ← μv + u; θ ← θ ± η·v."""

    def __init__(self) -> None:
        self._velocity: Array | None = None

    def step(
        self, params: Array, update: Array, learning_rate: float, momentum: float, sign: float
    ) -> Array:
        # Post-processing of the released update: it costs no privacy.
        if momentum:
            if self._velocity is None:
                self._velocity = np.zeros_like(params)
            self._velocity *= momentum
            self._velocity += update
            update = self._velocity
        out: Array = (params + sign * learning_rate * update).astype(params.dtype, copy=False)
        return out


class DpFedAvgStrategy:
    """McMahan et al. 2018, Alg. 1 (with Andrew et al. 2021, Alg. 1 when clipping adapts)."""

    mode: Mode = "dpfedavg"
    privacy_unit = "client"
    uses_aggregator = False

    def __init__(self, config: DpFedAvgConfig, population: int, rng: np.random.Generator) -> None:
        require_count(population, "population")
        self.config = config
        self.population = population
        self.clip_norm = float(config.clip_norm)
        self.expected_clients = config.client_sampling_rate * population
        self.count_noise = _count_noise(config, self.expected_clients)
        self.update_noise = (
            update_noise_multiplier(config.noise_multiplier, self.count_noise)
            if config.adaptive_clipping is not None
            else config.noise_multiplier
        )
        self._rng = rng
        self._optimizer = _ServerOptimizer()

    def configure_fit(
        self, round: int, params: Array, clients: Sequence[int]
    ) -> dict[int, ModelMessage]:
        if len(clients) != self.population:
            raise InputError(
                ARGUMENT,
                "clients",
                f"expected the whole population of {self.population} to sample from; found "
                f"{len(clients)}",
            )
        # Poisson sampling over the whole population, online or not: the amplification the
        # ledger claims assumes each client is in with probability q, independently.
        chosen = poisson_sample(len(clients), self.config.client_sampling_rate, self._rng)
        message = ModelMessage(
            round=round,
            params=frozen(params),
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
        new_params = self._optimizer.step(
            params, mean, config.server_learning_rate, config.server_momentum, sign=1.0
        )
        fraction = self._adapt_clip_norm(centred_bits)
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

    def _adapt_clip_norm(self, centred_bits: float) -> float | None:
        # Andrew et al. 2021, Alg. 1: the noisy unclipped fraction moves C for the next round.
        adaptive = self.config.adaptive_clipping
        if adaptive is None:
            return None
        fraction = noisy_unclipped_fraction(
            centred_bits, self.count_noise, self.expected_clients, self._rng
        )
        self.clip_norm = geometric_clip_update(
            self.clip_norm, fraction, adaptive.target_quantile, adaptive.learning_rate
        )
        return fraction


class _SiloStrategy:
    """What the cross-silo strategies share: silos named for their ledger partitions, a random
    subset of them asked each round, and the server's optimiser."""

    privacy_unit = "example"

    def __init__(
        self, partitions: Mapping[int, str], silos_per_round: int | None, rng: np.random.Generator
    ) -> None:
        self.partitions = _check_partitions(partitions)
        self._silos_per_round = silos_per_round
        self._rng = rng
        self._optimizer = _ServerOptimizer()

    def _ask(self, clients: Sequence[int]) -> list[int]:
        if self._silos_per_round is None or self._silos_per_round >= len(clients):
            return [int(c) for c in clients]
        chosen = np.sort(self._rng.choice(len(clients), size=self._silos_per_round, replace=False))
        return [int(clients[i]) for i in chosen]


class LocalDpSgdStrategy(_SiloStrategy):
    """Cross-silo FedAvg of DP-SGD deltas: each silo's release is its own noisy delta."""

    mode: Mode = "local_dpsgd"
    uses_aggregator = False

    def __init__(
        self, config: LocalDpSgdConfig, partitions: Mapping[int, str], rng: np.random.Generator
    ) -> None:
        self.config = config
        super().__init__(partitions, config.silos_per_round, rng)

    def configure_fit(
        self, round: int, params: Array, clients: Sequence[int]
    ) -> dict[int, ModelMessage]:
        message = ModelMessage(round=round, params=frozen(params))
        return dict.fromkeys(self._ask(clients), message)

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
            new_params = self._optimizer.step(
                params, mean, config.server_learning_rate, 0.0, sign=1.0
            )
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


class DistributedDpSgdStrategy(_SiloStrategy):
    """DP-SGD over an aggregator: the server only needs the sum of the silos' shares."""

    uses_aggregator = True
    mode: Mode = "distributed_dpsgd"

    def __init__(
        self,
        config: DistributedDpSgdConfig,
        partitions: Mapping[int, str],
        sizes: Mapping[int, int],
        rng: np.random.Generator,
    ) -> None:
        self.config = config
        super().__init__(partitions, config.silos_per_round, rng)
        if set(sizes) != set(self.partitions):
            raise InputError(ARGUMENT, "sizes", "expected one size per silo, as partitions")
        self.sizes = dict(sizes)
        self._asked: dict[int, int] = {}

    def configure_fit(
        self, round: int, params: Array, clients: Sequence[int]
    ) -> dict[int, ModelMessage]:
        chosen = self._ask(clients)
        self._asked = {round: len(chosen)}
        message = ModelMessage(round=round, params=frozen(params), participants=len(chosen))
        return dict.fromkeys(chosen, message)

    def aggregate_fit(
        self, round: int, params: Array, received: Sequence[ReceivedMessage]
    ) -> FitOutcome:
        config = self.config
        aggregates = [m for m in received if isinstance(m, AggregateMessage)]
        if len(aggregates) > 1:
            raise InputError("<message>", "round", f"expected one aggregate in round {round}")
        if not aggregates or not aggregates[0].survivors:
            return FitOutcome(
                np.array(params, copy=True), (), config.clip_norm, config.noise_multiplier
            )
        aggregate = aggregates[0]
        # DP-SGD's normaliser: the expected batch q·n of the silos in the sum (sizes public).
        expected_batch = config.sampling_rate * sum(self.sizes[s] for s in aggregate.survivors)
        gradient = aggregate.total / np.asarray(expected_batch, dtype=aggregate.total.dtype)
        new_params = self._optimizer.step(
            params, gradient, config.learning_rate, config.momentum, sign=-1.0
        )
        ledger, effective = self._releases(round, aggregate)
        return FitOutcome(new_params, ledger, config.clip_norm, effective)

    def _releases(
        self, round: int, aggregate: AggregateMessage
    ) -> tuple[tuple[LedgerItem, ...], float]:
        """The round's ledger items and the effective noise multiplier they record."""
        config = self.config
        sigma = config.noise_multiplier
        asked = self._asked.get(round, len(self.partitions))
        survivors = aggregate.survivors
        meta = {"round": round, "survivors": len(survivors)}
        if sigma == 0:
            return (LedgerItem(None, NonPrivate(), meta),), 0.0
        if aggregate.reveals_inputs:
            # The server saw each share: a record is protected only by its own silo's share,
            # σC/√m of noise — DP-SGD on that silo's partition with multiplier σ/√m.
            effective = sigma / math.sqrt(asked)
            step = DpSgd(
                noise_multiplier=effective,
                sampling_rate=config.sampling_rate,
                steps=1,
                sampling=Sampling.POISSON,
            )
            items = tuple(LedgerItem(self.partitions[s], step, dict(meta)) for s in survivors)
            return items, effective
        mechanism = DistributedGaussian(
            noise_multiplier=sigma,
            clients=asked,
            survivors=len(survivors),
            sampling_rate=config.sampling_rate,
            steps=1,
        )
        return (LedgerItem(None, mechanism, meta),), mechanism.effective_noise_multiplier


def _count_noise(config: DpFedAvgConfig, expected_clients: float) -> float:
    # σ_b of the clipped-count query: as configured, else Andrew et al.'s qN/20 (none without
    # noise, since z = 0 leaves no budget to split).
    adaptive = config.adaptive_clipping
    if adaptive is None:
        return 0.0
    if adaptive.count_noise is not None:
        return adaptive.count_noise
    return expected_clients / 20 if config.noise_multiplier > 0 else 0.0


def _dpsgd_or_non_private(sigma: float, rate: float, steps: int) -> Mechanism:
    if sigma == 0:
        return NonPrivate()
    return DpSgd(noise_multiplier=sigma, sampling_rate=rate, steps=steps, sampling=Sampling.POISSON)


def _check_partitions(partitions: Mapping[int, str]) -> dict[int, str]:
    names = dict(partitions)
    for client, name in names.items():
        if not (isinstance(name, str) and _IDENTIFIER.fullmatch(name)):
            raise InputError(
                ARGUMENT,
                f"silo_names[{client}]",
                "expected a ledger partition name (letters, digits, '.', '_' or '-', starting "
                f"with a letter or digit); found {describe_value(name)}",
            )
    if len(set(names.values())) != len(names):
        raise InputError(ARGUMENT, "silo_names", "expected distinct names, one per silo")
    return names
