"""The privaudit ClientApp: one silo of distributed DP-SGD over secure aggregation on Flower.

A SuperNode runs it with ``--node-config "partition-id=I data-file=PATH"``; PATH is an ``.npz``
with the silo's features ``x`` and labels ``y`` (read without pickle), kept on the silo's own
machine. Each message starts a new process, so what a silo must remember between the four
stages of a round (its noisy share, its secure-aggregation secrets, its generator) is kept in
the run's node-local ``context.state``, never sent. The stages (Bonawitz et al. 2017, Fig. 4):

- ``query.hello``: which silo this node is and how many records it holds (public sizes);
- ``train.share``: the round's model → this silo's clipped-gradient sum plus its noise share
  N(0, σ²C²/m) (Kairouz, Liu & Steinke 2021), kept; answers with fresh public keys (round 0);
- ``train.keys``: the key directory → encrypted Shamir shares (round 1);
- ``train.masked``: the shares meant for it → its masked share (round 2);
- ``train.unmask``: who survived → the shares that remove the masks (round 3).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

from privaudit.errors import InputError
from privaudit.federated.secagg.client import SecAggClient
from privaudit.federated.updates import gradient_share
from privaudit.integrations.flower.records import (
    array_of,
    array_record,
    config_of,
    delivery_of,
    directory_of,
    integer,
    keys_record,
    model_of,
    number,
    params_of,
    request_of,
    response_record,
    share_keys_record,
    text,
)
from privaudit.integrations.flower.spec import load_arrays

app = ClientApp()

_STATE = "privaudit"
_SHARE = "privaudit.share"


@lru_cache(maxsize=2)
def _silo(data_file: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    x, y = load_arrays(Path(data_file), "x", "y")
    return x, y.astype(np.int64)


def _node(context: Context) -> tuple[int, str]:
    config = context.node_config
    if "partition-id" not in config or "data-file" not in config:
        raise InputError(
            "<node-config>",
            "partition-id",
            "a privaudit SuperNode needs partition-id and data-file",
        )
    return integer(config, "partition-id"), text(config, "data-file")


def _reply(message: Message, **records: Any) -> Message:
    return Message(RecordDict(records), reply_to=message)


def _saved(context: Context, round_: int) -> ConfigRecord:
    # A stage of another round than the one this silo took part in is refused: the rounds of
    # secure aggregation run in order, once each.
    if _STATE not in context.state:
        raise InputError("<state>", "round", f"this silo took no part in round {round_}")
    saved = context.state[_STATE]
    assert isinstance(saved, ConfigRecord)
    if integer(saved, "round") != round_:
        raise InputError(
            "<state>", "round", f"expected round {integer(saved, 'round')}; found {round_}"
        )
    return saved


def _client(saved: ConfigRecord, config: ConfigRecord) -> SecAggClient:
    return SecAggClient.restore(params_of(config), json.loads(text(saved, "secagg")))


def _keep(context: Context, saved: ConfigRecord, client: SecAggClient) -> None:
    saved["secagg"] = json.dumps(client.snapshot())
    context.state[_STATE] = saved


def _generator(context: Context, config: ConfigRecord, partition: int) -> np.random.Generator:
    """The silo's generator: carried over from its last round, else new — from the run's seed
    when one was given (the in-process runner's stream for this silo), else from the OS."""
    if _STATE in context.state and "rng" in context.state[_STATE]:
        state = json.loads(str(context.state[_STATE]["rng"]))
        generator = np.random.Generator(np.random.PCG64())
        generator.bit_generator.state = state
        return generator
    if "seed" in config:
        silos = integer(config, "silos")
        stream = np.random.SeedSequence(integer(config, "seed")).spawn(3 + silos)[3 + partition]
        return np.random.Generator(np.random.PCG64(stream))
    return np.random.default_rng()


@app.query("hello")
def hello(message: Message, context: Context) -> Message:
    partition, data_file = _node(context)
    x, _ = _silo(data_file)
    return _reply(
        message,
        silo=ConfigRecord(
            {"partition": partition, "examples": len(x), "features": int(x.shape[1])}
        ),
    )


@app.train("share")
def share(message: Message, context: Context) -> Message:
    partition, data_file = _node(context)
    config = config_of(message.content["config"], "config")
    params = array_of(message.content["params"], "params")
    x, y = _silo(data_file)
    model = model_of(text(config, "model")).build(x.shape[1], integer(config, "n_classes"))
    rng = _generator(context, config, partition)
    vector = gradient_share(
        model,
        params.astype(x.dtype, copy=False),
        x,
        y,
        sampling_rate=number(config, "sampling_rate"),
        clip_norm=number(config, "clip_norm"),
        noise_multiplier=number(config, "noise_multiplier"),
        participants=integer(config, "participants"),
        rng=rng,
    )
    client = SecAggClient(integer(config, "client_id"), params_of(config))
    keys = client.advertise_keys()
    saved = ConfigRecord(
        {"round": integer(config, "round"), "rng": json.dumps(rng.bit_generator.state)}
    )
    context.state[_SHARE] = array_record(np.asarray(vector, dtype=np.float64).ravel())
    _keep(context, saved, client)
    return _reply(message, keys=keys_record(keys))


@app.train("keys")
def keys(message: Message, context: Context) -> Message:
    config = config_of(message.content["config"], "config")
    saved = _saved(context, integer(config, "round"))
    client = _client(saved, config)
    answer = client.share_keys(directory_of(config_of(message.content["directory"], "dir")))
    _keep(context, saved, client)
    return _reply(message, shares=share_keys_record(answer))


@app.train("masked")
def masked(message: Message, context: Context) -> Message:
    config = config_of(message.content["config"], "config")
    saved = _saved(context, integer(config, "round"))
    client = _client(saved, config)
    vector = array_of(context.state[_SHARE], "share")
    answer = client.masked_input(
        delivery_of(config_of(message.content["delivery"], "delivery")), vector
    )
    _keep(context, saved, client)
    del context.state[_SHARE]
    return _reply(message, masked=array_record(answer.vector))


@app.train("unmask")
def unmask(message: Message, context: Context) -> Message:
    config = config_of(message.content["config"], "config")
    saved = _saved(context, integer(config, "round"))
    client = _client(saved, config)
    answer = client.unmask(request_of(config_of(message.content["request"], "request")))
    _keep(context, saved, client)
    return _reply(message, response=response_record(answer))
