"""The ``bank-fraud`` scenario: card transactions over 3 banks, one of which drops out half way.

Distributed noise over secure aggregation is the deployment, with every round's securely
aggregated sum checked against the plain sum of the survivors' inputs; local DP per bank and
the non-private baseline are trained beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from privaudit.scenarios.context import Context, Scenario, Trained
from privaudit.scenarios.planning import Aggregator, calibrate_distributed, secure_sum
from privaudit.scenarios.sgd import Sgd
from privaudit.scenarios.variants import (
    FederatedData,
    VariantSpec,
    local_dp,
    run_baseline,
    run_variant,
)

Array = np.ndarray[Any, Any]

BANKS = ("bank-a", "bank-b", "bank-c")
BANK_THRESHOLD = 2
"""Secure aggregation needs 2 of the 3 banks; noise is planned for that."""
BATCH = 2048
"""Expected transactions a round, over all banks."""
EPOCHS = 3
ENGINE_ROUNDS = 12
"""Rounds of the deployment on an engine of real processes (Flower), over the same epochs."""
ENGINE_LEARNING_RATE = 40.0
FRAUD_IS_RARE = (3.0, -3.0)
"""Initial output biases on an engine: log-odds −6 for fraud, a prior taken from what everyone
knows (fraud is rare), not from any bank's data. From zeros, 12 large steps spend themselves
learning the base rate (ROC-AUC 0.73 in process at ε = 1); from this prior they reach 0.96."""


def creditcard_features(raw: Array) -> Array:
    """Data-independent features of ``Time, V1..V28, Amount``: the published PCA components
    scaled by a fixed 1/4, log-amount / 5, time of day as a point on the circle, each clipped to
    [−3, 3]. No statistic of any bank's data is used (a scaler fitted on all banks would leak)."""
    seconds, components, amount = raw[:, 0], raw[:, 1:29], raw[:, 29]
    day = 2 * np.pi * (seconds % 86400.0) / 86400.0
    features = np.column_stack(
        [components / 4.0, np.log1p(np.maximum(amount, 0.0)) / 5.0, np.sin(day), np.cos(day)]
    )
    clipped: Array = np.clip(features, -3.0, 3.0).astype(np.float32)
    return clipped


def _transactions(context: Context) -> FederatedData:
    """The transactions' features, split 70 / 30 at random into training and test."""
    from privaudit.data.loaders import load_creditcard

    context.say("data: credit-card transactions")
    table = load_creditcard(context.data_dir)
    features = creditcard_features(table.x.astype(np.float64))
    rng = np.random.default_rng(context.seed)
    order = rng.permutation(len(features))
    cut = int(0.7 * len(order))
    train, test = order[:cut], order[cut:]
    x, y = features[train], table.y[train]
    data = {
        "name": "creditcard",
        "train": len(x),
        "test": len(test),
        "fraud_rate_train": float(y.mean()),
        "provenance": dict(table.provenance),
        "features": creditcard_features.__doc__.split(".")[0]
        if creditcard_features.__doc__
        else "",
    }
    return FederatedData(
        x, y, features[test], table.y[test], n_classes=2, data=data, silo_names=list(BANKS)
    )


def _checked(secure: Aggregator, checks: list[float]) -> Aggregator:
    """``secure``, appending to ``checks`` each round's largest gap between the decoded secure
    sum and the plain sum of the inputs of the clients the protocol says survived."""

    # The test oracle, outside the server: it sees the inputs the server never sees.
    def checked(round_: int, inputs: Mapping[int, Array]) -> Any:
        aggregate = secure(round_, inputs)
        if aggregate.total is not None:
            plain = np.sum(
                [np.asarray(inputs[c], dtype=np.float64) for c in aggregate.survivors], axis=0
            )
            checks.append(float(np.max(np.abs(np.asarray(aggregate.total) - plain))))
        return aggregate

    return checked


