"""Tests of the federated partitioners (privaudit.data.partition) and the label-histogram chart:
disjoint, covering, seeded, and as skewed as each scheme promises."""

from __future__ import annotations

import io
from collections.abc import Callable
from xml.etree import ElementTree as ET

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from privaudit.data.partition import (
    check_partition,
    dirichlet,
    iid,
    label_histogram,
    quantity_skew,
    shards,
)
from privaudit.errors import InputError
from privaudit.report.charts import label_histogram_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"

# 10 classes × 200 records, shuffled: the label order must not matter except for shards.
LABELS = np.random.default_rng(7).permutation(np.repeat(np.arange(10), 200))

Parts = list[npt.NDArray[np.int64]]
SCHEMES: dict[str, Callable[[int], Parts]] = {
    "iid": lambda seed: iid(len(LABELS), 20, seed),
    "dirichlet": lambda seed: dirichlet(LABELS, 20, 0.3, seed),
    "shards": lambda seed: shards(LABELS, 20, seed=seed),
    "quantity_skew": lambda seed: quantity_skew(len(LABELS), 20, 0.5, seed),
}


def assert_disjoint_cover(parts: Parts, n: int) -> None:
    joined = np.concatenate(parts)
    assert joined.dtype == np.int64
    assert len(joined) == n and np.array_equal(np.sort(joined), np.arange(n))
    for part in parts:
        assert np.all(np.diff(part) > 0)  # sorted, no repeats


def mean_label_entropy(labels: npt.NDArray[np.int64], parts: Parts) -> float:
    counts = label_histogram(labels, parts, int(labels.max()) + 1).astype(np.float64)
    shares = counts / counts.sum(axis=1, keepdims=True)
    terms = np.where(shares > 0, -shares * np.log(np.where(shares > 0, shares, 1.0)), 0.0)
    return float(terms.sum(axis=1).mean())


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_parts_are_disjoint_cover_and_seeded(scheme: str) -> None:
    make = SCHEMES[scheme]
    parts = make(3)
    assert len(parts) == 20
    assert_disjoint_cover(parts, len(LABELS))
    check_partition(parts, len(LABELS))
    again = make(3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    other = make(4)
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other, strict=True))


def test_iid_sizes_differ_by_at_most_one() -> None:
    sizes = [len(part) for part in iid(103, 10, 0)]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 103


def test_dirichlet_small_alpha_is_more_skewed_than_large_alpha() -> None:
    skewed = np.mean([mean_label_entropy(LABELS, dirichlet(LABELS, 10, 0.1, s)) for s in range(5)])
    mixed = np.mean([mean_label_entropy(LABELS, dirichlet(LABELS, 10, 100.0, s)) for s in range(5)])
    uniform = np.log(10)
    assert mixed > 0.95 * uniform  # Dir(100) is nearly IID
    assert skewed < 0.6 * mixed, (skewed, mixed)


def test_dirichlet_min_size_is_met_or_refused() -> None:
    # Seed 1 needs 4 draws before every client has ≥ 100 (3 draws are not enough).
    parts = dirichlet(LABELS, 10, 0.3, seed=1, min_size=100)
    assert min(len(part) for part in parts) >= 100
    with pytest.raises(InputError):
        dirichlet(LABELS, 10, 0.3, seed=1, min_size=100, max_attempts=3)
    assert_disjoint_cover(parts, len(LABELS))
    with pytest.raises(InputError, match="found none in 3 draws") as caught:
        dirichlet(LABELS, 50, 0.01, seed=1, min_size=39, max_attempts=3)
    assert caught.value.field == "min_size"
    with pytest.raises(InputError, match="min_size · clients"):
        dirichlet(LABELS, 50, 1.0, seed=1, min_size=41)


def test_shards_give_at_most_two_labels_per_client_when_shards_align_with_labels() -> None:
    # 10 labels × 200 records, 10 clients × 2 shards of 100: each shard holds one label.
    parts = shards(LABELS, 10, seed=0)
    counts = label_histogram(LABELS, parts, 10)
    assert all(len(part) == 200 for part in parts)
    assert ((counts > 0).sum(axis=1) <= 2).all()
    assert set(np.unique(counts)) <= {0, 100, 200}
    # Dealt at random: not every client has two consecutive labels.
    assert len({tuple(np.flatnonzero(row)) for row in counts}) > 1


def test_shards_refuse_more_shards_than_records() -> None:
    with pytest.raises(InputError, match="at most 5 shards") as caught:
        shards(np.arange(5), 3, 2, seed=0)
    assert caught.value.field == "shards_per_client"


