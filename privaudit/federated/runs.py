"""One-call runs of the three modes: check the data, seed every party, build clients, strategy
and server, simulate, and stamp the result with the run's seed."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypedDict, Unpack

import numpy as np
import numpy.typing as npt

from privaudit.checks import ARGUMENT, float_features, integer_labels
from privaudit.errors import InputError
from privaudit.federated.aggregation import Aggregator, plain_sum
from privaudit.federated.arrays import Rows
from privaudit.federated.clients import (
    DistributedDpSgdSilo,
    DpFedAvgClient,
    FitClient,
    LocalDpSgdSilo,
)
from privaudit.federated.config import DistributedDpSgdConfig, DpFedAvgConfig, LocalDpSgdConfig
from privaudit.federated.heterogeneity import Heterogeneity
from privaudit.federated.results import FederatedResult
from privaudit.federated.server import Server
from privaudit.federated.simulation import RoundCallback, simulate
from privaudit.federated.strategies import (
    DistributedDpSgdStrategy,
    DpFedAvgStrategy,
    LocalDpSgdStrategy,
    Strategy,
)
from privaudit.train.models import Array, Labels, Mlp


class RunOptions(TypedDict, total=False):
    """The keyword options every one-call run takes; all may be left out."""

    x_test: Array | None
    """Test features (with ``y_test``): the model is evaluated on them as it trains."""
    y_test: Labels | None
    n_classes: int | None
    """Default: the largest label + 1, of the test labels when given (they are public)."""
    heterogeneity: Heterogeneity | None
    """Who drops out or straggles (default: nobody)."""
    evaluate_every: int
    """Evaluate every this many rounds, and after the last (default 1)."""
    keep_messages: bool
    """Keep the server's log of received messages (default False: it can take gigabytes)."""
    on_round: RoundCallback | None
    """Called with each round's record as it finishes."""


def run_dp_fedavg(
    x: Array,
    y: Labels,
    parts: Sequence[npt.ArrayLike],
    config: DpFedAvgConfig,
    **options: Unpack[RunOptions],
) -> FederatedResult:
    """Client-level DP-FedAvg with client i holding the records ``parts[i]`` of ``x``/``y``
    (e.g. from :mod:`privaudit.data.partition`); ``options`` as in :class:`RunOptions`."""
    setup = _setup("run_dp_fedavg", x, y, parts, config, options)
    clients = setup.clients(
        DpFedAvgClient,
        epochs=config.local_epochs,
        batch_size=config.local_batch_size,
        learning_rate=config.local_learning_rate,
        compression=config.compression,
    )
    strategy = DpFedAvgStrategy(config, len(clients), setup.server_rng)
    return _run(setup, clients, strategy, config.rounds, options)


def run_local_dpsgd(
    x: Array,
    y: Labels,
    parts: Sequence[npt.ArrayLike],
    config: LocalDpSgdConfig,
    *,
    silo_names: Sequence[str] | None = None,
    **options: Unpack[RunOptions],
) -> FederatedResult:
    """Cross-silo training, each silo running DP-SGD locally on the records ``parts[i]``;
    silo i is the ledger partition ``silo_names[i]`` (default ``silo-i``); ``options`` as in
    :class:`RunOptions`."""
    setup = _setup("run_local_dpsgd", x, y, parts, config, options)
    strategy = LocalDpSgdStrategy(config, setup.partitions(silo_names), setup.server_rng)
    clients = setup.clients(
        LocalDpSgdSilo,
        steps=config.local_steps,
        sampling_rate=config.sampling_rate,
        clip_norm=config.clip_norm,
        noise_multiplier=config.noise_multiplier,
        learning_rate=config.learning_rate,
        momentum=config.momentum,
        compression=config.compression,
    )
    return _run(setup, clients, strategy, config.rounds, options)


def run_distributed_dpsgd(
    x: Array,
    y: Labels,
    parts: Sequence[npt.ArrayLike],
    config: DistributedDpSgdConfig,
    *,
    aggregator: Aggregator = plain_sum,
    silo_names: Sequence[str] | None = None,
    **options: Unpack[RunOptions],
) -> FederatedResult:
    """Cross-silo DP-SGD with distributed noise, silo i holding the records ``parts[i]``. With
    the default :func:`plain_sum` the server sees every share, and the ledger records that
    weaker per-silo guarantee; pass :func:`secure_aggregator` (or :func:`ideal_secure_sum`)
    for the distributed-Gaussian guarantee. ``options`` as in :class:`RunOptions`."""
    setup = _setup("run_distributed_dpsgd", x, y, parts, config, options)
    partitions = setup.partitions(silo_names)
    sizes = {i: len(rows) for i, rows in enumerate(setup.data.parts)}
    strategy = DistributedDpSgdStrategy(config, partitions, sizes, setup.server_rng)
    clients = setup.clients(
        DistributedDpSgdSilo,
        sampling_rate=config.sampling_rate,
        clip_norm=config.clip_norm,
        noise_multiplier=config.noise_multiplier,
    )
    return _run(setup, clients, strategy, config.rounds, options, aggregator)


def _run(
    setup: _Setup,
    clients: Mapping[int, FitClient],
    strategy: Strategy,
    rounds: int,
    options: RunOptions,
    aggregator: Aggregator | None = None,
) -> FederatedResult:
    # The sequence every mode shares once its clients and strategy exist.
    keep_messages = options.get("keep_messages", False)
    server = Server(strategy, setup.model, setup.params, keep_messages=keep_messages)
    result = simulate(
        server,
        clients,
        rounds,
        environment=setup.environment,
        heterogeneity=options.get("heterogeneity"),
        aggregator=aggregator,
        test_data=setup.data.test,
        evaluate_every=options.get("evaluate_every", 1),
        on_round=options.get("on_round"),
    )
    return replace(result, seed=setup.seed)