def _bank_fraud(context: Context) -> Trained:
    from privaudit.data.partition import quantity_skew
    from privaudit.federated import Absence, Heterogeneity
    from privaudit.train.models import ModelSpec

    data = _transactions(context)
    banks, dropping = len(BANKS), BANKS[2]
    parts = quantity_skew(len(data.x), banks, alpha=5.0, seed=context.seed, min_size=10000)
    if context.engine is None:
        q = BATCH / len(data.x)
        rounds = 6 if context.quick else math.ceil(EPOCHS / q)
        learning_rate = 2.0
    else:
        # Each round on real processes costs seconds of messaging: the same epochs in fewer,
        # larger rounds.
        rounds = 4 if context.quick else ENGINE_ROUNDS
        q, learning_rate = EPOCHS / ENGINE_ROUNDS, ENGINE_LEARNING_RATE
    model = ModelSpec() if context.engine is None else ModelSpec(output_bias=FRAUD_IS_RARE)
    sgd = Sgd(rounds, q, clip_norm=1.0, learning_rate=learning_rate, momentum=0.9, model=model)
    drop_from = rounds // 2 + 1
    sigma = calibrate_distributed(context.epsilon, context.delta, q, rounds, banks, BANK_THRESHOLD)
    checks: list[float] = []
    secure = secure_sum(BANK_THRESHOLD, parts, sgd.clip_norm, sigma)
    # Each input is rounded to the protocol's fixed point (half a quantum at most) before the
    # shares meet; the decoded sum is exact on the rounded inputs.
    tolerance = banks * 2.0**-16 / 2 * (1 + 1e-9)
    every = max(1, rounds // 20)
    deployment = run_variant(
        context,
        data,
        VariantSpec(
            name="banks-secagg-dropout",
            description=f"3 banks, distributed noise over secure aggregation; {dropping} drops"
            f" out from round {drop_from}",
            announce=f"secure aggregation: {rounds} rounds, σ = {sigma:.3f} (planned for"
            f" {BANK_THRESHOLD} of {banks} banks surviving); {dropping} drops out from round"
            f" {drop_from}",
            config=sgd.distributed(sigma, context.seed),
            parts=parts,
            in_ledger=True,
            aggregator=_checked(secure, checks),
            secure=secure,
            heterogeneity=Heterogeneity(absences=(Absence(client=2, first_round=drop_from),)),
            evaluate_every=every,
            progress="secagg",
            unit="transaction",
            details=lambda: {
                "secagg_max_abs_error": max(checks) if checks else None,
                "secagg_rounds_checked": len(checks),
                "secagg_tolerance": tolerance,
                # None when the sums ran between processes, where no oracle sees the inputs.
                "secagg_sum_matches": max(checks) <= tolerance if checks else None,
                "dropout_round": drop_from,
            },
        ),
    )
    # Local DP at the same ε: each bank calibrates its own noise on its own data.
    local = replace(sgd, sampling_rate=min(BATCH / 3 / max(len(p) for p in parts), 1.0))
    local_variant = run_variant(
        context,
        data,
        local_dp(
            context,
            local,
            "banks-local-dp",
            "3 banks, local DP-SGD at the same ε",
            lambda local_sigma: f"local DP per bank: {rounds} rounds, σ = {local_sigma:.3f}",
            parts,
            evaluate_every=every,
            progress="local",
        ),
    )
    baseline = run_baseline(context, data, "banks-non-private", parts, sgd)
    summary = {
        **data.data,
        "banks": list(BANKS),
        "threshold": BANK_THRESHOLD,
        "bank_sizes": [len(p) for p in parts],
        "bank_fraud_cases": [int(data.y[p].sum()) for p in parts],
    }
    return deployment, [local_variant, baseline], summary


SCENARIO = Scenario(
    "bank-fraud",
    "Card fraud across 3 banks: secure aggregation with a bank dropping out",
    "bank-fraud.yaml",
    "creditcard",
    1.0,
    "creditcard",
    train=_bank_fraud,
)
