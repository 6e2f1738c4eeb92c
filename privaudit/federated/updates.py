"""What a client computes from the global model: clipped deltas, DP-SGD steps, noise shares."""

from __future__ import annotations

import math

import numpy as np

from privaudit.checks import require_count, require_positive
from privaudit.federated.arrays import Rows
from privaudit.train.dpsgd import add_gaussian_noise, poisson_sample, private_gradient
from privaudit.train.models import Array, Labels, Mlp


def clip_to_norm(vector: Array, clip_norm: float) -> tuple[Array, float]:
    """(``vector``·min(1, C/‖vector‖), ‖vector‖): a new array of L2 norm ≤ C, and the norm
    before clipping (computed in float64)."""
    require_positive(clip_norm, "clip_norm")
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
    own = _own(x, rows)
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
    own = _own(x, rows)
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
    require_count(participants, "participants")
    own = _own(x, rows)
    batch = own[poisson_sample(len(own), sampling_rate, rng)]
    total, _, _ = model.clipped_gradient_sum(params, x[batch], y[batch], clip_norm)
    return add_gaussian_noise(total, noise_multiplier / math.sqrt(participants), clip_norm, rng)


def _own(x: Array, rows: Rows | None) -> Rows:
    # A client without a row list owns every record (as when it is called on its own data).
    return np.arange(len(x), dtype=np.int64) if rows is None else rows
