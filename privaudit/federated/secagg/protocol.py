"""The protocol driver: one secure aggregation run in process, clients and server exchanging
only messages, with every party's bytes and compute time counted."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ParamSpec, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from privaudit.errors import InputError
from privaudit.federated.secagg.client import SecAggClient
from privaudit.federated.secagg.encoding import (
    decode_fixed_point,
    encode_fixed_point,
    ring_to_signed,
)
from privaudit.federated.secagg.messages import ServerView
from privaudit.federated.secagg.params import (
    DEFAULT_BITS,
    DEFAULT_SCALE,
    SecAggParams,
    check_client_id,
)
from privaudit.federated.secagg.randomness import RandomSource
from privaudit.federated.secagg.server import SecAggServer


class _Message(Protocol):
    @property
    def nbytes(self) -> int: ...


_Sent = TypeVar("_Sent", bound=_Message)
_Result = TypeVar("_Result")
_Arguments = ParamSpec("_Arguments")


@dataclass(frozen=True, eq=False)
class SecureSumResult:
    """What :func:`secure_sum` returns.

    ``survivors`` (U3) are the clients whose input is in ``total``, those that dropped after
    sending it included; ``dropped`` the others; ``responders`` those that answered round 3.
    Byte counts are the messages' ``nbytes``: a client's are what it sent and received while
    online; the server's count each copy it sent, to clients that then dropped too.
    ``*_seconds`` are the wall time spent in each party's protocol calls.
    """

    total: npt.NDArray[np.float64]
    encoded_total: npt.NDArray[np.int64]
    survivors: tuple[int, ...]
    dropped: tuple[int, ...]
    responders: tuple[int, ...]
    bytes_sent_per_client: dict[int, int]
    bytes_received_per_client: dict[int, int]
    bytes_server_received: int
    bytes_server_sent: int
    server_view: ServerView
    params: SecAggParams
    client_seconds: dict[int, float] = field(default_factory=dict)
    server_seconds: float = 0.0


class _Meter:
    """Bytes each party sent and received, and the wall time of each party's protocol calls."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.sent = dict.fromkeys(ids, 0)
        self.received = dict.fromkeys(ids, 0)
        self.client_seconds = dict.fromkeys(ids, 0.0)
        self.server_seconds = 0.0
        self.server_sent = 0

    def client(self, client_id: int, call: Callable[[int], _Sent]) -> _Sent:
        """``call(client_id)``: the client's message to the server, timed and counted."""
        began = time.perf_counter()
        message = call(client_id)
        self.client_seconds[client_id] += time.perf_counter() - began
        self.sent[client_id] += message.nbytes
        return message

    def server(
        self,
        call: Callable[_Arguments, _Result],
        *args: _Arguments.args,
        **kwargs: _Arguments.kwargs,
    ) -> _Result:
        """``call(*args, **kwargs)`` on the server, timed."""
        began = time.perf_counter()
        result = call(*args, **kwargs)
        self.server_seconds += time.perf_counter() - began
        return result

    def deliver(self, client_id: int, message: _Message, *, online: bool) -> None:
        """The server sends ``message`` to a client; an offline one never receives it."""
        self.server_sent += message.nbytes
        if online:
            self.received[client_id] += message.nbytes


def secure_sum(
    inputs: Mapping[int, npt.ArrayLike],
    *,
    threshold: int,
    value_bound: float,
    scale: float = DEFAULT_SCALE,
    bits: int = DEFAULT_BITS,
    drop_before_input: Collection[int] = (),
    drop_after_input: Collection[int] = (),
    rng_seed: int | None = None,
) -> SecureSumResult:
    """Run one secure aggregation of ``inputs`` (client id → update, all of one shape) in
    process, clients and server exchanging only messages.

    ``drop_before_input`` clients go offline after round 1 (their pairwise masks are removed
    through their rebuilt ``s^SK``; their input is not in the sum). ``drop_after_input``
    clients send their masked input, then go offline before round 3 (their input is in the
    sum). Raises :class:`SecureAggregationError` when fewer than ``threshold`` clients take part
    in any round; never returns a partial sum. ``rng_seed`` makes the run reproducible (and
    insecure): see :class:`RandomSource`.
    """
    updates = _checked_inputs(inputs)
    before, after = _checked_dropouts(set(updates), drop_before_input, drop_after_input)
    shape = next(iter(updates.values())).shape
    length = int(np.prod(shape))
    params = SecAggParams(threshold, len(updates), length, value_bound, scale, bits)
    flat = {client_id: update.reshape(length) for client_id, update in updates.items()}
    for client_id, update in flat.items():
        try:
            encode_fixed_point(update, params)
        except InputError as error:
            raise InputError("<argument>", f"inputs[{client_id}]", error.problem) from error

    ids = sorted(updates)
    clients = {
        client_id: SecAggClient(
            client_id, params, random=RandomSource(rng_seed, f"client/{client_id}")
        )
        for client_id in ids
    }
    server = SecAggServer(params)
    meter = _Meter(ids)
    survivors = _run_rounds(clients, server, flat, before, after, meter)
    ring_total = meter.server(server.aggregate)

    view = server.view
    return SecureSumResult(
        total=decode_fixed_point(ring_total, params).reshape(shape),
        encoded_total=ring_to_signed(ring_total, bits).reshape(shape),
        survivors=survivors,
        dropped=tuple(sorted(set(ids) - set(survivors))),
        responders=view.round_sets[3],
        bytes_sent_per_client=meter.sent,
        bytes_received_per_client=meter.received,
        bytes_server_received=sum(meter.sent.values()),
        bytes_server_sent=meter.server_sent,
        server_view=view,
        params=params,
        client_seconds=meter.client_seconds,
        server_seconds=meter.server_seconds,
    )


