"""The clients of the three modes: each answers a model message with one update message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, InitVar, dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from privaudit.errors import InputError
from privaudit.federated.arrays import Rows, read_only
from privaudit.federated.compression import Compression, encode
from privaudit.federated.evaluation import evaluate
from privaudit.federated.messages import EvaluateMessage, ModelMessage, UpdateKind, UpdateMessage
from privaudit.federated.updates import clip_to_norm, gradient_share, local_dpsgd, local_sgd
from privaudit.train.models import Array, Labels, Mlp


class FitClient(Protocol):
    """Anything that answers a :class:`ModelMessage` with an :class:`UpdateMessage`."""

    def fit(self, message: ModelMessage) -> UpdateMessage: ...


@dataclass(eq=False)
class _Client:
    """A client's data (its ``rows`` of a shared read-only feature array), model and generator."""

    client_id: int
    x: InitVar[Array]
    y: InitVar[Labels]
    rows: InitVar[npt.ArrayLike]
    model: Mlp
    rng: InitVar[np.random.Generator]

    def __post_init__(
        self, x: Array, y: Labels, rows: npt.ArrayLike, rng: np.random.Generator
    ) -> None:
        self._x = read_only(x)
        self._y = read_only(y)
        self._rows: Rows = np.asarray(rows, dtype=np.int64)
        self._rng = rng

    @property
    def num_examples(self) -> int:
        return len(self._rows)

    def evaluate(self, message: ModelMessage) -> EvaluateMessage:
        """Metrics of the received model on this client's own records (un-noised)."""
        metrics = evaluate(self.model, message.params, self._x[self._rows], self._y[self._rows])
        return EvaluateMessage(self.client_id, message.round, self.num_examples, metrics)

    def _update(self, compute: Callable[..., Array], params: Array, **settings: Any) -> Array:
        """``compute`` (a function of :mod:`privaudit.federated.updates`) from ``params`` on
        this client's own records, drawing from this client's generator."""
        return compute(
            self.model, params, self._x, self._y, rng=self._rng, rows=self._rows, **settings
        )

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


@dataclass(eq=False)
class DpFedAvgClient(_Client):
    """A cross-device client: E epochs of local SGD, the delta clipped to the round's C."""

    _: KW_ONLY
    epochs: int
    batch_size: int
    learning_rate: float
    compression: Compression | None = None

    def fit(self, message: ModelMessage) -> UpdateMessage:
        clip_norm = _round_clip_norm(message)
        trained = self._update(
            local_sgd,
            message.params,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
        )
        clipped, norm = clip_to_norm(trained - message.params, clip_norm)
        bit = bool(norm <= clip_norm) if message.report_clipping else None
        # Uniform weight: the fixed-denominator estimator gives every client the same bounded
        # influence; the client's example count is not sent.
        return self._message(message, clipped, "delta", 1.0, self.compression, bit)


def _round_clip_norm(message: ModelMessage) -> float:
    # Refused before any training: a message without C comes from another mode's strategy.
    if message.clip_norm is None:
        raise InputError("<message>", "clip_norm", "DP-FedAvg needs the round's clip norm")
    return message.clip_norm


@dataclass(eq=False)
class LocalDpSgdSilo(_Client):
    """A silo that runs DP-SGD on its own records and sends its noisy model delta."""

    _: KW_ONLY
    steps: int
    learning_rate: float
    momentum: float = 0.0
    sampling_rate: float
    clip_norm: float
    noise_multiplier: float
    compression: Compression | None = None

    def fit(self, message: ModelMessage) -> UpdateMessage:
        trained = self._update(
            local_dpsgd,
            message.params,
            steps=self.steps,
            sampling_rate=self.sampling_rate,
            clip_norm=self.clip_norm,
            noise_multiplier=self.noise_multiplier,
            learning_rate=self.learning_rate,
            momentum=self.momentum,
        )
        delta = trained - message.params
        return self._message(
            message, delta, "noisy_delta", float(self.num_examples), self.compression
        )


@dataclass(eq=False)
class DistributedDpSgdSilo(_Client):
    """A silo of distributed DP-SGD: its clipped-gradient sum plus its share of the noise."""

    _: KW_ONLY
    sampling_rate: float
    clip_norm: float
    noise_multiplier: float

    def fit(self, message: ModelMessage) -> UpdateMessage:
        if message.participants is None:
            raise InputError("<message>", "participants", "distributed DP needs the silo count")
        share = self._update(
            gradient_share,
            message.params,
            sampling_rate=self.sampling_rate,
            clip_norm=self.clip_norm,
            noise_multiplier=self.noise_multiplier,
            participants=message.participants,
        )
        return self._message(message, share, "gradient_share", float(self.num_examples))
