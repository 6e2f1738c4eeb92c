"""SecAggClient.snapshot/restore: a client rebuilt from its snapshot at every stage (as a
Flower ClientApp is, in a new process per message) finishes the protocol with the same sum."""

from __future__ import annotations

import json

import numpy as np
import pytest

from privaudit.federated.secagg.client import SecAggClient
from privaudit.federated.secagg.encoding import decode_fixed_point
from privaudit.federated.secagg.errors import SecureAggregationError
from privaudit.federated.secagg.params import SecAggParams
from privaudit.federated.secagg.server import SecAggServer


def _reborn(client: SecAggClient, params: SecAggParams) -> SecAggClient:
    # Through JSON text, as the ClientApp keeps it in its node's state.
    return SecAggClient.restore(params, json.loads(json.dumps(client.snapshot())))


def test_a_client_restored_before_every_stage_gives_the_plain_sum() -> None:
    params = SecAggParams(threshold=2, num_clients=3, vector_length=5, value_bound=8.0, bits=64)
    inputs = {c: np.linspace(-1, 1, 5) * (c + 2) for c in range(3)}
    clients = {c: SecAggClient(c, params) for c in inputs}
    server = SecAggServer(params)
    for c in inputs:
        server.receive_advertised_keys(clients[c].advertise_keys())
        clients[c] = _reborn(clients[c], params)
    directory = server.key_directory()
    for c in inputs:
        server.receive_shares(clients[c].share_keys(directory))
        clients[c] = _reborn(clients[c], params)
    deliveries = server.deliver_shares()
    for c in inputs:
        server.receive_masked_input(clients[c].masked_input(deliveries[c], inputs[c]))
        clients[c] = _reborn(clients[c], params)
    request = server.unmasking_request()
    for c in request.survivors:
        server.receive_unmasking(clients[c].unmask(request))

    total = decode_fixed_point(server.aggregate(), params)
    np.testing.assert_allclose(total, sum(inputs.values()), atol=1e-4)


def test_a_restored_client_still_refuses_to_run_a_stage_twice() -> None:
    params = SecAggParams(threshold=2, num_clients=2, vector_length=1, value_bound=1.0)
    client = SecAggClient(0, params)
    client.advertise_keys()
    with pytest.raises(SecureAggregationError, match="in order"):
        _reborn(client, params).advertise_keys()


def test_a_malformed_snapshot_is_refused() -> None:
    params = SecAggParams(threshold=2, num_clients=2, vector_length=1, value_bound=1.0)
    state = SecAggClient(0, params).snapshot()
    state["masking_key"] = "zz"
    with pytest.raises(SecureAggregationError, match="malformed"):
        SecAggClient.restore(params, state)
