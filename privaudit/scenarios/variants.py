"""Training one variant of a scenario and settling it: metrics, ε, ledger entries, run record.

A scenario describes each of its variants as a :class:`VariantSpec` (its federated config says
which algorithm runs and where the noise is added) over the scenario's :class:`FederatedData`;
:func:`run_variant` trains it, reports its metrics and certified ε, charges the deployment's
rounds to the scenario's ledger and writes the run record. :func:`run_baseline` is the same
federated training without noise, recorded as not private.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from privaudit.rounding import up_fixed
from privaudit.scenarios.context import Context
from privaudit.scenarios.planning import Aggregator, SecureSum, calibrate_local
from privaudit.scenarios.recording import (
    epsilon_curve,
    privacy_block,
    run_epsilon,
    write_run_record,
)
from privaudit.scenarios.results import VariantResult
from privaudit.scenarios.sgd import Sgd

if TYPE_CHECKING:
    from privaudit.federated import (
        DistributedDpSgdConfig,
        DpFedAvgConfig,
        FederatedResult,
        Heterogeneity,
        LocalDpSgdConfig,
    )

Array = np.ndarray[Any, Any]

SUMMARY_METRICS = ("test_accuracy", "macro_f1", "roc_auc")
"""The metrics a variant's progress line shows."""


@dataclass(frozen=True, eq=False)
class FederatedData:
    """A scenario's data as its silos hold it, and how the run records describe it."""

    x: Array
    y: Array
    x_test: Array
    y_test: Array
    n_classes: int
    data: dict[str, Any]
    """The run records' ``data``: name, sizes, provenance, features."""
    silo_names: Sequence[str] | None = None

    def held_out(self) -> dict[str, Any]:
        """What every federated trainer is given to evaluate its model on the test set."""
        return {"x_test": self.x_test, "y_test": self.y_test, "n_classes": self.n_classes}


@dataclass(frozen=True, eq=False)
class VariantSpec:
    """One model a scenario trains: what it is called and says, and how it is trained."""

    name: str
    description: str
    announce: str
    """The progress line said before training starts."""
    config: DistributedDpSgdConfig | LocalDpSgdConfig | DpFedAvgConfig
    parts: Sequence[Any]
    """The silos (index arrays into the training data)."""
    in_ledger: bool = False
    """Only the deployment is charged to the ledger; the comparisons are recorded beside it."""
    aggregator: Aggregator | None = None
    """Distributed configs: the secure sum (None: the ideal one)."""
    secure: SecureSum | None = None
    """The secure sum's parameters, for an engine that runs the protocol between processes
    (the deployment of a distributed config runs there when the context has an engine)."""
    heterogeneity: Heterogeneity | None = None
    evaluate_every: int = 1
    progress: str | None = None
    """Label of the per-round progress lines (None: none)."""
    unit: str = "example"
    """Privacy unit of the ledger entries."""
    details: Callable[[], dict[str, Any]] = field(default=dict)
    """Facts of the finished run for scenario.json, read once training is done."""


def run_variant(context: Context, data: FederatedData, spec: VariantSpec) -> VariantResult:
    """Train private variant ``spec`` and settle it: its metrics and ε, its ledger entries
    (deployment only) and its run record."""
    algorithm = _algorithm(spec, data)
    result, started = _train(context, data, spec, algorithm)
    variant = _measured(context, data, spec, result, spec.config.noise_multiplier, started)
    if spec.in_ledger and not result.ledger_written:
        _charge(context, spec, result)
    _record_private(context, data, spec, algorithm, result, variant)
    return variant


def local_dp(
    context: Context,
    sgd: Sgd,
    name: str,
    description: str,
    announce: Callable[[float], str],
    parts: Sequence[Any],
    *,
    evaluate_every: int = 1,
    progress: str | None = None,
) -> VariantSpec:
    """Local DP-SGD at the deployment's ε, each silo with its own noise for ``sgd``'s sampling
    rate and rounds. ``announce(σ)`` is the progress line said before training."""
    sigma = calibrate_local(context.epsilon, context.delta, sgd.sampling_rate, sgd.rounds)
    return VariantSpec(
        name=name,
        description=description,
        announce=announce(sigma),
        config=sgd.local(sigma, context.seed),
        parts=parts,
        evaluate_every=evaluate_every,
        progress=progress,
    )


