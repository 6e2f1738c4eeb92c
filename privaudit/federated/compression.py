"""How a vector travels: dense, top-k sparsified and/or stochastically quantised payloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from privaudit.checks import ARGUMENT, is_integer, require
from privaudit.errors import InputError
from privaudit.federated.arrays import frozen
from privaudit.train.models import Array

Codes = npt.NDArray[np.uint8]
Indices = npt.NDArray[np.int32]

QSGD_8BIT = 256
"""Quantisation levels of 8-bit stochastic quantisation (one byte per coordinate)."""


@dataclass(frozen=True)
class Compression:
    """How updates are compressed before upload: top-k sparsification (the k largest |values|,
    sent as values plus int32 indices; biased, no error feedback) and/or unbiased stochastic
    quantisation of the (kept) values to ``levels`` evenly spaced values, one byte each."""

    top_k: int | None = None
    levels: int | None = None

    def __post_init__(self) -> None:
        require(
            self.top_k is None or (is_integer(self.top_k) and self.top_k >= 1),
            "compression.top_k",
            "must be None or an integer >= 1",
            self.top_k,
        )
        require(
            self.levels is None or (is_integer(self.levels) and 2 <= self.levels <= 256),
            "compression.levels",
            "must be None or an integer in 2..256 (one byte per value)",
            self.levels,
        )


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
    require(
        is_integer(levels) and 2 <= levels <= 256, "levels", "must be an integer in 2..256", levels
    )
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
        raise InputError(ARGUMENT, "vector", f"expected a 1-D array; found shape {v.shape}")
    dtype = v.dtype
    if compression is None:
        return Payload(v.size, frozen(v), None, dtype)
    indices: Indices | None = None
    values: Array = v
    if compression.top_k is not None and compression.top_k < v.size:
        indices, values = top_k(v, compression.top_k)
    if compression.levels is None:
        kept: Array | Quantised = frozen(values)
    else:
        if rng is None:
            raise InputError(ARGUMENT, "rng", "quantisation needs a random generator")
        q = quantise(values, rng, compression.levels)
        kept = Quantised(frozen(q.codes), q.low, q.high, q.levels)
    return Payload(v.size, kept, None if indices is None else frozen(indices), dtype)


def _float32_outward(value: float, *, down: bool) -> float:
    rounded = np.float32(value)
    if (down and float(rounded) > value) or (not down and float(rounded) < value):
        rounded = np.nextafter(rounded, np.float32(-np.inf if down else np.inf))
    return float(rounded)
