"""One-run audits of DP-FedAvg with canary clients: a correct trainer passes, planted bugs are
caught, unsupported configurations are refused."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from privaudit.audit.fedavg import audit_fedavg
from privaudit.audit.planted import PlantedBug
from privaudit.errors import InputError
from privaudit.federated import AdaptiveClipping
from tests.audit.blobs import DELTA, FEDAVG, Blobs, N, fedavg_audit


def test_correct_fedavg_is_consistent_over_seeds(blobs: Blobs) -> None:
    for seed in range(3):
        record = fedavg_audit(blobs, seed=seed)
        assert record.verdict == "consistent", record.reasons
        assert record.target == "fedavg" and record.epsilon_lower_bound > 0


@pytest.mark.usefixtures("allow_bugs")
@pytest.mark.parametrize("bug", list(PlantedBug))
def test_each_planted_bug_is_a_violation_in_fedavg(blobs: Blobs, bug: PlantedBug) -> None:
    record = fedavg_audit(blobs, planted_bug=bug)
    assert record.verdict == "violation" and record.planted_bug == bug.value
    assert record.epsilon_lower_bound > record.epsilon_claimed


def test_refused_fedavg_configurations(blobs: Blobs) -> None:
    adaptive = replace(FEDAVG, adaptive_clipping=AdaptiveClipping())
    with pytest.raises(InputError, match="fixed clipping"):
        fedavg_audit(blobs, adaptive, epsilon_claimed=2.0)
    x, y, x_test, y_test = blobs
    with pytest.raises(InputError, match=r"parts\[0\]"):
        audit_fedavg(
            x, y, [np.array([N])], x_test, y_test, FEDAVG, epsilon_claimed=2.0, delta=DELTA, seed=0
        )