def run_baseline(
    context: Context, data: FederatedData, name: str, parts: Sequence[Any], sgd: Sgd
) -> VariantResult:
    """The same federated training without noise (clipping kept, heavy-ball momentum 0.9): the
    utility privacy costs. Recorded as not private and never charged."""
    from privaudit.federated import ideal_secure_sum

    spec = VariantSpec(
        name=name,
        description="no noise (not private; never released)",
        announce=f"{name}: the same training without noise",
        config=replace(sgd, momentum=0.9).distributed(0.0, context.seed),
        parts=parts,
        aggregator=ideal_secure_sum,
        evaluate_every=max(1, sgd.rounds // 10),
    )
    result, started = _train(context, data, spec, _algorithm(spec, data))
    variant = _measured(context, data, spec, result, None, started)
    write_run_record(
        context,
        variant,
        result,
        kind="baseline",
        trust_model=None,
        privacy=None,
        config={
            "rounds": sgd.rounds,
            "sampling_rate": sgd.sampling_rate,
            "learning_rate": sgd.learning_rate,
            "clip_norm": sgd.clip_norm,
        },
        data=data.data,
    )
    return variant


def _progress_lines(context: Context, label: str, every: int) -> Callable[[Any], None]:
    """A round callback saying the test accuracy every ``every`` evaluated rounds."""

    def on_round(record: Any) -> None:
        if record.metrics and (record.round % every == 0):
            accuracy = record.metrics.get("accuracy")
            extra = "" if accuracy is None else f"  test accuracy {100 * accuracy:.2f}%"
            context.say(f"{label}: round {record.round}{extra}")

    return on_round


class _Algorithm(NamedTuple):
    run: Callable[..., FederatedResult]
    """The federated trainer, with the arguments only it takes already bound."""
    kind: str
    trust_model: str
    sampling_rate: float


def _algorithm(spec: VariantSpec, data: FederatedData) -> _Algorithm:
    from functools import partial

    from privaudit.federated import (
        DistributedDpSgdConfig,
        LocalDpSgdConfig,
        ideal_secure_sum,
        run_distributed_dpsgd,
        run_dp_fedavg,
        run_local_dpsgd,
    )

    config = spec.config
    if isinstance(config, DistributedDpSgdConfig):
        aggregator = spec.aggregator or ideal_secure_sum
        run = partial(run_distributed_dpsgd, aggregator=aggregator, silo_names=data.silo_names)
        return _Algorithm(run, "federated-distributed", "distributed", config.sampling_rate)
    if isinstance(config, LocalDpSgdConfig):
        run = partial(run_local_dpsgd, silo_names=data.silo_names)
        return _Algorithm(run, "federated-local", "silo_local", config.sampling_rate)
    return _Algorithm(run_dp_fedavg, "dpfedavg", "federated_client", config.client_sampling_rate)


def _train(
    context: Context, data: FederatedData, spec: VariantSpec, algorithm: _Algorithm
) -> tuple[FederatedResult, float]:
    """The trained run, and when its training started."""
    context.say(spec.announce)
    started = time.perf_counter()
    on_round = None
    if spec.progress is not None:
        on_round = _progress_lines(context, spec.progress, spec.evaluate_every)
    if context.engine is not None and spec.in_ledger and spec.secure is not None:
        return _on_engine(context, data, spec, on_round), started
    result = algorithm.run(
        data.x,
        data.y,
        spec.parts,
        spec.config,
        heterogeneity=spec.heterogeneity,
        evaluate_every=spec.evaluate_every,
        on_round=on_round,
        **data.held_out(),
    )
    return result, started


def _on_engine(
    context: Context, data: FederatedData, spec: VariantSpec, on_round: Any
) -> FederatedResult:
    """The deployment on the context's engine, which charges each round to the ledger as it
    commits it and may stop early (the budget guard)."""
    from privaudit.federated import DistributedDpSgdConfig
    from privaudit.federated.engine import LedgerTarget, SecureDpSgdRun

    config, secure, engine = spec.config, spec.secure, context.engine
    assert isinstance(config, DistributedDpSgdConfig) and secure is not None and engine
    names = data.silo_names or [f"silo-{i}" for i in range(len(spec.parts))]
    run = SecureDpSgdRun(
        x=data.x,
        y=data.y,
        parts=spec.parts,
        config=config,
        threshold=secure.threshold,
        value_bound=secure.value_bound,
        silo_names=list(names),
        x_test=data.x_test,
        y_test=data.y_test,
        n_classes=data.n_classes,
        heterogeneity=spec.heterogeneity,
        evaluate_every=spec.evaluate_every,
        on_round=on_round,
        ledger=LedgerTarget(
            path=context.ledger,
            dataset=context.scenario.dataset,
            run=spec.name,
            privacy_unit=spec.unit,
            policy=context.policy,
        ),
        logs=context.scratch / "runs" / f"{spec.name}-{engine.name}",
    )
    result = engine.run_secure_dpsgd(run)
    if result.stopped:
        context.say(f"{spec.name}: stopped after round {len(result.rounds)}: {result.stopped}")
    return result


def _measured(
    context: Context,
    data: FederatedData,
    spec: VariantSpec,
    result: FederatedResult,
    sigma: float | None,
    started: float,
) -> VariantResult:
    """The variant's test metrics and, when it is private, the ε of its run alone."""
    from privaudit.federated import evaluate

    scores = evaluate(result.model, result.params, data.x_test, data.y_test)
    metrics = {("test_accuracy" if k == "accuracy" else k): float(v) for k, v in scores.items()}
    epsilon = None
    if sigma is not None and sigma > 0:
        epsilon = run_epsilon(result.ledger_entries, context.delta)
    summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k in SUMMARY_METRICS)
    context.say(
        f"{spec.name}: {summary}" + ("" if epsilon is None else f", ε = {up_fixed(epsilon)}")
    )
    return VariantResult(
        name=spec.name,
        description=spec.description,
        in_ledger=spec.in_ledger,
        metrics=metrics,
        epsilon=epsilon,
        noise_multiplier=sigma,
        rounds=tuple(
            {
                "round": r.round,
                "clients": len(r.selected),
                "survivors": len(r.survivors),
                "bytes_up": int(r.bytes_up),
                "bytes_down": int(r.bytes_down),
            }
            for r in result.rounds
        ),
        wall_seconds=time.perf_counter() - started,
        extra={
            **spec.details(),
            "engine": result.engine,
            **({} if result.stopped is None else {"stopped": result.stopped}),
        },
    )


