"""Compression: unbiased 8-bit quantisation, top-k sparsification, and the bytes they save."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from privaudit.data.partition import iid
from privaudit.federated.compression import (
    QSGD_8BIT,
    Compression,
    dequantise,
    encode,
    quantise,
    top_k,
)
from privaudit.federated.config import DpFedAvgConfig
from privaudit.federated.messages import UpdateMessage
from privaudit.federated.runs import run_dp_fedavg
from tests.federated.support import ALPHA, blobs


def test_quantisation_is_unbiased_and_a_quarter_of_the_bytes() -> None:
    rng = np.random.default_rng(0)
    vector = rng.normal(size=1000).astype(np.float32)
    draws = 2000
    total = np.zeros(vector.size)
    for _ in range(draws):
        total += dequantise(quantise(vector, rng, QSGD_8BIT), np.float64)
    q = quantise(vector, rng)
    step = (q.high - q.low) / 255
    # Each draw is off by at most one step with variance ≤ step²/4: the mean's error is tiny.
    bound = stats.norm.ppf(1 - ALPHA / (2 * vector.size)) * step / 2 / math.sqrt(draws)
    assert np.max(np.abs(total / draws - vector)) < bound
    assert np.max(np.abs(dequantise(q) - vector)) <= step * (1 + 1e-6)
    dense = encode(vector)
    packed = encode(vector, Compression(levels=QSGD_8BIT), rng)
    assert dense.nbytes == 4000
    assert packed.nbytes == 1000 + 8
    assert dense.nbytes / packed.nbytes > 3.9
    constant = quantise(np.full(5, 0.25, dtype=np.float32), rng)
    np.testing.assert_array_equal(dequantise(constant), np.full(5, 0.25))


def test_top_k_keeps_the_k_largest_entries() -> None:
    vector = np.array([0.1, -5.0, 0.3, 2.0, -0.2, 4.0], dtype=np.float32)
    indices, values = top_k(vector, 3)
    assert indices.dtype == np.int32
    np.testing.assert_array_equal(indices, [1, 3, 5])
    np.testing.assert_array_equal(values, [-5.0, 2.0, 4.0])
    payload = encode(vector, Compression(top_k=3))
    assert payload.nbytes == 3 * 4 + 3 * 4
    np.testing.assert_array_equal(payload.decode(), [0, -5.0, 0, 2.0, 0, 4.0])
    both = encode(vector, Compression(top_k=3, levels=256), np.random.default_rng(1))
    assert both.nbytes == 3 * 4 + 3 + 8
    assert np.count_nonzero(both.decode()) <= 3
    assert encode(vector, Compression(top_k=10)).nbytes == vector.nbytes


def test_compressed_dpfedavg_counts_fewer_bytes_up() -> None:
    x, y = blobs(400, d=39)  # 80 parameters
    parts = iid(len(x), 4, seed=0)
    base: dict[str, Any] = {
        "rounds": 2,
        "client_sampling_rate": 1.0,
        "noise_multiplier": 0.5,
        "clip_norm": 1.0,
    }
    plain = run_dp_fedavg(x, y, parts, DpFedAvgConfig(**base, seed=0), keep_messages=True)
    small = run_dp_fedavg(
        x,
        y,
        parts,
        DpFedAvgConfig(**base, seed=0, compression=Compression(top_k=20, levels=256)),
        keep_messages=True,
    )
    assert [r.bytes_up for r in plain.rounds] == [4 * 80 * 4] * 2
    assert [r.bytes_up for r in small.rounds] == [4 * (20 * 4 + 20 + 8)] * 2
    assert [r.bytes_down for r in small.rounds] == [4 * 80 * 4] * 2
    for message in small.server.received:
        assert isinstance(message, UpdateMessage)
        assert np.count_nonzero(message.vector) <= 20
