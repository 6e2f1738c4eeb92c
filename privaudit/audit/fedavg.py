"""The canary-audited DP-FedAvg trainer: client-level DP-FedAvg with fixed clipping, built from
the federated blocks, with the included canary clients added to the population (see
:mod:`privaudit.audit.session` for the method and threat model)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Unpack

import numpy as np
import numpy.typing as npt

from privaudit.audit.session import AuditedRun, AuditSession, model_json, one_blas_thread
from privaudit.audit.settings import AuditOptions, AuditSettings
from privaudit.checks import ARGUMENT
from privaudit.errors import InputError
from privaudit.federated import DpFedAvgConfig, clip_to_norm, local_sgd
from privaudit.mechanisms import DpFedAvg
from privaudit.records.audit import AuditRecord
from privaudit.train.dpsgd import poisson_sample
from privaudit.train.inputs import checked_split, class_count
from privaudit.train.models import Array, Labels

__all__ = ["audit_fedavg"]

Clients = list[npt.NDArray[np.int64]]


def audit_fedavg(
    x: Array,
    y: Labels,
    parts: Sequence[npt.ArrayLike],
    x_test: Array,
    y_test: Labels,
    config: DpFedAvgConfig,
    **options: Unpack[AuditOptions],
) -> AuditRecord:
    """Audit client-level DP-FedAvg ``config`` (McMahan et al., ICLR 2018, Alg. 1) in one run:
    real client i holds the records ``parts[i]`` of ``x``/``y``; each of ``canaries`` canary
    *clients* (included with probability 1/2) sends the model delta G·e_c on its own unused
    coordinate. ``epsilon_claimed`` is the accountant's ε for ``DpFedAvg(z, q, rounds)``; the
    options are :class:`~privaudit.audit.settings.AuditSettings`. Fixed clipping only: adaptive
    clipping and compression are refused."""
    started = time.perf_counter()
    settings = AuditSettings(**options)
    x, y, x_test, y_test = checked_split(x, y, x_test, y_test, names=("x", "y"))
    _check_config(config)
    n, d = x.shape
    clients = _clients(parts, n)
    classes = class_count(settings.n_classes, y, y_test, name="y")
    q = config.client_sampling_rate
    mechanism = DpFedAvg(
        noise_multiplier=config.noise_multiplier, client_sampling_rate=q, rounds=config.rounds
    )
    audit = AuditSession(
        settings,
        target="fedavg",
        base_features=d,
        clip_norm=config.clip_norm,
        noise_multiplier=config.noise_multiplier,
        sampling_rate=q,
        steps=config.rounds,
        mechanism=mechanism,
        started=started,
    )
    with one_blas_thread():
        run = _train_with_canaries(x, y, clients, x_test, y_test, config, audit, classes=classes)
    sizes = {"records": n, "clients": len(clients), "test": len(x_test), "features": d}
    return audit.record(data=sizes, config=_config_json(config), mechanism=mechanism, run=run)


def _check_config(config: DpFedAvgConfig) -> None:
    if config.noise_multiplier <= 0:
        raise InputError(ARGUMENT, "config.noise_multiplier", "must be > 0 to audit privacy")
    if config.adaptive_clipping is not None or config.compression is not None:
        raise InputError(
            ARGUMENT,
            "config",
            "the audit covers DP-FedAvg with fixed clipping and no compression",
        )


def _clients(parts: Sequence[npt.ArrayLike], n: int) -> Clients:
    """The real clients' record indices into the ``n`` records."""
    if len(parts) < 1:
        raise InputError(ARGUMENT, "parts", "expected at least one client")
    clients: Clients = []
    for index, part in enumerate(parts):
        rows = np.asarray(part)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer) or len(rows) == 0:
            raise InputError(
                ARGUMENT, f"parts[{index}]", "expected a non-empty 1-d array of record indices"
            )
        if rows.min() < 0 or rows.max() >= n:
            raise InputError(ARGUMENT, f"parts[{index}]", f"indices must be in 0..{n - 1}")
        clients.append(rows.astype(np.int64))
    return clients


def _train_with_canaries(
    x: Array,
    y: Labels,
    clients: Clients,
    x_test: Array,
    y_test: Labels,
    config: DpFedAvgConfig,
    audit: AuditSession,
    *,
    classes: int,
) -> AuditedRun:
    """DP-FedAvg (McMahan et al. 2018, Alg. 1) as ``DpFedAvgStrategy`` runs it with fixed
    clipping, with the included canary clients added to the population."""
    clip = config.clip_norm
    trainer = audit.trainer
    rng = audit.trainer_rng
    model, params = audit.model(config.model, classes, x)
    dtype = params.dtype
    canaries = audit.release(model)
    # The fixed denominator q·N over the real population (McMahan et al. 2018, §2, f̃_f).
    expected_clients = config.client_sampling_rate * len(clients)
    velocity = np.zeros_like(params) if config.server_momentum else None
    report = audit.reporter(config.rounds, "round")
    for round_ in range(config.rounds):
        chosen = poisson_sample(len(clients), trainer.sampling_rate, rng)
        canaries.sample(rng)
        total = np.zeros_like(params)
        for client in chosen:
            rows = clients[client]
            trained = local_sgd(
                model,
                params,
                x[rows].astype(dtype, copy=False),
                y[rows],
                epochs=config.local_epochs,
                batch_size=config.local_batch_size,
                learning_rate=config.local_learning_rate,
                rng=rng,
            )
            delta: Array = trained - params
            if trainer.clips:
                delta, _ = clip_to_norm(delta, clip)
            total += delta
        noisy = canaries.release(total, rng)
        update: Array = noisy / np.asarray(expected_clients, dtype=noisy.dtype)
        if velocity is not None:
            # Heavy-ball momentum on the averaged update (FedAvgM; Hsu, Qi & Brown 2019).
            velocity *= config.server_momentum
            velocity += update
            update = velocity
        params = (params + config.server_learning_rate * update).astype(dtype, copy=False)
        report(round_ + 1)
    return canaries.finish(config.rounds, model, params, x_test, y_test)


def _config_json(config: DpFedAvgConfig) -> dict[str, Any]:
    return {
        "rounds": config.rounds,
        "client_sampling_rate": config.client_sampling_rate,
        "noise_multiplier": config.noise_multiplier,
        "clip_norm": config.clip_norm,
        "local_epochs": config.local_epochs,
        "local_batch_size": config.local_batch_size,
        "local_learning_rate": config.local_learning_rate,
        "server_learning_rate": config.server_learning_rate,
        "server_momentum": config.server_momentum,
        "model": model_json(config.model),
    }