def _check_options(function: str, options: Mapping[str, object]) -> None:
    # ``**options`` would swallow a misspelt keyword; refuse it as an explicit signature would.
    for name in options:
        if name not in RunOptions.__optional_keys__:
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}")


@dataclass(frozen=True, eq=False)
class _Data:
    """A run's checked data: features cast to the training dtype, labels, parts, test set."""

    x: Array
    y: Labels
    parts: list[Rows]
    test: tuple[Array, Labels] | None
    n_classes: int
    dtype: type[np.floating[Any]]


@dataclass(frozen=True, eq=False)
class _Setup:
    """A run's data, model and independent generators for server, environment and clients."""

    data: _Data
    model: Mlp
    params: Array
    seed: int | Literal["crypto"]
    server_rng: np.random.Generator
    environment: np.random.Generator
    client_rngs: list[np.random.Generator]

    def clients(self, kind: Callable[..., FitClient], **settings: Any) -> dict[int, FitClient]:
        """Client i of ``kind`` on the records ``parts[i]``, with its own generator."""
        data = self.data
        return {
            i: kind(i, data.x, data.y, rows, self.model, self.client_rngs[i], **settings)
            for i, rows in enumerate(data.parts)
        }

    def partitions(self, silo_names: Sequence[str] | None) -> dict[int, str]:
        """Silo i's ledger partition: ``silo_names[i]``, by default ``silo-i``."""
        count = len(self.data.parts)
        names = [f"silo-{i}" for i in range(count)] if silo_names is None else list(silo_names)
        if len(names) != count:
            raise InputError(
                ARGUMENT, "silo_names", f"expected {count} names, one per silo; found {len(names)}"
            )
        return dict(enumerate(names))


def _setup(
    function: str,
    x: Array,
    y: Labels,
    parts: Sequence[npt.ArrayLike],
    config: DpFedAvgConfig | LocalDpSgdConfig | DistributedDpSgdConfig,
    options: RunOptions,
) -> _Setup:
    _check_options(function, options)
    data = _checked_data(
        x, y, parts, options.get("x_test"), options.get("y_test"), options.get("n_classes")
    )
    model = config.model.build(data.x.shape[1], max(data.n_classes, 2))
    seed = config.seed
    # One SeedSequence spawns every stream, so the parties' randomness never overlaps.
    entropy = secrets.randbits(128) if seed is None else seed
    streams = np.random.SeedSequence(entropy).spawn(3 + len(data.parts))
    generators = [np.random.Generator(np.random.PCG64(s)) for s in streams]
    return _Setup(
        data=data,
        model=model,
        params=model.init(generators[2], data.dtype),
        seed="crypto" if seed is None else seed,
        server_rng=generators[0],
        environment=generators[1],
        client_rngs=generators[3:],
    )


def _checked_data(
    x: Array,
    y: Labels,
    parts: Sequence[npt.ArrayLike],
    x_test: Array | None,
    y_test: Labels | None,
    n_classes: int | None,
) -> _Data:
    x = float_features(x, "x")
    y = integer_labels(y, "y", len(x))
    rows = _parts(parts, len(x))
    test = _test_data(x, x_test, y_test)
    if n_classes is None:
        # Public labels (the test set) decide when given, as in train_dpsgd.
        source = test[1] if test is not None and len(test[1]) else y
        n_classes = int(source.max()) + 1 if len(source) else 2
    for name, labels in (("y", y), ("y_test", None if test is None else test[1])):
        if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise InputError(ARGUMENT, name, f"labels must be in 0..{n_classes - 1} (n_classes)")
    dtype: type[np.floating[Any]] = np.float64 if x.dtype == np.float64 else np.float32
    if test is not None:
        test = (test[0].astype(dtype, copy=False), test[1])
    return _Data(x.astype(dtype, copy=False), y, rows, test, int(n_classes), dtype)


def _test_data(
    x: Array, x_test: Array | None, y_test: Labels | None
) -> tuple[Array, Labels] | None:
    if (x_test is None) != (y_test is None):
        raise InputError(ARGUMENT, "x_test", "give both x_test and y_test, or neither")
    if x_test is None or y_test is None:
        return None
    xt = float_features(x_test, "x_test")
    if xt.shape[1] != x.shape[1]:
        raise InputError(
            ARGUMENT, "x_test", f"expected {x.shape[1]} features like x; found {xt.shape[1]}"
        )
    return xt, integer_labels(y_test, "y_test", len(xt))


def _parts(parts: Sequence[npt.ArrayLike], n: int) -> list[Rows]:
    if len(parts) == 0:
        raise InputError(ARGUMENT, "parts", "expected at least one client")
    rows: list[Rows] = []
    seen = np.zeros(n, dtype=np.int64)
    for i, part in enumerate(parts):
        index = np.asarray(part)
        if index.ndim != 1 or (index.size and not np.issubdtype(index.dtype, np.integer)):
            raise InputError(ARGUMENT, f"parts[{i}]", "expected a 1-D integer index array")
        if index.size == 0:
            raise InputError(ARGUMENT, f"parts[{i}]", "is empty; every client needs records")
        if index.min() < 0 or index.max() >= n:
            raise InputError(ARGUMENT, f"parts[{i}]", f"expected indices in 0..{n - 1}")
        np.add.at(seen, index, 1)
        rows.append(index.astype(np.int64))
    if (seen > 1).any():
        record = int(np.argmax(seen > 1))
        # A record in two clients would be two privacy units' data: parallel composition fails.
        raise InputError(
            ARGUMENT, "parts", f"expected disjoint parts; record {record} is in {seen[record]}"
        )
    return rows
