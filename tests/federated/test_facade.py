"""The package facade: every public name of the simulator stays importable from
``privaudit.federated``, and importing it loads neither secure aggregation nor cryptography."""

from __future__ import annotations

import json
import subprocess
import sys

import privaudit.federated as federated
from privaudit.federated import secagg

# What other units of privaudit import from the facade.
USED_ELSEWHERE = (
    "Absence",
    "AdaptiveClipping",
    "DistributedDpSgdConfig",
    "DpFedAvgConfig",
    "FederatedResult",
    "Heterogeneity",
    "LocalDpSgdConfig",
    "clip_to_norm",
    "evaluate",
    "ideal_secure_sum",
    "local_sgd",
    "run_distributed_dpsgd",
    "run_dp_fedavg",
    "run_local_dpsgd",
    "secure_aggregator",
    "simulate",
    "write_ledger",
)

_LOADED = """
import json, sys
import privaudit.federated
print(json.dumps(sorted(sys.modules)))
"""


def test_every_public_name_is_importable_from_the_facade() -> None:
    assert set(USED_ELSEWHERE) <= set(federated.__all__)
    for name in federated.__all__:
        assert getattr(federated, name) is not None, name


def test_the_facade_does_not_load_secure_aggregation() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LOADED], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert "privaudit.federated.secagg" not in loaded
    assert not any(name == "cryptography" or name.startswith("cryptography.") for name in loaded)


def test_secagg_exports_what_its_callers_import() -> None:
    for name in (
        "ID_BYTES",
        "KEY_BYTES",
        "SHARE_BYTES",
        "RandomSource",
        "SecAggClient",
        "SecAggParams",
        "SecAggServer",
        "SecureAggregationError",
        "ShareDelivery",
        "UnmaskingRequest",
        "encode_fixed_point",
        "ring_to_signed",
        "secure_sum",
        "shamir_combine",
        "shamir_split",
    ):
        assert name in secagg.__all__, name
