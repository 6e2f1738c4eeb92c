"""privaudit.integrations.flower.records: every secure-aggregation message survives the trip
through Flower's records unchanged, and a malformed record is refused by field."""

from __future__ import annotations

import numpy as np
import pytest

from privaudit.errors import InputError
from privaudit.federated.secagg.client import SecAggClient
from privaudit.federated.secagg.params import SecAggParams
from privaudit.federated.secagg.server import SecAggServer
from tests.integrations.flower.federation import WITHOUT_FLOWER

ConfigRecord = pytest.importorskip("flwr.app", reason=WITHOUT_FLOWER).ConfigRecord
records = pytest.importorskip("privaudit.integrations.flower.records", reason=WITHOUT_FLOWER)


def test_a_whole_protocol_through_flower_records_gives_the_plain_sum() -> None:
    params = SecAggParams(threshold=2, num_clients=3, vector_length=4, value_bound=10.0, bits=64)
    inputs = {c: np.arange(4, dtype=np.float64) * (c + 1) / 3 for c in range(3)}
    clients = {c: SecAggClient(c, params) for c in inputs}
    server = SecAggServer(params)
    for client in clients.values():
        server.receive_advertised_keys(
            records.keys_of(records.keys_record(client.advertise_keys()))
        )
    directory = records.directory_of(records.directory_record(server.key_directory()))
    for client in clients.values():
        shares = client.share_keys(directory)
        server.receive_shares(records.share_keys_of(records.share_keys_record(shares)))
    deliveries = server.deliver_shares()
    # Client 2 drops out after sharing its keys: the survivors' shares remove its masks.
    for c in (0, 1):
        delivery = records.delivery_of(records.delivery_record(deliveries[c]))
        masked = clients[c].masked_input(delivery, inputs[c])
        server.receive_masked_input(records.masked_of(c, records.array_record(masked.vector)))
    request = records.request_of(records.request_record(server.unmasking_request()))
    for c in request.survivors:
        response = clients[c].unmask(request)
        server.receive_unmasking(records.response_of(records.response_record(response)))

    from privaudit.federated.secagg.encoding import decode_fixed_point

    total = decode_fixed_point(server.aggregate(), params)
    assert request.survivors == (0, 1)
    np.testing.assert_allclose(total, inputs[0] + inputs[1], atol=1e-4)


def test_a_masked_input_that_is_not_a_ring_vector_is_refused() -> None:
    with pytest.raises(InputError, match="masked"):
        records.masked_of(0, records.array_record(np.zeros(3, dtype=np.float64)))


def test_a_missing_field_is_named() -> None:
    with pytest.raises(InputError, match="client_id"):
        records.keys_of(ConfigRecord({"encryption_key": b"x", "masking_key": b"y"}))


def test_a_number_field_of_the_wrong_type_is_named() -> None:
    with pytest.raises(InputError, match="round"):
        records.integer(ConfigRecord({"round": "3"}), "round")
