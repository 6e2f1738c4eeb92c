"""Federated partitioners: split one data set's records among simulated clients.

Each partitioner returns one sorted int64 index array per client; the arrays are disjoint and
together cover every record, so each client can be a ledger ``partition`` of the data set and
the partitions compose in parallel. All randomness comes from ``numpy.random.default_rng(seed)``:
the same arguments give the same partition on every machine and numpy version that keeps the
generator's stream (numpy's policy for ``Generator``).

The schemes are the usual benchmarks of non-IID federated learning:

- :func:`iid` — a uniform random split into near-equal parts.
- :func:`dirichlet` — label skew: per class, client shares ~ Dir(α). Yurochkin et al., "Bayesian
  nonparametric federated learning of neural networks", ICML 2019; Hsu, Qi & Brown, "Measuring
  the effects of non-identical data distribution for federated visual classification", 2019.
  Small α (0.1) gives each client few classes; large α (100) approaches IID.
- :func:`shards` — pathological label skew: sort by label, cut into ``clients · shards_per_client``
  shards, deal ``shards_per_client`` to each client. McMahan et al., "Communication-efficient
  learning of deep networks from decentralized data", AISTATS 2017, §3 (2 shards of 300 each).
- :func:`quantity_skew` — equal label mix, unequal sizes: client sizes ~ Dir(α). Li et al.,
  "Federated learning on non-IID data silos: an experimental study", ICDE 2022, §IV-C.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from privaudit.errors import InputError, describe_value

__all__ = [
    "check_partition",
    "dirichlet",
    "iid",
    "label_histogram",
    "quantity_skew",
    "shards",
]

Parts = list[npt.NDArray[np.int64]]

_ARGUMENT: Final = "<argument>"
MAX_ATTEMPTS: Final = 1000
"""Draws :func:`dirichlet` and :func:`quantity_skew` try before giving up on ``min_size``."""


def iid(n: int, clients: int, seed: int) -> Parts:
    """A uniform random split of ``n`` records into ``clients`` parts whose sizes differ by ≤ 1."""
    n = _count(n, "n")
    clients = _clients(clients, n)
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part).astype(np.int64) for part in np.array_split(order, clients)]


def dirichlet(
    labels: npt.ArrayLike,
    clients: int,
    alpha: float,
    seed: int,
    min_size: int = 1,
    *,
    max_attempts: int = MAX_ATTEMPTS,
) -> Parts:
    """Label skew: for each class, the shares of its records per client ~ Dir(α, …, α).

    Each class's records are shuffled and cut at the cumulative shares (floored). The whole
    draw is repeated, from the same generator, until every client has ≥ ``min_size`` records;
    after ``max_attempts`` draws the call fails, asking for a larger α or a smaller min_size.
    """
    y = _labels(labels)
    clients = _clients(clients, len(y))
    alpha = _alpha(alpha)
    min_size = _min_size(min_size, clients, len(y))
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(y == label) for label in np.unique(y)]
    for _ in range(max_attempts):
        pieces: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(clients)]
        for indices in members:
            shares = rng.dirichlet(np.full(clients, alpha))
            for client, piece in enumerate(_cut(rng.permutation(indices), shares)):
                pieces[client].append(piece)
        sizes = [sum(len(piece) for piece in parts) for parts in pieces]
        if min(sizes) >= min_size:
            return [_joined(parts) for parts in pieces]
    raise InputError(
        _ARGUMENT,
        "min_size",
        f"expected a Dir(α = {alpha:g}) draw giving each of {clients} clients ≥ {min_size} "
        f"records; found none in {max_attempts} draws (raise alpha or lower min_size)",
    )


def shards(labels: npt.ArrayLike, clients: int, shards_per_client: int = 2, *, seed: int) -> Parts:
    """Pathological label skew (McMahan et al. 2017): each client gets a few label-sorted shards.

    Records are sorted by label (stably: original order within a label), cut into
    ``clients · shards_per_client`` near-equal shards, and the shards dealt at random. When
    shard boundaries fall on label boundaries each client sees ≤ ``shards_per_client`` labels.
    """
    y = _labels(labels)
    clients = _clients(clients, len(y))
    per_client = _count(shards_per_client, "shards_per_client", minimum=1)
    total = clients * per_client
    if total > len(y):
        raise InputError(
            _ARGUMENT,
            "shards_per_client",
            f"expected at most {len(y)} shards (one record each); found {clients} clients × "
            f"{per_client} = {total}",
        )
    order = np.argsort(y, kind="stable").astype(np.int64)
    pieces = np.array_split(order, total)
    deal = np.random.default_rng(seed).permutation(total).reshape(clients, per_client)
    return [_joined([pieces[k] for k in row]) for row in deal]


def quantity_skew(
    n: int,
    clients: int,
    alpha: float,
    seed: int,
    min_size: int = 1,
    *,
    max_attempts: int = MAX_ATTEMPTS,
) -> Parts:
    """Quantity skew: client sizes ~ Dir(α) · n (floored at cumulative shares), records at random.

    Redrawn, from the same generator, until every client has ≥ ``min_size`` records.
    """
    n = _count(n, "n")
    clients = _clients(clients, n)
    alpha = _alpha(alpha)
    min_size = _min_size(min_size, clients, n)
    rng = np.random.default_rng(seed)
    for _ in range(max_attempts):
        shares = rng.dirichlet(np.full(clients, alpha))
        parts = _cut(rng.permutation(n).astype(np.int64), shares)
        if min(len(part) for part in parts) >= min_size:
            return [np.sort(part) for part in parts]
    raise InputError(
        _ARGUMENT,
        "min_size",
        f"expected a Dir(α = {alpha:g}) draw giving each of {clients} clients ≥ {min_size} "
        f"records; found none in {max_attempts} draws (raise alpha or lower min_size)",
    )


def label_histogram(
    labels: npt.ArrayLike, parts: Sequence[npt.ArrayLike], num_classes: int
) -> npt.NDArray[np.int64]:
    """Counts of each label on each client: an int64 array of shape ``(clients, num_classes)``."""
    y = _labels(labels)
    num_classes = _count(num_classes, "num_classes", minimum=1)
    if len(y) and int(y.max()) >= num_classes:
        raise InputError(
            _ARGUMENT,
            "num_classes",
            f"expected more than the largest label {int(y.max())}; found {num_classes}",
        )
    counts = np.zeros((len(parts), num_classes), dtype=np.int64)
    for client, part in enumerate(parts):
        counts[client] = np.bincount(y[np.asarray(part, dtype=np.int64)], minlength=num_classes)
    return counts


def check_partition(parts: Sequence[npt.ArrayLike], n: int) -> None:
    """Raise :class:`InputError` unless ``parts`` are disjoint and cover ``range(n)`` exactly."""
    seen = np.zeros(n, dtype=np.int64)
    for client, part in enumerate(parts):
        index = np.asarray(part)
        if index.ndim != 1 or (index.size and not np.issubdtype(index.dtype, np.integer)):
            raise InputError(_ARGUMENT, f"parts[{client}]", "expected a 1-D integer index array")
        if index.size and (index.min() < 0 or index.max() >= n):
            raise InputError(
                _ARGUMENT, f"parts[{client}]", f"expected indices in 0..{n - 1}; found others"
            )
        np.add.at(seen, index, 1)
    if (seen > 1).any():
        record = int(np.argmax(seen > 1))
        raise InputError(
            _ARGUMENT, "parts", f"expected disjoint parts; record {record} is in {seen[record]}"
        )
    if (seen == 0).any():
        missing = int((seen == 0).sum())
        raise InputError(_ARGUMENT, "parts", f"expected parts covering all {n}; {missing} missing")


def _cut(indices: npt.NDArray[np.int64], shares: npt.NDArray[np.float64]) -> Parts:
    """Cut ``indices`` at the floored cumulative ``shares`` (which sum to 1) into len(shares)."""
    cuts = np.floor(np.cumsum(shares)[:-1] * len(indices)).astype(np.int64)
    cuts = np.clip(cuts, 0, len(indices))
    return [part.astype(np.int64) for part in np.split(indices, cuts)]


def _joined(parts: Sequence[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    if not parts:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(parts)).astype(np.int64)


def _labels(labels: npt.ArrayLike) -> npt.NDArray[np.int64]:
    y = np.asarray(labels)
    if y.ndim != 1:
        raise InputError(_ARGUMENT, "labels", f"expected a 1-D array; found shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise InputError(_ARGUMENT, "labels", f"expected integer labels; found dtype {y.dtype}")
    if y.size and int(y.min()) < 0:
        raise InputError(_ARGUMENT, "labels", f"expected labels ≥ 0; found {int(y.min())}")
    return y.astype(np.int64)


def _count(value: int, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(
            _ARGUMENT, name, f"expected an integer ≥ {minimum}; found {describe_value(value)}"
        )
    return int(value)


def _clients(clients: int, n: int) -> int:
    clients = _count(clients, "clients", minimum=1)
    if clients > n:
        raise InputError(
            _ARGUMENT, "clients", f"expected at most {n} clients (one per record); found {clients}"
        )
    return clients


def _alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.floating | np.integer):
        raise InputError(
            _ARGUMENT, "alpha", f"expected a number > 0; found {describe_value(alpha)}"
        )
    value = float(alpha)
    if not (math.isfinite(value) and value > 0):
        raise InputError(_ARGUMENT, "alpha", f"expected a finite number > 0; found {value}")
    return value


def _min_size(min_size: int, clients: int, n: int) -> int:
    min_size = _count(min_size, "min_size")
    if min_size * clients > n:
        raise InputError(
            _ARGUMENT,
            "min_size",
            f"expected min_size · clients ≤ {n} records; found {min_size} · {clients}",
        )
    return min_size
