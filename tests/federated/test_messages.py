"""Messages: what the server receives and holds are read-only copies."""

from __future__ import annotations

import pytest

from privaudit.data.partition import iid
from privaudit.federated.config import DpFedAvgConfig
from privaudit.federated.messages import UpdateMessage
from privaudit.federated.runs import run_dp_fedavg
from tests.federated.support import blobs


def test_messages_are_read_only_copies() -> None:
    x, y = blobs(100)
    config = DpFedAvgConfig(rounds=1, client_sampling_rate=1.0, noise_multiplier=1, clip_norm=1)
    result = run_dp_fedavg(x, y, iid(len(x), 2, seed=0), config, keep_messages=True)
    message = result.server.received[0]
    assert isinstance(message, UpdateMessage)
    with pytest.raises(ValueError, match="read-only"):
        message.payload.values[0] = 1.0  # type: ignore[index]
    with pytest.raises(ValueError, match="read-only"):
        result.server.params[0] = 1.0
