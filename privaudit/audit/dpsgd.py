"""The canary-audited DP-SGD trainer: :func:`~privaudit.train.dpsgd.train_dpsgd`'s loop, built
from the same blocks, with the included canaries as extra records (see
:mod:`privaudit.audit.session` for the method and threat model)."""

from __future__ import annotations

import time
from typing import Any, Unpack

import numpy as np

from privaudit.audit.session import AuditedRun, AuditSession, model_json, one_blas_thread
from privaudit.audit.settings import AuditOptions, AuditSettings
from privaudit.checks import ARGUMENT
from privaudit.errors import InputError
from privaudit.mechanisms import Sampling
from privaudit.records.audit import AuditRecord
from privaudit.train.dpsgd import DpSgdConfig, make_optimizer, poisson_sample
from privaudit.train.inputs import checked_split, class_count
from privaudit.train.models import Array, Labels

__all__ = ["audit_dpsgd"]


def audit_dpsgd(
    x_train: Array,
    y_train: Labels,
    x_test: Array,
    y_test: Labels,
    config: DpSgdConfig,
    **options: Unpack[AuditOptions],
) -> AuditRecord:
    """Audit DP-SGD ``config`` on ``x_train`` (n, d) in one training run with ``canaries``
    Dirac gradient canaries; ``epsilon_claimed`` is the accountant's ε at ``delta`` for
    ``config.mechanism(n, steps)`` (e.g. ``account([mechanism], delta).epsilon``).

    The options are :class:`~privaudit.audit.settings.AuditSettings`; ``config.seed`` is not
    used. Returns the record; the caller writes it
    (:func:`~privaudit.records.audit.write_audit_record`).
    """
    started = time.perf_counter()
    settings = AuditSettings(**options)
    x_train, y_train, x_test, y_test = checked_split(x_train, y_train, x_test, y_test)
    _check_config(config)
    n, d = x_train.shape
    classes = class_count(settings.n_classes, y_train, y_test)
    q = config.sampling_rate(n)
    steps = config.planned_steps(n)
    mechanism = config.mechanism(n, steps)
    audit = AuditSession(
        settings,
        target="dpsgd",
        base_features=d,
        clip_norm=config.clip_norm,
        noise_multiplier=config.noise_multiplier,
        sampling_rate=q,
        steps=steps,
        mechanism=mechanism,
        started=started,
    )
    with one_blas_thread():
        run = _train_with_canaries(
            x_train, y_train, x_test, y_test, config, audit, classes=classes, steps=steps
        )
    return audit.record(
        data={"train": n, "test": len(x_test), "features": d},
        config=_config_json(config, q, steps),
        mechanism=mechanism,
        run=run,
    )


def _check_config(config: DpSgdConfig) -> None:
    if not config.private:
        raise InputError(ARGUMENT, "config.noise_multiplier", "must be > 0 to audit privacy")
    if config.sampling is not Sampling.POISSON:
        raise InputError(
            ARGUMENT,
            "config.sampling",
            f"the one-run audit covers poisson sampling; found {config.sampling.value}",
        )


def _train_with_canaries(
    x_train: Array,
    y_train: Labels,
    x_test: Array,
    y_test: Labels,
    config: DpSgdConfig,
    audit: AuditSession,
    *,
    classes: int,
    steps: int,
) -> AuditedRun:
    """DP-SGD as :func:`~privaudit.train.dpsgd.train_dpsgd` runs it (Abadi et al. 2016, Alg. 1),
    with the included canaries as extra records on their own coordinates (held beside the
    model: :class:`~privaudit.audit.session.CanaryRelease`)."""
    n = len(x_train)
    clip = config.clip_norm
    trainer = audit.trainer
    rng = audit.trainer_rng
    model, params = audit.model(config.model, classes, x_train)
    dtype = params.dtype
    optimizer = make_optimizer(config, model.n_params, dtype)
    canaries = audit.release(model)
    expected_batch = float(config.batch_size)  # q·n, public
    report = audit.reporter(steps, "step")
    for step in range(steps):
        index = poisson_sample(n, trainer.sampling_rate, rng)
        canaries.sample(rng)
        x_batch = x_train[index].astype(dtype, copy=False)
        if trainer.clips:
            total, _, _ = model.clipped_gradient_sum(params, x_batch, y_train[index], clip)
        else:
            total = model.gradient(params, x_batch, y_train[index]) * np.asarray(
                len(index), dtype=dtype
            )
        noisy = canaries.release(total, rng)
        noisy /= np.asarray(expected_batch, dtype=noisy.dtype)
        optimizer.step(params, noisy)
        report(step + 1)
    return canaries.finish(steps, model, params, x_test, y_test)


def _config_json(config: DpSgdConfig, sampling_rate: float, steps: int) -> dict[str, Any]:
    return {
        "noise_multiplier": config.noise_multiplier,
        "clip_norm": config.clip_norm,
        "batch_size": config.batch_size,
        "sampling": config.sampling.value,
        "sampling_rate": sampling_rate,
        "steps": steps,
        "epochs": config.epochs,
        "learning_rate": config.learning_rate,
        "momentum": config.momentum,
        "optimizer": config.optimizer,
        "model": model_json(config.model),
    }
