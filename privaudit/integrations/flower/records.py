"""privaudit's messages as Flower records and back: arrays as ``ArrayRecord`` (NumPy ``.npy``
bytes, read without pickle), everything else as ``ConfigRecord`` scalars, bytes and lists."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord

from privaudit.errors import InputError
from privaudit.federated.secagg.messages import (
    AdvertiseKeys,
    EncryptedShare,
    KeyDirectory,
    MaskedInput,
    ShareDelivery,
    ShareKeys,
    UnmaskingRequest,
    UnmaskingResponse,
)
from privaudit.federated.secagg.params import SecAggParams
from privaudit.train.models import ModelSpec

Array = np.ndarray[Any, Any]


def array_record(array: Array) -> ArrayRecord:
    return ArrayRecord([np.ascontiguousarray(array)])


def array_of(record: Any, what: str) -> Array:
    """The one array of ``record``; anything else is refused naming ``what``."""
    if not isinstance(record, ArrayRecord):
        raise InputError("<message>", what, "expected an array record")
    arrays = record.to_numpy_ndarrays()
    if len(arrays) != 1:
        raise InputError("<message>", what, f"expected one array; found {len(arrays)}")
    return arrays[0]


def config_of(record: Any, what: str) -> ConfigRecord:
    if not isinstance(record, ConfigRecord):
        raise InputError("<message>", what, "expected a config record")
    return record


def params_record(params: SecAggParams) -> ConfigRecord:
    return ConfigRecord(asdict(params))


def params_of(record: ConfigRecord) -> SecAggParams:
    return SecAggParams(
        threshold=int(_get(record, "threshold")),
        num_clients=int(_get(record, "num_clients")),
        vector_length=int(_get(record, "vector_length")),
        value_bound=float(_get(record, "value_bound")),
        scale=float(_get(record, "scale")),
        bits=int(_get(record, "bits")),
    )


def model_text(model: ModelSpec) -> str:
    return json.dumps(asdict(model))


def model_of(text: str) -> ModelSpec:
    data = json.loads(text)
    return ModelSpec(
        **{
            **data,
            "hidden": tuple(data.get("hidden", ())),
            "output_bias": None if data.get("output_bias") is None else tuple(data["output_bias"]),
        }
    )


def keys_record(message: AdvertiseKeys) -> ConfigRecord:
    return ConfigRecord(
        {
            "client_id": message.client_id,
            "encryption_key": message.encryption_key,
            "masking_key": message.masking_key,
        }
    )


def keys_of(record: ConfigRecord) -> AdvertiseKeys:
    return AdvertiseKeys(
        int(_get(record, "client_id")),
        bytes(_get(record, "encryption_key")),
        bytes(_get(record, "masking_key")),
    )


def directory_record(directory: KeyDirectory) -> ConfigRecord:
    keys = directory.keys
    return ConfigRecord(
        {
            "client_ids": [k.client_id for k in keys],
            "encryption_keys": [k.encryption_key for k in keys],
            "masking_keys": [k.masking_key for k in keys],
        }
    )


def directory_of(record: ConfigRecord) -> KeyDirectory:
    ids, enc, mask = (
        list(_get(record, n)) for n in ("client_ids", "encryption_keys", "masking_keys")
    )
    if not len(ids) == len(enc) == len(mask):
        raise InputError("<message>", "directory", "expected one key pair per client id")
    return KeyDirectory(
        tuple(
            AdvertiseKeys(int(i), bytes(e), bytes(m))
            for i, e, m in zip(ids, enc, mask, strict=True)
        )
    )


def _shares_record(prefix: str, shares: tuple[EncryptedShare, ...]) -> dict[str, Any]:
    return {
        f"{prefix}senders": [s.sender for s in shares],
        f"{prefix}recipients": [s.recipient for s in shares],
        f"{prefix}ciphertexts": [s.ciphertext for s in shares],
    }


def _shares_of(record: ConfigRecord, prefix: str) -> tuple[EncryptedShare, ...]:
    senders, recipients, texts = (
        list(_items(record, f"{prefix}{n}")) for n in ("senders", "recipients", "ciphertexts")
    )
    if not len(senders) == len(recipients) == len(texts):
        raise InputError("<message>", "shares", "expected matching senders and ciphertexts")
    return tuple(
        EncryptedShare(int(s), int(r), bytes(c))
        for s, r, c in zip(senders, recipients, texts, strict=True)
    )


def share_keys_record(message: ShareKeys) -> ConfigRecord:
    return ConfigRecord({"client_id": message.client_id, **_shares_record("", message.shares)})


def share_keys_of(record: ConfigRecord) -> ShareKeys:
    return ShareKeys(int(_get(record, "client_id")), _shares_of(record, ""))


def delivery_record(delivery: ShareDelivery) -> ConfigRecord:
    return ConfigRecord({"recipient": delivery.recipient, **_shares_record("", delivery.shares)})


def delivery_of(record: ConfigRecord) -> ShareDelivery:
    return ShareDelivery(int(_get(record, "recipient")), _shares_of(record, ""))


def masked_of(client_id: int, record: Any) -> MaskedInput:
    vector = array_of(record, "masked")
    if vector.dtype not in (np.uint32, np.uint64) or vector.ndim != 1:
        raise InputError("<message>", "masked", f"expected a ring vector; found {vector.dtype}")
    return MaskedInput(client_id, vector)


def request_record(request: UnmaskingRequest) -> ConfigRecord:
    return ConfigRecord({"survivors": list(request.survivors), "dropped": list(request.dropped)})


def request_of(record: ConfigRecord) -> UnmaskingRequest:
    return UnmaskingRequest(
        tuple(int(c) for c in _items(record, "survivors")),
        tuple(int(c) for c in _items(record, "dropped")),
    )


def response_record(response: UnmaskingResponse) -> ConfigRecord:
    b, s = response.self_mask_shares, response.masking_key_shares
    return ConfigRecord(
        {
            "client_id": response.client_id,
            "b_peers": [p for p, _ in b],
            "b_shares": [v for _, v in b],
            "s_peers": [p for p, _ in s],
            "s_shares": [v for _, v in s],
        }
    )


def response_of(record: ConfigRecord) -> UnmaskingResponse:
    def pairs(kind: str) -> tuple[tuple[int, bytes], ...]:
        peers = list(_items(record, f"{kind}_peers"))
        shares = list(_items(record, f"{kind}_shares"))
        if len(peers) != len(shares):
            raise InputError("<message>", f"{kind}_shares", "expected one share per peer")
        return tuple((int(p), bytes(v)) for p, v in zip(peers, shares, strict=True))

    return UnmaskingResponse(int(_get(record, "client_id")), pairs("b"), pairs("s"))


def _get(record: Mapping[str, Any], name: str) -> Any:
    if name not in record:
        raise InputError("<message>", name, "is missing")
    return record[name]


def _items(record: ConfigRecord, name: str) -> list[Any]:
    value: Any = record.get(name, [])
    if not isinstance(value, list):
        raise InputError("<message>", name, f"expected a list; found {type(value).__name__}")
    return value


def integer(record: Mapping[str, Any], name: str) -> int:
    """``record[name]`` as an int; a missing or non-integer value is refused by name."""
    value = _get(record, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError("<message>", name, f"expected an integer; found {value!r}")
    return value


def number(record: Mapping[str, Any], name: str) -> float:
    value = _get(record, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError("<message>", name, f"expected a number; found {value!r}")
    return float(value)


def text(record: Mapping[str, Any], name: str) -> str:
    value = _get(record, name)
    if not isinstance(value, str):
        raise InputError("<message>", name, f"expected text; found {type(value).__name__}")
    return value