def _record_private(
    context: Context,
    data: FederatedData,
    spec: VariantSpec,
    algorithm: _Algorithm,
    result: FederatedResult,
    variant: VariantResult,
) -> None:
    """The run record of a private variant, with ε after each evaluated round."""
    config = spec.config
    evaluated = [r.round for r in result.rounds if r.metrics]
    write_run_record(
        context,
        variant,
        result,
        kind=algorithm.kind,
        trust_model=algorithm.trust_model,
        privacy=privacy_block(
            context,
            sigma=config.noise_multiplier,
            clip=config.clip_norm,
            rate=algorithm.sampling_rate,
            rounds_planned=config.rounds,
            rounds_done=len(result.rounds),
            epsilon=variant.epsilon or 0.0,
            in_ledger=spec.in_ledger,
        ),
        config={
            "rounds": config.rounds,
            "sampling_rate": algorithm.sampling_rate,
            "clip_norm": config.clip_norm,
            "noise_multiplier": config.noise_multiplier,
            "silo_sizes": [len(p) for p in spec.parts],
            "description": variant.description,
        },
        data=data.data,
        curve=epsilon_curve(result.ledger_entries, evaluated, context.delta),
    )


def _charge(context: Context, spec: VariantSpec, result: FederatedResult) -> None:
    from privaudit.federated import write_ledger

    # About 20 entries a partition: the ledger shows the budget spent over training.
    block = max(1, math.ceil(len(result.rounds) / 20))
    write_ledger(
        result, context.ledger, context.scenario.dataset, spec.name, spec.unit, max_rounds=block
    )