def test_quantity_skew_sizes_spread_with_small_alpha() -> None:
    def spread(alpha: float) -> float:
        sizes = [np.array([len(p) for p in quantity_skew(2000, 10, alpha, s)]) for s in range(5)]
        return float(np.mean([sizes_.std() / sizes_.mean() for sizes_ in sizes]))

    assert spread(0.3) > 3 * spread(100.0)
    parts = quantity_skew(2000, 10, 1.0, seed=2, min_size=100)
    assert min(len(part) for part in parts) >= 100


def test_label_histogram_counts() -> None:
    labels = np.array([0, 1, 1, 2, 2, 2])
    counts = label_histogram(labels, [np.array([0, 3]), np.array([1, 2, 4, 5])], 4)
    np.testing.assert_array_equal(counts, [[1, 0, 1, 0], [0, 2, 2, 0]])
    assert counts.dtype == np.int64
    with pytest.raises(InputError, match="largest label 2"):
        label_histogram(labels, [np.arange(6)], 2)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: iid(10, 0, 0), "clients"),
        (lambda: iid(10, 11, 0), "clients"),
        (lambda: iid(-1, 1, 0), "n"),
        (lambda: dirichlet(LABELS, 10, 0.0, 0), "alpha"),
        (lambda: dirichlet(LABELS, 10, float("nan"), 0), "alpha"),
        (lambda: dirichlet(LABELS.astype(float), 10, 1.0, 0), "labels"),
        (lambda: dirichlet(-LABELS, 10, 1.0, 0), "labels"),
        (lambda: quantity_skew(100, 10, float("inf"), 0), "alpha"),
        (lambda: shards(LABELS, 10, 0, seed=0), "shards_per_client"),
    ],
)
def test_bad_arguments_are_input_errors(call: Callable[[], object], field: str) -> None:
    with pytest.raises(InputError) as caught:
        call()
    assert caught.value.source == "<argument>" and caught.value.field == field


def test_check_partition_finds_overlap_and_gaps() -> None:
    with pytest.raises(InputError, match="record 2 is in 2"):
        check_partition([np.array([0, 2]), np.array([1, 2])], 3)
    with pytest.raises(InputError, match="1 missing"):
        check_partition([np.array([0]), np.array([2])], 3)


@given(
    n=st.integers(min_value=1, max_value=300),
    clients=st.integers(min_value=1, max_value=12),
    classes=st.integers(min_value=1, max_value=6),
    alpha=st.floats(min_value=0.05, max_value=50.0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_every_scheme_partitions_any_input(
    n: int, clients: int, classes: int, alpha: float, seed: int
) -> None:
    clients = min(clients, n)
    labels = np.random.default_rng(seed).integers(0, classes, size=n)
    assert_disjoint_cover(iid(n, clients, seed), n)
    assert_disjoint_cover(dirichlet(labels, clients, alpha, seed, min_size=0), n)
    assert_disjoint_cover(quantity_skew(n, clients, alpha, seed, min_size=0), n)
    assert_disjoint_cover(shards(labels, clients, 1, seed=seed), n)


# --- the chart ---------------------------------------------------------------------------------


def test_label_histogram_chart_png_and_svg() -> None:
    parts = dirichlet(LABELS, 6, 0.5, seed=0)
    counts = label_histogram(LABELS, parts, 10)
    names = [f"digit {k}" for k in range(10)]
    png, svg = label_histogram_chart(counts, names, title="Dirichlet α = 0.5")
    assert png.startswith(PNG_SIGNATURE)
    root = ET.fromstring(svg.encode("utf-8"))
    ids = {node.get("id") for node in root.iter() if (node.get("id") or "").startswith("bar-")}
    assert ids == {f"bar-{c}-{k}" for c in range(6) for k in range(10)}
    texts = {"".join(node.itertext()) for node in root.iter(f"{SVG}text")}
    assert {"Dirichlet α = 0.5", "digit 0", "digit 9", "client"} <= texts
    assert label_histogram_chart(counts, names, title="Dirichlet α = 0.5") == (png, svg)
    image = pytest.importorskip("PIL.Image").open(io.BytesIO(png))
    image.load()
    assert image.size == (800, 500)


def test_label_histogram_chart_many_classes_and_bad_input() -> None:
    counts = np.arange(3 * 40).reshape(3, 40)
    png, svg = label_histogram_chart(counts, [f"specialty {k}" for k in range(40)], title="t")
    assert png.startswith(PNG_SIGNATURE)
    ET.fromstring(svg.encode("utf-8"))
    with pytest.raises(ValueError, match="3 class names"):
        label_histogram_chart(np.ones((2, 4)), ["a", "b", "c"], title="t")
    with pytest.raises(ValueError, match="≥ 0"):
        label_histogram_chart(-np.ones((2, 2)), ["a", "b"], title="t")
