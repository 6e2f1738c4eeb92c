"""Audits of the trainers on two Gaussian blobs, shared by the audit and audit-record tests."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from privaudit.accounting.accountant import account
from privaudit.audit.dpsgd import audit_dpsgd
from privaudit.audit.fedavg import audit_fedavg
from privaudit.federated import DpFedAvgConfig
from privaudit.mechanisms import DpFedAvg
from privaudit.records.audit import AuditRecord
from privaudit.train.dpsgd import DpSgdConfig

DELTA = 1e-5
N, D = 2000, 20

# Calibrated (calibrate_noise) for ε = 2 at δ = 1e-5: DP-SGD with q = 0.1 over 100 steps, and
# DP-FedAvg with q = 0.1 over 100 rounds. The claim itself comes from the accountant below.
SIGMA_EPS2 = 2.249
DPSGD = DpSgdConfig(
    noise_multiplier=SIGMA_EPS2, clip_norm=1.0, batch_size=200, epochs=10, learning_rate=0.5
)
FEDAVG = DpFedAvgConfig(
    rounds=100,
    client_sampling_rate=0.1,
    noise_multiplier=SIGMA_EPS2,
    clip_norm=0.5,
    local_batch_size=10,
)

Blobs = tuple[np.ndarray[Any, Any], ...]


@cache
def two_blobs() -> Blobs:
    """Two Gaussian blobs in 20 dimensions: 2,000 training and 500 test points."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, D))
    y = rng.integers(0, 2, N)
    y_test = rng.integers(0, 2, 500)
    x = (centres[y] + rng.normal(size=(N, D))).astype(np.float32)
    x_test = (centres[y_test] + rng.normal(size=(500, D))).astype(np.float32)
    return x, y, x_test, y_test


def dpsgd_claim(config: DpSgdConfig) -> float:
    return account([config.mechanism(N, config.planned_steps(N))], DELTA).epsilon


def fedavg_claim(config: DpFedAvgConfig) -> float:
    mechanism = DpFedAvg(
        noise_multiplier=config.noise_multiplier,
        client_sampling_rate=config.client_sampling_rate,
        rounds=config.rounds,
    )
    return account([mechanism], DELTA).epsilon


def dpsgd_audit(blobs: Blobs, config: DpSgdConfig = DPSGD, **options: Any) -> AuditRecord:
    x, y, x_test, y_test = blobs
    settings: dict[str, Any] = {"delta": DELTA, "seed": 0, **options}
    if "epsilon_claimed" not in settings:
        settings["epsilon_claimed"] = dpsgd_claim(config)
    return audit_dpsgd(x, y, x_test, y_test, config, **settings)


def fedavg_audit(blobs: Blobs, config: DpFedAvgConfig = FEDAVG, **options: Any) -> AuditRecord:
    x, y, x_test, y_test = blobs
    parts = np.array_split(np.arange(N), 100)
    settings: dict[str, Any] = {"delta": DELTA, "seed": 0, **options}
    if "epsilon_claimed" not in settings:
        settings["epsilon_claimed"] = fedavg_claim(config)
    return audit_fedavg(x, y, parts, x_test, y_test, config, **settings)
