"""How the clients' inputs reach the server as one sum: in the clear, through an ideal secure
sum, or through the secure-aggregation protocol of :mod:`privaudit.federated.secagg`."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from privaudit.checks import ARGUMENT, require_count, require_positive
from privaudit.errors import InputError
from privaudit.train.models import Array


@dataclass(frozen=True, eq=False)
class AggregateResult:
    """What an aggregator returns: the sum of the survivors' inputs and the traffic it took."""

    total: Array | None
    """Σ inputs of ``survivors``; None when nobody survived (nothing is revealed)."""
    survivors: tuple[int, ...]
    """Clients whose inputs are in ``total`` (sorted)."""
    bytes_per_client: Mapping[int, int]
    """Bytes each client uploaded during aggregation."""
    bytes_server: int
    """Bytes the server received."""
    bytes_to_clients: int = 0
    """Protocol bytes sent to clients, all together (keys, shares; not the model)."""
    reveals_inputs: bool = True
    """Whether the server saw each input. Defaults to the conservative answer: an aggregator
    must say False to be accounted as a secure sum."""
    server_view: Any = None
    """The protocol's traffic as the server saw it, for inspection."""


Aggregator = Callable[[int, Mapping[int, Array]], AggregateResult]
"""``aggregator(round, inputs by client id) -> AggregateResult``. The round lets a protocol
simulate its own per-round events (e.g. dropouts in the middle of secure aggregation)."""


def plain_sum(round: int, inputs: Mapping[int, Array]) -> AggregateResult:
    """The server receives every input and sums them: 4·d bytes per client for float32."""
    survivors = tuple(sorted(inputs))
    per_client = {c: int(np.asarray(inputs[c]).nbytes) for c in survivors}
    return AggregateResult(
        total=_sum(inputs, survivors),
        survivors=survivors,
        bytes_per_client=per_client,
        bytes_server=sum(per_client.values()),
        reveals_inputs=True,
    )


def ideal_secure_sum(round: int, inputs: Mapping[int, Array]) -> AggregateResult:
    """The ideal functionality of secure aggregation: the server learns the sum and who is in
    it, nothing else. No cryptography and no protocol overhead — for simulations and tests;
    :func:`secure_aggregator` runs the real protocol."""
    survivors = tuple(sorted(inputs))
    per_client = {c: int(np.asarray(inputs[c]).nbytes) for c in survivors}
    total = _sum(inputs, survivors)
    return AggregateResult(
        total=total,
        survivors=survivors,
        bytes_per_client=per_client,
        bytes_server=0 if total is None else int(total.nbytes),
        reveals_inputs=False,
    )


def secure_aggregator(
    threshold: int,
    value_bound: float,
    dropouts_by_round: Callable[[int], set[int]] | None = None,
    *,
    late_dropouts_by_round: Callable[[int], set[int]] | None = None,
    **options: Any,
) -> Aggregator:
    """An :data:`Aggregator` running ``privaudit.federated.secagg.secure_sum`` (Bonawitz et al.,
    "Practical secure aggregation for privacy-preserving machine learning", CCS 2017).

    ``dropouts_by_round(r)`` names clients that drop in the middle of round r's protocol,
    after the key exchange and before sending their masked input: the protocol recovers and
    the sum leaves them out. ``late_dropouts_by_round(r)`` names clients that drop after
    sending it: their input stays in the sum. A round with fewer than two inputs, or fewer
    than ``threshold`` clients left at some step, aborts: nothing is revealed, the model does
    not move, and the bytes of the aborted protocol are not counted.

    ``value_bound`` must cover every coordinate of every input — for a noisy share, the clipped
    sum plus several σC/√m — and an input outside it is refused rather than altered: clipping a
    share would make the revealed sum non-Gaussian. Inputs are rounded to the protocol's fixed
    point (error ≤ 1/(2·scale) a coordinate) before they meet; the ledger's Gaussian analysis
    ignores that rounding, as it ignores floating point (Kairouz, Liu & Steinke 2021 account
    for it exactly with the discrete Gaussian). Extra ``options`` (``scale``, ``bits``,
    ``rng_seed``) go to ``secure_sum``. The module is imported when this is called, so this
    module works without it.
    """
    # Looked up by name when called: the simulator imports without `cryptography`, and a test
    # can stand a fake protocol in sys.modules.
    secagg = importlib.import_module("privaudit.federated.secagg")
    require_count(threshold, "threshold")
    require_positive(value_bound, "value_bound")

    def aggregate(round: int, inputs: Mapping[int, Array]) -> AggregateResult:
        _check_bound(round, inputs, value_bound)
        clients = sorted(inputs)
        aborted = AggregateResult(None, (), {}, 0, reveals_inputs=False)
        if len(clients) < 2:
            # A sum of one input is that input: the protocol refuses to run.
            return aborted
        early = set(dropouts_by_round(round)) & set(clients) if dropouts_by_round else set()
        late = (
            set(late_dropouts_by_round(round)) & set(clients) if late_dropouts_by_round else set()
        )
        try:
            raw = secagg.secure_sum(
                dict(inputs),
                threshold=threshold,
                value_bound=value_bound,
                drop_before_input=tuple(sorted(early)),
                drop_after_input=tuple(sorted(late - early)),
                **options,
            )
        except secagg.SecureAggregationError:
            return aborted
        return _protocol_result(raw, clients, inputs[clients[0]].dtype)

    return aggregate


def _check_bound(round: int, inputs: Mapping[int, Array], value_bound: float) -> None:
    # Refused, never clipped: clipping a noisy share would make the revealed sum non-Gaussian.
    for client in sorted(inputs):
        largest = float(np.max(np.abs(inputs[client]))) if np.size(inputs[client]) else 0.0
        if not largest <= value_bound:
            raise InputError(
                ARGUMENT,
                "value_bound",
                f"expected every input within ±{value_bound:g}; found {largest:.6g} from "
                f"client {client} in round {round} (raise value_bound)",
            )


def _protocol_result(raw: Any, clients: Sequence[int], dtype: np.dtype[Any]) -> AggregateResult:
    survivors = tuple(sorted(int(c) for c in raw.survivors))
    total = np.asarray(raw.total, dtype=dtype) if survivors else None
    return AggregateResult(
        total=total,
        survivors=survivors,
        bytes_per_client=_per_client(raw.bytes_sent_per_client, clients),
        bytes_server=int(raw.bytes_server_received),
        bytes_to_clients=sum(_per_client(raw.bytes_received_per_client, clients).values()),
        reveals_inputs=False,
        server_view=raw.server_view,
    )


def _per_client(value: Any, clients: Sequence[int]) -> dict[int, int]:
    # Bytes per client as a mapping, or as one figure for every client.
    if isinstance(value, Mapping):
        return {int(c): int(b) for c, b in value.items()}
    return dict.fromkeys(clients, int(value))


def _sum(inputs: Mapping[int, Array], clients: Sequence[int]) -> Array | None:
    if not clients:
        return None
    total = np.array(inputs[clients[0]], copy=True)
    for client in clients[1:]:
        total += inputs[client]
    return total
