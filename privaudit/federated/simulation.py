"""The round loop: the server configures, online clients fit, their updates reach the server
(straight, or through an aggregator), the server aggregates; each round is recorded."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from privaudit.checks import ARGUMENT, require_count
from privaudit.errors import InputError
from privaudit.federated.aggregation import Aggregator
from privaudit.federated.arrays import frozen
from privaudit.federated.clients import FitClient
from privaudit.federated.evaluation import evaluation_data, metrics
from privaudit.federated.heterogeneity import Heterogeneity
from privaudit.federated.messages import AggregateMessage, ModelMessage, UpdateMessage
from privaudit.federated.results import FederatedResult, LedgerItem, RoundRecord
from privaudit.federated.server import Server
from privaudit.train.models import Array, Labels

RoundCallback = Callable[[RoundRecord], None]


@dataclass
class _Traffic:
    """One round's deliveries as the environment let them happen."""

    dropped: list[int] = field(default_factory=list)
    stragglers: list[int] = field(default_factory=list)
    delivered: dict[int, UpdateMessage] = field(default_factory=dict)
    survivors: tuple[int, ...] = ()
    bytes_up: int = 0
    bytes_down: int = 0


def simulate(
    server: Server,
    clients: Mapping[int, FitClient],
    rounds: int,
    *,
    environment: np.random.Generator,
    heterogeneity: Heterogeneity | None = None,
    aggregator: Aggregator | None = None,
    test_data: tuple[Array, Labels] | None = None,
    evaluate_every: int = 1,
    on_round: RoundCallback | None = None,
) -> FederatedResult:
    """Run ``rounds`` rounds: the server configures, online clients fit, updates reach the
    server (or the ``aggregator``, for strategies that use one), the server aggregates.

    ``environment`` draws dropouts and stragglers. With ``test_data`` the model is evaluated
    every ``evaluate_every`` rounds and after the last.
    """
    require_count(rounds, "rounds")
    require_count(evaluate_every, "evaluate_every")
    strategy = server.strategy
    if strategy.uses_aggregator and aggregator is None:
        raise InputError(ARGUMENT, "aggregator", f"{strategy.mode} needs an aggregator")
    world = heterogeneity or Heterogeneity()
    population = sorted(clients)
    _check_stragglers(world, population)
    position = {client: i for i, client in enumerate(population)}
    if test_data is not None:
        test_data = evaluation_data(server.model, *test_data)
    start = time.perf_counter()
    records: list[RoundRecord] = []
    ledger: list[LedgerItem] = []
    for r in range(1, rounds + 1):
        messages = server.configure_fit(r, population)
        traffic = _fit(clients, messages, r, world, environment, position)
        if aggregator is not None and strategy.uses_aggregator:
            _through_aggregator(server, aggregator, traffic, r)
        else:
            _straight_to_server(server, traffic)
        outcome = server.aggregate_fit(r)
        ledger.extend(outcome.ledger)
        evaluated = None
        if test_data is not None and (r % evaluate_every == 0 or r == rounds):
            evaluated = metrics(server.model, server.params, *test_data)
        records.append(
            RoundRecord(
                round=r,
                selected=tuple(sorted(messages)),
                dropped=tuple(traffic.dropped),
                stragglers=tuple(traffic.stragglers),
                survivors=traffic.survivors,
                bytes_up=traffic.bytes_up,
                bytes_down=traffic.bytes_down,
                clip_norm=outcome.clip_norm,
                noise_multiplier=outcome.noise_multiplier,
                unclipped_fraction=outcome.unclipped_fraction,
                metrics=evaluated,
                seconds=time.perf_counter() - start,
            )
        )
        if on_round is not None:
            on_round(records[-1])
    return FederatedResult(
        mode=strategy.mode,
        privacy_unit=strategy.privacy_unit,
        rounds=tuple(records),
        ledger_entries=tuple(ledger),
        params=server.params,
        model=server.model,
        server=server,
        seed=None,
        wall_time=time.perf_counter() - start,
    )


def _check_stragglers(world: Heterogeneity, population: Sequence[int]) -> None:
    straggling = world.straggler_probability
    if isinstance(straggling, tuple) and len(straggling) != len(population):
        raise InputError(
            ARGUMENT,
            "straggler_probability",
            f"expected one probability per client ({len(population)}); found {len(straggling)}",
        )


def _fit(
    clients: Mapping[int, FitClient],
    messages: Mapping[int, ModelMessage],
    round: int,
    world: Heterogeneity,
    environment: np.random.Generator,
    position: Mapping[int, int],
) -> _Traffic:
    # The selected clients in id order, so the environment's draws do not depend on the order
    # the strategy listed them in.
    traffic = _Traffic()
    for client in sorted(messages):
        if world.offline(client, round, environment):
            traffic.dropped.append(client)
            continue
        traffic.bytes_down += messages[client].nbytes
        if world.straggles(position[client], environment):
            traffic.stragglers.append(client)
            continue
        traffic.delivered[client] = clients[client].fit(messages[client])
    return traffic


def _straight_to_server(server: Server, traffic: _Traffic) -> None:
    for update in traffic.delivered.values():
        server.receive(update)
        traffic.bytes_up += update.nbytes
    traffic.survivors = tuple(traffic.delivered)


def _through_aggregator(
    server: Server, aggregator: Aggregator, traffic: _Traffic, round: int
) -> None:
    # The server receives the sum, and each input only when the aggregator reveals them.
    delivered = traffic.delivered
    if not delivered:
        return
    result = aggregator(round, {c: u.vector for c, u in delivered.items()})
    survivors = tuple(result.survivors)
    if not set(survivors) <= set(delivered):
        raise InputError(
            ARGUMENT,
            "aggregator",
            f"reported survivors {survivors} outside its inputs in round {round}",
        )
    if result.reveals_inputs:
        for client in survivors:
            server.receive(delivered[client])
    if result.total is not None and survivors:
        server.receive(
            AggregateMessage(
                round=round,
                total=frozen(result.total),
                survivors=survivors,
                planned=tuple(sorted(delivered)),
                reveals_inputs=result.reveals_inputs,
                server_view=result.server_view,
                nbytes=result.bytes_server,
            )
        )
        traffic.survivors = survivors
    traffic.bytes_up = sum(result.bytes_per_client.values())
    traffic.bytes_down += result.bytes_to_clients
