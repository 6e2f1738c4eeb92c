"""What the federated tests share: test data, a fixed-update client, a DP-FedAvg server and
the statistical checks of the noise the server sees."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

from privaudit.data.partition import iid, shards
from privaudit.federated.compression import encode
from privaudit.federated.config import DistributedDpSgdConfig, DpFedAvgConfig
from privaudit.federated.messages import ModelMessage, UpdateMessage
from privaudit.federated.results import RoundRecord
from privaudit.federated.server import Server
from privaudit.federated.strategies import DpFedAvgStrategy
from privaudit.federated.updates import clip_to_norm
from privaudit.train.dpsgd import make_generator
from privaudit.train.models import Mlp

ALPHA = 1e-6
"""Two-sided level of the statistical tests: a correct implementation fails one about once in a
million runs (and the seeds are fixed, so a pass is reproducible)."""


def variance_bounds(values: np.ndarray[Any, Any], sigma: float) -> tuple[float, float, float]:
    """(lower, observed, upper): the χ² acceptance interval for Σ v² / σ² with known mean 0."""
    dof = values.size
    observed = float(np.sum(np.asarray(values, dtype=np.float64) ** 2) / sigma**2)
    return stats.chi2.ppf(ALPHA / 2, dof), observed, stats.chi2.ppf(1 - ALPHA / 2, dof)


def assert_std(values: np.ndarray[Any, Any], sigma: float) -> None:
    low, observed, high = variance_bounds(values, sigma)
    assert low < observed < high, (low, observed, high)


def blobs(n: int, d: int = 10, *, seed: int = 0) -> tuple[Any, Any]:
    """Two Gaussian blobs at ±1.5 along the first axis (Bayes accuracy ≈ 93%... 99.9%)."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2).astype(np.int64)
    x = rng.normal(0.0, 1.0, size=(len(y), d))
    x[:, 0] += np.where(y == 1, 3.0, -3.0)
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order]


class FixedClient:
    """A client whose update is a fixed vector (clipped to the round's C), and its bit."""

    def __init__(self, client_id: int, vector: np.ndarray[Any, Any]) -> None:
        self.client_id = client_id
        self.vector = vector

    def fit(self, message: ModelMessage) -> UpdateMessage:
        clip = message.clip_norm if message.clip_norm is not None else math.inf
        clipped, norm = clip_to_norm(self.vector.astype(message.params.dtype), clip)
        return UpdateMessage(
            client_id=self.client_id,
            round=message.round,
            payload=encode(clipped),
            kind="delta",
            weight=1.0,
            unclipped=bool(norm <= clip) if message.report_clipping else None,
        )


def fedavg_server(
    config: DpFedAvgConfig, population: int, model: Mlp, dtype: Any = np.float64
) -> Server:
    strategy = DpFedAvgStrategy(config, population, make_generator(11))
    return Server(strategy, model, model.init(make_generator(12), dtype))


def history(server: Server) -> tuple[list[np.ndarray[Any, Any]], Callable[[RoundRecord], None]]:
    params = [np.array(server.params)]
    return params, lambda _: params.append(np.array(server.params))


def silent_silos(n: int = 4, per_silo: int = 50, d: int = 74) -> tuple[Any, Any, list[Any]]:
    """Silos whose Poisson samples are (all but surely) empty at q = 1e-7: their shares are
    pure noise. 75 features × 4 classes = 300 parameters."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(n * per_silo, d)).astype(np.float64)
    y = rng.integers(0, 4, size=n * per_silo).astype(np.int64)
    y[:4] = [0, 1, 2, 3]
    return x, y, iid(len(x), n, seed=2)


def silent_config(
    rounds: int, noise_multiplier: float = 1.0, clip_norm: float = 1.0, **changes: Any
) -> DistributedDpSgdConfig:
    """Distributed DP-SGD for :func:`silent_silos`: sampling at q = 1e-7, so that the shares
    are pure noise, and a learning rate of 1e-9, so that the model all but stays put."""
    return DistributedDpSgdConfig(
        rounds=rounds,
        noise_multiplier=noise_multiplier,
        clip_norm=clip_norm,
        sampling_rate=1e-7,
        learning_rate=1e-9,
        **changes,
    )


def non_iid_blobs() -> tuple[Any, Any, Any, Any, list[Any]]:
    x, y = blobs(1600, d=10, seed=1)
    xt, yt = blobs(1000, d=10, seed=2)
    return x, y, xt, yt, shards(y, 4, 1, seed=0)  # two clients see only 0s, two only 1s
