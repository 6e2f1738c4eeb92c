"""The MNIST scenarios: ``mnist-noniid`` (10 silos with label skew, example-level DP-SGD) and
``mnist-cross-device`` (1,000 devices, client-level DP-FedAvg)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from privaudit.scenarios.context import Context, Scenario, Trained
from privaudit.scenarios.planning import calibrate_distributed, secure_sum
from privaudit.scenarios.sgd import Sgd
from privaudit.scenarios.variants import FederatedData, VariantSpec, local_dp, run_variant

SILOS = 10
SILO_THRESHOLD = 7
"""mnist-noniid: secure aggregation needs 7 of the 10 silos; noise is planned for that."""
CLIENTS = 1000
ENGINE_ROUNDS = 40
"""mnist-noniid rounds on an engine of real processes (Flower)."""
ENGINE_BATCH = 6000
ENGINE_LEARNING_RATE = 4.0


def _mnist(context: Context) -> FederatedData:
    from privaudit.train.dpsgd import MNIST_FEATURES
    from privaudit.train.runs import prepared_features

    context.say("features: ScatterNet on MNIST (about 30 s)")
    split, x_train, x_test = prepared_features("mnist", context.data_dir, MNIST_FEATURES)
    data = {
        "name": "mnist",
        "train": len(x_train),
        "test": len(x_test),
        "provenance": {**split.train.provenance, **split.test.provenance},
        "features": "ScatterNet (Tramèr & Boneh 2021), data-independent",
    }
    return FederatedData(x_train, split.train.y, x_test, split.test.y, n_classes=10, data=data)


def _noniid(context: Context) -> Trained:
    from privaudit.data.partition import dirichlet, iid, label_histogram, shards
    from privaudit.train.dpsgd import mnist_config

    data = replace(_mnist(context), silo_names=[f"client-{i}" for i in range(SILOS)])
    n, seed = len(data.x), context.seed
    parts = dirichlet(data.y, SILOS, alpha=0.5, seed=seed, min_size=500)
    recipe = mnist_config(2.0)
    sgd = Sgd(
        rounds=6 if context.quick else recipe.planned_steps(n),
        sampling_rate=recipe.batch_size / n,
        clip_norm=recipe.clip_norm,
        learning_rate=recipe.learning_rate,
        momentum=recipe.momentum,
        model=recipe.model,
    )
    if context.engine is not None:
        # Each round on real processes costs seconds of messaging: fewer, larger rounds.
        sgd = replace(
            sgd,
            rounds=4 if context.quick else ENGINE_ROUNDS,
            sampling_rate=ENGINE_BATCH / n,
            learning_rate=ENGINE_LEARNING_RATE,
        )
    sigma = calibrate_distributed(
        context.epsilon, context.delta, sgd.sampling_rate, sgd.rounds, SILOS, SILO_THRESHOLD
    )
    every = max(1, sgd.rounds // 20)
    secure = secure_sum(SILO_THRESHOLD, parts, sgd.clip_norm, sigma)

    def distributed(
        name: str, partition: Sequence[Any], text: str, *, in_ledger: bool = False
    ) -> VariantSpec:
        return VariantSpec(
            name=name,
            description=text,
            announce=f"{name}: {sgd.rounds} rounds of DP-SGD over secure aggregation"
            f" (σ = {sigma:.3f})",
            config=sgd.distributed(sigma, seed),
            parts=partition,
            in_ledger=in_ledger,
            # Sized for the Dirichlet silos whatever the split: the same protocol throughout.
            aggregator=secure,
            secure=secure,
            evaluate_every=every,
            progress=name,
        )

    deployment = run_variant(
        context,
        data,
        distributed(
            "noniid-secagg",
            parts,
            "Dirichlet(0.5) label skew; distributed noise over secure aggregation (deployment)",
            in_ledger=True,
        ),
    )
    # Local DP-SGD per silo: each silo calibrates its own noise for the same ε on its own data.
    local = replace(sgd, rounds=4 if context.quick else 600, sampling_rate=512 / (n / SILOS))
    every_local = max(1, local.rounds // 20)

    def silo_local(name: str, partition: Sequence[Any], text: str) -> VariantSpec:
        return local_dp(
            context,
            local,
            name,
            text,
            lambda local_sigma: (
                f"{name}: {local.rounds} rounds of local DP-SGD (σ = {local_sigma:.3f})"
            ),
            partition,
            evaluate_every=every_local,
            progress=name,
        )

    iid_parts = iid(n, SILOS, seed=seed)
    comparisons = [
        run_variant(context, data, spec)
        for spec in (
            silo_local(
                "noniid-local", parts, "Dirichlet(0.5) label skew; local DP-SGD on each silo"
            ),
            silo_local("iid-local", iid_parts, "IID silos; local DP-SGD"),
            distributed(
                "iid-secagg", iid_parts, "IID silos; distributed noise over secure aggregation"
            ),
            distributed(
                "shards-secagg",
                shards(data.y, SILOS, 2, seed=seed),
                "shards split (2 labels a silo); distributed noise over secure aggregation",
            ),
        )
    ]
    summary = {
        **data.data,
        "silos": SILOS,
        "threshold": SILO_THRESHOLD,
        "silo_sizes": [len(p) for p in parts],
        "label_histogram": np.asarray(label_histogram(data.y, parts, 10)).tolist(),
    }
    return deployment, comparisons, summary


def _cross_device(context: Context) -> Trained:
    from privaudit.accounting.calibrate import calibrate_noise
    from privaudit.data.partition import dirichlet
    from privaudit.federated import AdaptiveClipping, DpFedAvgConfig
    from privaudit.train.models import ModelSpec

    data = _mnist(context)
    parts = dirichlet(data.y, CLIENTS, alpha=1.0, seed=context.seed, min_size=10)
    q = 0.1
    rounds = 5 if context.quick else 400
    sigma = calibrate_noise(context.epsilon, context.delta, q, rounds).value
    config = DpFedAvgConfig(
        rounds=rounds,
        client_sampling_rate=q,
        noise_multiplier=sigma,
        clip_norm=0.5,
        adaptive_clipping=AdaptiveClipping(target_quantile=0.5, learning_rate=0.2),
        local_epochs=1,
        local_batch_size=20,
        local_learning_rate=1.0,
        server_learning_rate=1.0,
        server_momentum=0.9,
        model=ModelSpec(),
        seed=context.seed,
    )
    deployment = run_variant(
        context,
        data,
        VariantSpec(
            name="cross-device-dpfedavg",
            description="1,000 devices; client-level DP-FedAvg, adaptive clipping",
            announce=f"DP-FedAvg: {rounds} rounds, q = {q}, σ = {sigma:.3f} (client-level)",
            config=config,
            parts=parts,
            in_ledger=True,
            evaluate_every=max(1, rounds // 20),
            progress="dpfedavg",
            unit="client",
        ),
    )
    summary = {
        **data.data,
        "clients": CLIENTS,
        "client_sampling_rate": q,
        "median_client_size": int(np.median([len(p) for p in parts])),
    }
    return deployment, [], summary


NONIID = Scenario(
    "mnist-noniid",
    "MNIST over 10 silos with label skew: distributed noise over secure aggregation",
    "mnist-fl.yaml",
    "mnist",
    2.0,
    "mnist",
    train=_noniid,
)
CROSS_DEVICE = Scenario(
    "mnist-cross-device",
    "MNIST over 1,000 devices: client-level DP-FedAvg",
    "mnist-fl.yaml",
    "mnist-clients",
    4.0,
    "mnist",
    train=_cross_device,
    on_engines=False,
)