def _checked_inputs(inputs: Mapping[int, npt.ArrayLike]) -> dict[int, npt.NDArray[np.generic]]:
    if not isinstance(inputs, Mapping) or len(inputs) < 2:
        raise InputError("<argument>", "inputs", "must map at least 2 client ids to updates")
    updates = {}
    for client_id, update in inputs.items():
        check_client_id(client_id)
        updates[client_id] = np.asarray(update)
    shape = next(iter(updates.values())).shape
    for client_id, update in updates.items():
        if update.shape != shape:
            raise InputError(
                "<argument>",
                f"inputs[{client_id}]",
                f"must have the shape of the others {shape}; found {update.shape}",
            )
    return updates


def _checked_dropouts(
    clients: set[int], drop_before_input: Collection[int], drop_after_input: Collection[int]
) -> tuple[set[int], set[int]]:
    before = set(drop_before_input)
    after = set(drop_after_input)
    for name, chosen in (("drop_before_input", before), ("drop_after_input", after)):
        if not chosen <= clients:
            unknown = sorted(chosen - clients)
            raise InputError("<argument>", name, f"unknown client ids {unknown}")
    if before & after:
        raise InputError(
            "<argument>", "drop_after_input", f"clients {sorted(before & after)} drop twice"
        )
    return before, after


def _run_rounds(
    clients: Mapping[int, SecAggClient],
    server: SecAggServer,
    updates: Mapping[int, npt.NDArray[np.generic]],
    before: Collection[int],
    after: Collection[int],
    meter: _Meter,
) -> tuple[int, ...]:
    """Rounds 0 to 3 (Fig. 4) up to the server's aggregate; returns U3."""
    ids = sorted(clients)
    # Round 0: AdvertiseKeys.
    _exchange(
        meter, ids, (), None, lambda c: clients[c].advertise_keys(), server.receive_advertised_keys
    )
    directory = meter.server(server.key_directory)
    # Round 1: ShareKeys.
    _exchange(
        meter,
        ids,
        (),
        lambda c: directory,
        lambda c: clients[c].share_keys(directory),
        server.receive_shares,
    )
    deliveries = meter.server(server.deliver_shares)
    # Round 2: MaskedInputCollection; drop_before_input clients are gone.
    _exchange(
        meter,
        ids,
        before,
        deliveries.__getitem__,
        lambda c: clients[c].masked_input(deliveries[c], updates[c]),
        server.receive_masked_input,
    )
    request = meter.server(server.unmasking_request)
    # Round 3: Unmasking; drop_after_input clients are gone too.
    _exchange(
        meter,
        request.survivors,
        after,
        lambda c: request,
        lambda c: clients[c].unmask(request),
        server.receive_unmasking,
    )
    return request.survivors


def _exchange(
    meter: _Meter,
    parties: Sequence[int],
    offline: Collection[int],
    incoming: Callable[[int], _Message] | None,
    answer: Callable[[int], _Sent],
    receive: Callable[[_Sent], None],
) -> None:
    # One round: the server's message to each party (sent even to one that went offline),
    # then each online party's answer, received by the server.
    for client_id in parties:
        if incoming is not None:
            meter.deliver(client_id, incoming(client_id), online=client_id not in offline)
        if client_id in offline:
            continue
        message = meter.client(client_id, answer)
        meter.server(receive, message)
