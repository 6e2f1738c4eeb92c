"""The seed scenarios, end to end: plan → federated training → ledger → check → run records.

Each scenario is a situation our users bring; all are federated (the data never leaves its
holder). One *deployment* run per scenario is charged to the scenario's ledger and checked
against its shipped policy; the runs shown beside it for comparison (local noise instead of
secure aggregation, IID instead of non-IID, the non-private baseline) are written as run records
marked ``in_ledger = false``: they used the same data, so in a real deployment they would have
to be charged too, and the report says so.

- ``mnist-noniid``: 10 silos, Dirichlet(α = 0.5) label skew; example-level DP-SGD with
  distributed noise over secure aggregation (deployment) beside local DP-SGD per silo, IID data
  and a shards split.
- ``mnist-cross-device``: 1,000 clients, client-level DP-FedAvg with Poisson client sampling.
- ``hospital-notes``: MTSamples notes over 5 hospitals with different specialty mixes;
  hashed text features; distributed noise over secure aggregation beside local noise.
- ``bank-fraud``: credit-card transactions over 3 banks; distributed noise over secure
  aggregation, one bank drops out half way; local DP beside it; every round's securely
  aggregated sum is checked against the plain sum of the survivors' inputs.

Distributed noise is planned for the worst dropout the protocol tolerates: σ is calibrated so
that even with only ``threshold`` of the silos surviving every round the target ε holds
(fewer survivors abort the secure sum, so nothing is released). The ledger records the survivors
each round really had, so the ε it reports is the one actually spent, never more than planned.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

import numpy as np

from privaudit.errors import InputError

__all__ = ["SCENARIOS", "ScenarioResult", "VariantResult", "run_scenario"]

Progress = Callable[[str], None]
HOSPITALS: Final = 5
HOSPITAL_THRESHOLD: Final = 4
"""hospital-notes: secure aggregation needs 4 of the 5 hospitals; noise is planned for that."""
Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    policy: str
    """File name of the shipped policy (privaudit/policies/examples/)."""
    dataset: str
    """Dataset id in the policy and ledger."""
    default_epsilon: float
    data: str
    """Sub-folder of the data folder it reads."""


SCENARIOS: Final[dict[str, Scenario]] = {
    s.name: s
    for s in (
        Scenario(
            "mnist-noniid",
            "MNIST over 10 silos with label skew: distributed noise over secure aggregation",
            "mnist-fl.yaml",
            "mnist",
            2.0,
            "mnist",
        ),
        Scenario(
            "mnist-cross-device",
            "MNIST over 1,000 devices: client-level DP-FedAvg",
            "mnist-fl.yaml",
            "mnist-clients",
            4.0,
            "mnist",
        ),
        Scenario(
            "hospital-notes",
            "Clinical notes at 5 hospitals: specialty classification without sharing text",
            "hospital-notes.yaml",
            "mtsamples-notes",
            1.0,
            "mtsamples",
        ),
        Scenario(
            "bank-fraud",
            "Card fraud across 3 banks: secure aggregation with a bank dropping out",
            "bank-fraud.yaml",
            "creditcard",
            1.0,
            "creditcard",
        ),
    )
}


@dataclass(frozen=True)
class VariantResult:
    """One trained model of a scenario."""

    name: str
    description: str
    in_ledger: bool
    metrics: dict[str, float]
    epsilon: float | None
    """Certified ε of this run alone at the scenario's δ (None: not private)."""
    noise_multiplier: float | None
    rounds: tuple[dict[str, Any], ...]
    """Per round: round, clients, survivors (and bytes)."""
    wall_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    title: str
    dataset: str
    epsilon_target: float
    delta: float
    deployment: VariantResult
    comparisons: tuple[VariantResult, ...]
    status: str
    epsilon: float
    """The deployment ledger's ε (certified) for the dataset."""
    epsilon_limit: float | None
    out: Path
    files: tuple[str, ...]
    data_summary: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        deployment = self.deployment
        return {
            "scenario": self.scenario,
            "title": self.title,
            "dataset": self.dataset,
            "status": self.status,
            "epsilon": _finite_or_none(self.epsilon),
            "epsilon_target": self.epsilon_target,
            "epsilon_limit": self.epsilon_limit,
            "delta": self.delta,
            **{
                k: deployment.metrics.get(k)
                for k in ("test_accuracy", "macro_f1", "roc_auc", "auprc")
            },
            "rounds": list(deployment.rounds),
            "deployment": _variant_json(deployment),
            "comparisons": [_variant_json(v) for v in self.comparisons],
            "data": self.data_summary,
            "files": list(self.files),
        }


def run_scenario(
    name: str,
    *,
    data_dir: Path,
    out: Path,
    epsilon: float | None = None,
    seed: int = 0,
    formats: Sequence[str] = ("html", "pdf"),
    progress: Progress | None = None,
    quick: bool = False,
) -> ScenarioResult:
    """Run scenario ``name`` into ``out`` (created; its parent must exist). ``quick`` trains
    briefly, for tests of the plumbing; its numbers mean nothing."""
    from threadpoolctl import threadpool_limits

    say = progress or (lambda _line: None)
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise InputError("NAME", None, f"expected one of {', '.join(SCENARIOS)}; found {name!r}")
    if epsilon is not None and not (0 < epsilon < math.inf):
        raise InputError("--epsilon", None, f"expected a finite number > 0; found {epsilon!r}")
    if not (data_dir / scenario.data).is_dir():
        raise InputError(
            str(data_dir), None, f"expected a folder {scenario.data}/ inside (as ../shared/data)"
        )
    if out.exists() and not out.is_dir():
        raise InputError(str(out), None, "exists and is not a folder")
    if not out.exists() and not out.parent.is_dir():
        raise InputError(str(out), None, f"folder {out.parent} does not exist")
    target = scenario.default_epsilon if epsilon is None else float(epsilon)
    out.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".scenario-", dir=out))
    try:
        policy_path = scratch / "policy.yaml"
        policy_path.write_bytes(
            files("privaudit").joinpath(f"policies/examples/{scenario.policy}").read_bytes()
        )
        from privaudit.policy import load_policy

        policy = load_policy(policy_path)
        tier = policy.tier_of(scenario.dataset)
        assert tier is not None, "shipped scenario policies cover their datasets"
        context = _Context(
            scenario=scenario,
            data_dir=data_dir,
            scratch=scratch,
            ledger=scratch / "ledger.jsonl",
            epsilon=target,
            delta=tier.delta,
            seed=seed,
            quick=quick,
            say=say,
        )
        (scratch / "runs").mkdir()
        # Small matrix products on a shared machine run far faster on one BLAS thread.
        with threadpool_limits(limits=1, user_api="blas"):
            deployment, comparisons, summary = _RUNNERS[name](context)
        say("check: the ledger against the policy")
        from privaudit.assess import assess
        from privaudit.gate import to_json_data
        from privaudit.ledger import read_ledger

        assessment = assess(read_ledger(context.ledger), policy, policy_path=policy_path)
        (scratch / "check.json").write_text(
            json.dumps(to_json_data(assessment), indent=2, allow_nan=False) + "\n"
        )
        dataset = next(d for d in assessment.datasets if d.dataset == scenario.dataset)
        result = ScenarioResult(
            scenario=name,
            title=scenario.title,
            dataset=scenario.dataset,
            epsilon_target=target,
            delta=tier.delta,
            deployment=deployment,
            comparisons=tuple(comparisons),
            status=dataset.status.value,
            epsilon=dataset.epsilon,
            epsilon_limit=dataset.limit_epsilon,
            out=out,
            files=(),
            data_summary=summary,
        )
        (scratch / "scenario.json").write_text(
            json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n"
        )
        written = _report(context, out, formats)
        from privaudit.files import commit_folder

        commit_folder(scratch, out)
        names = ["policy.yaml", "ledger.jsonl", "check.json", "scenario.json", "runs/"]
        return ScenarioResult(
            **{
                **result.__dict__,
                "files": tuple(str(out / n) for n in [*names, *(p.name for p in written)]),
            }
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def scenario_delta(name: str) -> float:
    """δ of the scenario's dataset tier in its shipped policy."""
    from importlib.resources import as_file

    from privaudit.policy import load_policy

    scenario = SCENARIOS[name]
    with as_file(files("privaudit").joinpath(f"policies/examples/{scenario.policy}")) as path:
        tier = load_policy(path).tier_of(scenario.dataset)
    assert tier is not None
    return tier.delta


def forecast_hospital_notes(
    data_dir: Path, *, epsilon: float, target: float, factors: Sequence[float]
) -> tuple[Any, float, float]:
    """How many notes hospital-notes needs for macro-F1 ``target`` at ``epsilon``
    (:func:`privaudit.scenarios.notes.forecast_data`) with the deployment's settings: the scenario
    policy's δ and the noise planned for dropouts. Returns the forecast, δ and that allowance."""
    from dataclasses import replace

    from privaudit.scenarios.notes import forecast_data, prepare_notes, recipe_for

    delta = scenario_delta("hospital-notes")
    allowance = math.sqrt(HOSPITALS / HOSPITAL_THRESHOLD)
    result = forecast_data(
        prepare_notes(data_dir, seed=0),
        replace(recipe_for(epsilon), delta=delta),
        epsilon=epsilon,
        factors=factors,
        target=target,
        dropout_allowance=allowance,
    )
    return result, delta, allowance


# --- shared machinery -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    scenario: Scenario
    data_dir: Path
    scratch: Path
    ledger: Path
    epsilon: float
    delta: float
    seed: int
    quick: bool
    say: Progress


def _report(context: _Context, out: Path, formats: Sequence[str]) -> list[Path]:
    from privaudit.report.render import write_folder_report

    return write_folder_report(
        context.scratch,
        out,
        formats,
        title=f"Differential privacy report: {context.scenario.title}",
        progress=context.say,
    )


def _calibrate_distributed(
    epsilon: float, delta: float, sampling_rate: float, rounds: int, clients: int, threshold: int
) -> float:
    """σ such that ``rounds`` rounds stay within ε even if only ``threshold`` of ``clients``
    survive each one: the surviving noise is σ·√(k/m) (DistributedGaussian), so calibrate the
    effective multiplier at k = threshold and scale it back up."""
    from privaudit.accounting.calibrate import calibrate_noise

    effective = calibrate_noise(epsilon, delta, sampling_rate, rounds).value
    return float(effective * math.sqrt(clients / threshold))


def _round_rows(result: Any) -> tuple[dict[str, Any], ...]:
    return tuple(
        {
            "round": r.round,
            "clients": len(r.selected),
            "survivors": len(r.survivors),
            "bytes_up": int(r.bytes_up),
            "bytes_down": int(r.bytes_down),
        }
        for r in result.rounds
    )


def _final_metrics(result: Any, x_test: Array, y_test: Array) -> dict[str, float]:
    from privaudit.federated import evaluate

    metrics = evaluate(result.model, result.params, x_test, y_test)
    return {("test_accuracy" if k == "accuracy" else k): float(v) for k, v in metrics.items()}


def _run_epsilon(items: Sequence[Any], delta: float) -> float:
    """ε of one run's ledger items alone: sequential within a partition, max over partitions
    (entries without a partition touch all of them)."""
    from privaudit.accounting.accountant import account
    from privaudit.assess import partition_compositions

    groups = partition_compositions((i.partition, i.mechanism) for i in items)
    return max(account(group, delta).epsilon for _, group in groups)


def _epsilon_curve(items: Sequence[Any], rounds: Sequence[int], delta: float) -> dict[int, float]:
    """ε after each of ``rounds`` (items carry meta["round"])."""
    values = {}
    for r in rounds:
        prefix = [i for i in items if int(i.meta.get("round", i.meta.get("last_round", 0))) <= r]
        if prefix:
            values[r] = _run_epsilon(prefix, delta)
    return values


def _write_record(
    context: _Context,
    variant: VariantResult,
    *,
    kind: str,
    trust_model: str | None,
    result: Any | None,
    privacy: dict[str, Any] | None,
    config: dict[str, Any],
    data: dict[str, Any],
    curve: Mapping[int, float] | None = None,
) -> None:
    from privaudit.records.run import (
        EpochRecord,
        PrivacyRecord,
        RoundRecord,
        RunRecord,
        library_versions,
        now,
        write_record,
    )

    rounds: list[RoundRecord] = []
    epochs: list[EpochRecord] = []
    if result is not None:
        for r in result.rounds:
            metrics = {k: float(v) for k, v in (r.metrics or {}).items()}
            rounds.append(
                RoundRecord(
                    round=r.round,
                    clients=len(r.selected),
                    survivors=len(r.survivors),
                    bytes_up=int(r.bytes_up),
                    bytes_down=int(r.bytes_down),
                    clip_norm=float(r.clip_norm),
                    metrics=metrics,
                )
            )
            if r.metrics:
                epochs.append(
                    EpochRecord(
                        epoch=r.round,
                        steps=r.round,
                        epsilon=None if curve is None else curve.get(r.round),
                        test_accuracy=float(r.metrics.get("accuracy", math.nan)),
                        test_loss=float(r.metrics.get("loss", math.nan)),
                        seconds=float(r.seconds),
                    )
                )
    record = RunRecord(
        kind=kind,
        name=variant.name,
        created=now(),
        data=data,
        config=config,
        privacy=None if privacy is None else PrivacyRecord(**privacy),
        epochs=tuple(epochs),
        test_accuracy=variant.metrics.get("test_accuracy", math.nan),
        wall_seconds=variant.wall_seconds,
        random_source=f"seed={context.seed}",
        versions=library_versions(),
        metrics=variant.metrics,
        rounds=tuple(rounds),
        trust_model=trust_model,
        in_ledger=variant.in_ledger,
    )
    write_record(record, context.scratch / "runs" / f"{variant.name}.json")


def _privacy(
    context: _Context,
    *,
    sigma: float,
    clip: float,
    rate: float,
    rounds_planned: int,
    rounds_done: int,
    epsilon: float,
    in_ledger: bool,
    sampling: str = "poisson",
) -> dict[str, Any]:
    return {
        "target_epsilon": context.epsilon,
        "delta": context.delta,
        "noise_multiplier": sigma,
        "clip_norm": clip,
        "sampling": sampling,
        "sampling_rate": rate,
        "steps_planned": rounds_planned,
        "steps_done": rounds_done,
        "epsilon": epsilon,
        "mechanism": None,
        "ledger": str(context.ledger) if in_ledger else None,
        "dataset_id": context.scenario.dataset,
    }


def _progress(context: _Context, label: str, every: int) -> Callable[[Any], None]:
    def on_round(record: Any) -> None:
        if record.metrics and (record.round % every == 0):
            accuracy = record.metrics.get("accuracy")
            extra = "" if accuracy is None else f"  test accuracy {100 * accuracy:.2f}%"
            context.say(f"{label}: round {record.round}{extra}")

    return on_round


# --- MNIST --------------------------------------------------------------------------------------


def _mnist_features(context: _Context) -> tuple[Array, Array, Array, Array, dict[str, Any]]:
    from privaudit.train.dpsgd import MNIST_FEATURES
    from privaudit.train.runs import _features

    context.say("features: ScatterNet on MNIST (about 30 s)")
    split, x_train, x_test = _features("mnist", context.data_dir, MNIST_FEATURES)
    data = {
        "name": "mnist",
        "train": len(x_train),
        "test": len(x_test),
        "provenance": {**split.train.provenance, **split.test.provenance},
        "features": "ScatterNet (Tramèr & Boneh 2021), data-independent",
    }
    return x_train, split.train.y, x_test, split.test.y, data


def _mnist_noniid(context: _Context) -> tuple[VariantResult, list[VariantResult], dict[str, Any]]:
    from privaudit.data.partition import dirichlet, iid, label_histogram, shards
    from privaudit.federated import (
        DistributedDpSgdConfig,
        LocalDpSgdConfig,
        run_distributed_dpsgd,
        run_local_dpsgd,
        secure_aggregator,
    )
    from privaudit.train.dpsgd import mnist_config

    x, y, x_test, y_test, data = _mnist_features(context)
    silos, threshold = 10, 7
    names = [f"client-{i}" for i in range(silos)]
    parts = dirichlet(y, silos, alpha=0.5, seed=context.seed, min_size=500)
    recipe = mnist_config(2.0)
    q = recipe.batch_size / len(x)
    rounds = 6 if context.quick else recipe.planned_steps(len(x))
    sigma = _calibrate_distributed(context.epsilon, context.delta, q, rounds, silos, threshold)
    largest = max(len(p) for p in parts)
    bound = largest * recipe.clip_norm + 60 * sigma * recipe.clip_norm
    every = max(1, rounds // 20)

    def distributed(label: str, partition: Any, in_ledger: bool, text: str) -> VariantResult:
        context.say(f"{label}: {rounds} rounds of DP-SGD over secure aggregation (σ = {sigma:.3f})")
        started = time.perf_counter()
        config = DistributedDpSgdConfig(
            rounds=rounds,
            noise_multiplier=sigma,
            clip_norm=recipe.clip_norm,
            sampling_rate=q,
            learning_rate=recipe.learning_rate,
            momentum=recipe.momentum,
            model=recipe.model,
            seed=context.seed,
        )
        result = run_distributed_dpsgd(
            x,
            y,
            partition,
            config,
            aggregator=secure_aggregator(threshold, bound, bits=64),
            x_test=x_test,
            y_test=y_test,
            n_classes=10,
            silo_names=names,
            evaluate_every=every,
            on_round=_progress(context, label, every),
        )
        variant = _settle(
            context,
            result,
            name=label,
            description=text,
            in_ledger=in_ledger,
            kind="federated-distributed",
            trust_model="distributed",
            sigma=sigma,
            clip=recipe.clip_norm,
            rate=q,
            rounds=rounds,
            data=data,
            parts=partition,
            x_test=x_test,
            y_test=y_test,
            started=started,
        )
        return variant

    deployment = distributed(
        "noniid-secagg",
        parts,
        True,
        "Dirichlet(0.5) label skew; distributed noise over secure aggregation (deployment)",
    )
    comparisons = []
    # Local DP-SGD per silo: each silo calibrates its own noise for the same ε on its own data.
    local_q = 512 / (len(x) / silos)
    local_rounds = 4 if context.quick else 600
    from privaudit.accounting.calibrate import calibrate_noise

    local_sigma = calibrate_noise(context.epsilon, context.delta, local_q, local_rounds).value
    for label, partition, text in (
        ("noniid-local", parts, "Dirichlet(0.5) label skew; local DP-SGD on each silo"),
        ("iid-local", iid(len(x), silos, seed=context.seed), "IID silos; local DP-SGD"),
    ):
        context.say(f"{label}: {local_rounds} rounds of local DP-SGD (σ = {local_sigma:.3f})")
        started = time.perf_counter()
        config_local = LocalDpSgdConfig(
            rounds=local_rounds,
            noise_multiplier=local_sigma,
            clip_norm=recipe.clip_norm,
            sampling_rate=local_q,
            learning_rate=recipe.learning_rate,
            local_steps=1,
            momentum=recipe.momentum,
            weighting="size",
            model=recipe.model,
            seed=context.seed,
        )
        every_local = max(1, local_rounds // 20)
        result = run_local_dpsgd(
            x,
            y,
            partition,
            config_local,
            x_test=x_test,
            y_test=y_test,
            n_classes=10,
            silo_names=names,
            evaluate_every=every_local,
            on_round=_progress(context, label, every_local),
        )
        variant = _settle(
            context,
            result,
            name=label,
            description=text,
            in_ledger=False,
            kind="federated-local",
            trust_model="silo_local",
            sigma=local_sigma,
            clip=recipe.clip_norm,
            rate=local_q,
            rounds=local_rounds,
            data=data,
            parts=partition,
            x_test=x_test,
            y_test=y_test,
            started=started,
        )
        comparisons.append(variant)
    comparisons.append(
        distributed(
            "iid-secagg",
            iid(len(x), silos, seed=context.seed),
            False,
            "IID silos; distributed noise over secure aggregation",
        )
    )
    comparisons.append(
        distributed(
            "shards-secagg",
            shards(y, silos, 2, seed=context.seed),
            False,
            "shards split (2 labels a silo); distributed noise over secure aggregation",
        )
    )
    summary = {
        **data,
        "silos": silos,
        "threshold": threshold,
        "silo_sizes": [len(p) for p in parts],
        "label_histogram": np.asarray(label_histogram(y, parts, 10)).tolist(),
    }
    return deployment, comparisons, summary


def _mnist_cross_device(
    context: _Context,
) -> tuple[VariantResult, list[VariantResult], dict[str, Any]]:
    from privaudit.accounting.calibrate import calibrate_noise
    from privaudit.data.partition import dirichlet
    from privaudit.federated import AdaptiveClipping, DpFedAvgConfig, run_dp_fedavg
    from privaudit.train.models import ModelSpec

    x, y, x_test, y_test, data = _mnist_features(context)
    clients = 1000
    parts = dirichlet(y, clients, alpha=1.0, seed=context.seed, min_size=10)
    q = 0.1
    rounds = 5 if context.quick else 400
    sigma = calibrate_noise(context.epsilon, context.delta, q, rounds).value
    clip = 0.5
    context.say(f"DP-FedAvg: {rounds} rounds, q = {q}, σ = {sigma:.3f} (client-level)")
    started = time.perf_counter()
    config = DpFedAvgConfig(
        rounds=rounds,
        client_sampling_rate=q,
        noise_multiplier=sigma,
        clip_norm=clip,
        local_epochs=1,
        local_batch_size=20,
        local_learning_rate=1.0,
        server_learning_rate=1.0,
        server_momentum=0.9,
        adaptive_clipping=AdaptiveClipping(target_quantile=0.5, learning_rate=0.2),
        model=ModelSpec(),
        seed=context.seed,
    )
    every = max(1, rounds // 20)
    result = run_dp_fedavg(
        x,
        y,
        parts,
        config,
        x_test=x_test,
        y_test=y_test,
        n_classes=10,
        evaluate_every=every,
        on_round=_progress(context, "dpfedavg", every),
    )
    label = "cross-device-dpfedavg"
    variant = _settle(
        context,
        result,
        name=label,
        description="1,000 devices; client-level DP-FedAvg, adaptive clipping",
        in_ledger=True,
        kind="dpfedavg",
        trust_model="federated_client",
        sigma=sigma,
        clip=clip,
        rate=q,
        rounds=rounds,
        data=data,
        parts=parts,
        x_test=x_test,
        y_test=y_test,
        started=started,
        unit="client",
    )
    summary = {
        **data,
        "clients": clients,
        "client_sampling_rate": q,
        "median_client_size": int(np.median([len(p) for p in parts])),
    }
    return variant, [], summary


# --- bank fraud ---------------------------------------------------------------------------------


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


def _bank_fraud(context: _Context) -> tuple[VariantResult, list[VariantResult], dict[str, Any]]:
    from privaudit.accounting.calibrate import calibrate_noise
    from privaudit.data.loaders import load_creditcard
    from privaudit.data.partition import quantity_skew
    from privaudit.federated import (
        Absence,
        DistributedDpSgdConfig,
        Heterogeneity,
        LocalDpSgdConfig,
        run_distributed_dpsgd,
        run_local_dpsgd,
        secure_aggregator,
    )
    from privaudit.train.models import ModelSpec

    context.say("data: credit-card transactions")
    table = load_creditcard(context.data_dir)
    features = creditcard_features(table.x.astype(np.float64))
    rng = np.random.default_rng(context.seed)
    order = rng.permutation(len(features))
    cut = int(0.7 * len(order))
    train, test = order[:cut], order[cut:]
    x, y = features[train], table.y[train]
    x_test, y_test = features[test], table.y[test]
    banks, threshold = 3, 2
    names = ["bank-a", "bank-b", "bank-c"]
    parts = quantity_skew(len(x), banks, alpha=5.0, seed=context.seed, min_size=10000)
    batch, epochs, learning_rate, clip = 2048, 3, 2.0, 1.0
    q = batch / len(x)
    rounds = 6 if context.quick else math.ceil(epochs / q)
    drop_from = rounds // 2 + 1
    sigma = _calibrate_distributed(context.epsilon, context.delta, q, rounds, banks, threshold)
    bound = max(len(p) for p in parts) * clip + 60 * sigma * clip
    data = {
        "name": "creditcard",
        "train": len(x),
        "test": len(x_test),
        "fraud_rate_train": float(y.mean()),
        "provenance": dict(table.provenance),
        "features": creditcard_features.__doc__.split(".")[0]
        if creditcard_features.__doc__
        else "",
    }
    checks: list[float] = []
    secure = secure_aggregator(threshold, bound, bits=64)
    tolerance = banks * 2.0**-16 / 2 * (1 + 1e-9)

    def checked(round_: int, inputs: Mapping[int, Array]) -> Any:
        # The test oracle, outside the server: the decoded secure sum against the plain sum of the
        # inputs of the clients the protocol says survived.
        aggregate = secure(round_, inputs)
        if aggregate.total is not None:
            plain = np.sum(
                [np.asarray(inputs[c], dtype=np.float64) for c in aggregate.survivors], axis=0
            )
            checks.append(float(np.max(np.abs(np.asarray(aggregate.total) - plain))))
        return aggregate

    model = ModelSpec()
    context.say(
        f"secure aggregation: {rounds} rounds, σ = {sigma:.3f} (planned for {threshold} of"
        f" {banks} banks surviving); {names[2]} drops out from round {drop_from}"
    )
    started = time.perf_counter()
    config = DistributedDpSgdConfig(
        rounds=rounds,
        noise_multiplier=sigma,
        clip_norm=clip,
        sampling_rate=q,
        learning_rate=learning_rate,
        momentum=0.9,
        model=model,
        seed=context.seed,
    )
    every = max(1, rounds // 20)
    result = run_distributed_dpsgd(
        x,
        y,
        parts,
        config,
        aggregator=checked,
        x_test=x_test,
        y_test=y_test,
        n_classes=2,
        silo_names=names,
        heterogeneity=Heterogeneity(absences=(Absence(client=2, first_round=drop_from),)),
        evaluate_every=every,
        on_round=_progress(context, "secagg", every),
    )
    deployment = _settle(
        context,
        result,
        name="banks-secagg-dropout",
        description=(
            f"3 banks, distributed noise over secure aggregation; {names[2]} drops out from"
            f" round {drop_from}"
        ),
        in_ledger=True,
        kind="federated-distributed",
        trust_model="distributed",
        sigma=sigma,
        clip=clip,
        rate=q,
        rounds=rounds,
        data=data,
        parts=parts,
        x_test=x_test,
        y_test=y_test,
        started=started,
        extra={
            "secagg_max_abs_error": max(checks) if checks else None,
            "secagg_rounds_checked": len(checks),
            # Each input is rounded to the protocol's fixed point (half a quantum at most) before
            # the shares meet; the decoded sum is exact on the rounded inputs.
            "secagg_tolerance": tolerance,
            "secagg_sum_matches": bool(checks) and max(checks) <= tolerance,
            "dropout_round": drop_from,
        },
        unit="transaction",
    )

    # Local DP at the same ε: each bank calibrates its own noise on its own data.
    local_q = batch / 3 / max(len(p) for p in parts)
    local_q = min(local_q, 1.0)
    local_sigma = calibrate_noise(context.epsilon, context.delta, local_q, rounds).value
    context.say(f"local DP per bank: {rounds} rounds, σ = {local_sigma:.3f}")
    started = time.perf_counter()
    local = run_local_dpsgd(
        x,
        y,
        parts,
        LocalDpSgdConfig(
            rounds=rounds,
            noise_multiplier=local_sigma,
            clip_norm=clip,
            sampling_rate=local_q,
            learning_rate=learning_rate,
            momentum=0.9,
            weighting="size",
            model=model,
            seed=context.seed,
        ),
        x_test=x_test,
        y_test=y_test,
        n_classes=2,
        silo_names=names,
        evaluate_every=every,
        on_round=_progress(context, "local", every),
    )
    local_variant = _settle(
        context,
        local,
        name="banks-local-dp",
        description="3 banks, local DP-SGD at the same ε",
        in_ledger=False,
        kind="federated-local",
        trust_model="silo_local",
        sigma=local_sigma,
        clip=clip,
        rate=local_q,
        rounds=rounds,
        data=data,
        parts=parts,
        x_test=x_test,
        y_test=y_test,
        started=started,
    )
    baseline = _baseline(
        context,
        "banks-non-private",
        x,
        y,
        x_test,
        y_test,
        parts,
        names,
        model,
        rounds,
        q,
        learning_rate,
        clip,
        data,
        n_classes=2,
    )
    summary = {
        **data,
        "banks": names,
        "threshold": threshold,
        "bank_sizes": [len(p) for p in parts],
        "bank_fraud_cases": [int(y[p].sum()) for p in parts],
    }
    return deployment, [local_variant, baseline], summary


def _baseline(
    context: _Context,
    name: str,
    x: Array,
    y: Array,
    x_test: Array,
    y_test: Array,
    parts: Sequence[Any],
    names: Sequence[str],
    model: Any,
    rounds: int,
    q: float,
    learning_rate: float,
    clip: float,
    data: dict[str, Any],
    *,
    n_classes: int,
) -> VariantResult:
    """The same federated training without noise (clipping kept): the utility privacy costs."""
    from privaudit.federated import (
        DistributedDpSgdConfig,
        ideal_secure_sum,
        run_distributed_dpsgd,
    )

    context.say(f"{name}: the same training without noise")
    started = time.perf_counter()
    result = run_distributed_dpsgd(
        x,
        y,
        parts,
        DistributedDpSgdConfig(
            rounds=rounds,
            noise_multiplier=0.0,
            clip_norm=clip,
            sampling_rate=q,
            learning_rate=learning_rate,
            momentum=0.9,
            model=model,
            seed=context.seed,
        ),
        aggregator=ideal_secure_sum,
        x_test=x_test,
        y_test=y_test,
        n_classes=n_classes,
        silo_names=list(names),
        evaluate_every=max(1, rounds // 10),
    )
    variant = _variant(
        context,
        name,
        "no noise (not private; never released)",
        False,
        result,
        x_test,
        y_test,
        None,
        started,
    )
    _write_record(
        context,
        variant,
        kind="baseline",
        trust_model=None,
        result=result,
        privacy=None,
        config={
            "rounds": rounds,
            "sampling_rate": q,
            "learning_rate": learning_rate,
            "clip_norm": clip,
        },
        data=data,
    )
    return variant


# --- hospital notes -----------------------------------------------------------------------------


def _hospital_notes(
    context: _Context,
) -> tuple[VariantResult, list[VariantResult], dict[str, Any]]:
    from dataclasses import replace

    from privaudit.federated import (
        run_distributed_dpsgd,
        run_local_dpsgd,
        secure_aggregator,
    )
    from privaudit.scenarios.notes import hospital_partition, prepare_notes, recipe_for
    from privaudit.train.models import ModelSpec

    context.say("data: MTSamples clinical notes, hashed features (no shared vocabulary)")
    split = prepare_notes(context.data_dir, seed=context.seed)
    recipe = replace(recipe_for(context.epsilon), delta=context.delta)
    if context.quick:
        recipe = replace(recipe, rounds=3)
    scale = recipe.feature_scale
    x, y = np.asarray(split.x_train) * scale, np.asarray(split.y_train)
    x_test, y_test = np.asarray(split.x_test) * scale, np.asarray(split.y_test)
    classes = len(split.classes)
    hospitals, threshold = HOSPITALS, HOSPITAL_THRESHOLD
    names = [f"hospital-{chr(ord('a') + i)}" for i in range(hospitals)]
    parts = hospital_partition(y, hospitals, seed=context.seed)
    q, rounds, clip = recipe.sampling_rate, recipe.rounds, recipe.clip_norm
    sigma = _calibrate_distributed(context.epsilon, context.delta, q, rounds, hospitals, threshold)
    bound = max(len(p) for p in parts) * clip + 60 * sigma * clip
    counts = split.counts
    data = {
        "name": "mtsamples",
        "train": split.n_train,
        "test": len(y_test),
        "classes": list(split.classes),
        "provenance": dict(split.provenance),
        "features": "feature hashing (2^12 signed buckets, sublinear tf, L2 rows): no vocabulary",
        "dropped": None
        if counts is None
        else {
            "other_specialty_or_note_type": counts.other_specialty,
            "empty": counts.empty,
            "conflicting_duplicates": counts.conflicting,
            "same_label_duplicates": counts.duplicates,
        },
    }
    model = ModelSpec()
    context.say(
        f"secure aggregation across {hospitals} hospitals: {rounds} full-batch rounds,"
        f" σ = {sigma:.3f} (planned for {threshold} of {hospitals} surviving)"
    )
    started = time.perf_counter()
    config = replace(recipe.distributed_config(sigma, context.seed), model=model)
    result = run_distributed_dpsgd(
        x,
        y,
        parts,
        config,
        aggregator=secure_aggregator(threshold, bound, bits=64),
        x_test=x_test,
        y_test=y_test,
        n_classes=classes,
        silo_names=names,
        evaluate_every=1,
    )
    deployment = _settle(
        context,
        result,
        name="hospitals-secagg",
        description="5 hospitals, distributed noise over secure aggregation",
        in_ledger=True,
        kind="federated-distributed",
        trust_model="distributed",
        sigma=sigma,
        clip=clip,
        rate=q,
        rounds=rounds,
        data=data,
        parts=parts,
        x_test=x_test,
        y_test=y_test,
        started=started,
    )
    local_sigma = recipe.calibration(context.epsilon).value
    context.say(f"local noise per hospital: {rounds} rounds, σ = {local_sigma:.3f}")
    started = time.perf_counter()
    local = run_local_dpsgd(
        x,
        y,
        parts,
        replace(recipe.local_config(local_sigma, context.seed), model=model),
        x_test=x_test,
        y_test=y_test,
        n_classes=classes,
        silo_names=names,
        evaluate_every=1,
    )
    local_variant = _settle(
        context,
        local,
        name="hospitals-local-dp",
        description="5 hospitals, local DP-SGD noise per hospital at the same ε",
        in_ledger=False,
        kind="federated-local",
        trust_model="silo_local",
        sigma=local_sigma,
        clip=clip,
        rate=q,
        rounds=rounds,
        data=data,
        parts=parts,
        x_test=x_test,
        y_test=y_test,
        started=started,
    )
    baseline = _baseline(
        context,
        "hospitals-non-private",
        x,
        y,
        x_test,
        y_test,
        parts,
        names,
        model,
        rounds,
        q,
        recipe.learning_rate,
        clip,
        data,
        n_classes=classes,
    )
    summary = {
        **data,
        "hospitals": names,
        "threshold": threshold,
        "hospital_sizes": [len(p) for p in parts],
        "specialty_mix": [np.bincount(y[p], minlength=classes).tolist() for p in parts],
    }
    return deployment, [local_variant, baseline], summary


# --- variants -----------------------------------------------------------------------------------


def _variant(
    context: _Context,
    name: str,
    description: str,
    in_ledger: bool,
    result: Any,
    x_test: Array,
    y_test: Array,
    sigma: float | None,
    started: float,
    extra: dict[str, Any] | None = None,
) -> VariantResult:
    metrics = _final_metrics(result, x_test, y_test)
    epsilon = None
    if sigma is not None and sigma > 0:
        epsilon = _run_epsilon(result.ledger_entries, context.delta)
    summary = ", ".join(
        f"{k} {v:.4f}" for k, v in metrics.items() if k in ("test_accuracy", "macro_f1", "roc_auc")
    )
    context.say(f"{name}: {summary}" + ("" if epsilon is None else f", ε = {epsilon:.4f}"))
    return VariantResult(
        name=name,
        description=description,
        in_ledger=in_ledger,
        metrics=metrics,
        epsilon=epsilon,
        noise_multiplier=sigma,
        rounds=_round_rows(result),
        wall_seconds=time.perf_counter() - started,
        extra=extra or {},
    )


def _finish_variant(
    context: _Context,
    variant: VariantResult,
    result: Any,
    kind: str,
    trust_model: str,
    sigma: float,
    clip: float,
    rate: float,
    rounds: int,
    data: dict[str, Any],
    parts: Sequence[Any],
    in_ledger: bool,
    *,
    unit: str = "example",
) -> None:
    from privaudit.federated import write_ledger

    if in_ledger:
        # About 20 entries a partition: the ledger shows the budget spent over training.
        block = max(1, math.ceil(len(result.rounds) / 20))
        write_ledger(
            result, context.ledger, context.scenario.dataset, variant.name, unit, max_rounds=block
        )
    evaluated = [r.round for r in result.rounds if r.metrics]
    curve = _epsilon_curve(result.ledger_entries, evaluated, context.delta)
    _write_record(
        context,
        variant,
        kind=kind,
        trust_model=trust_model,
        result=result,
        privacy=_privacy(
            context,
            sigma=sigma,
            clip=clip,
            rate=rate,
            rounds_planned=rounds,
            rounds_done=len(result.rounds),
            epsilon=variant.epsilon or 0.0,
            in_ledger=in_ledger,
        ),
        config={
            "rounds": rounds,
            "sampling_rate": rate,
            "clip_norm": clip,
            "noise_multiplier": sigma,
            "silo_sizes": [len(p) for p in parts],
            "description": variant.description,
        },
        data=data,
        curve=curve,
    )


def _settle(
    context: _Context,
    result: Any,
    *,
    name: str,
    description: str,
    in_ledger: bool,
    kind: str,
    trust_model: str,
    sigma: float,
    clip: float,
    rate: float,
    rounds: int,
    data: dict[str, Any],
    parts: Sequence[Any],
    x_test: Array,
    y_test: Array,
    started: float,
    unit: str = "example",
    extra: dict[str, Any] | None = None,
) -> VariantResult:
    """A trained private variant: its metrics and ε, its ledger entries (deployment only) and
    its run record."""
    variant = _variant(
        context, name, description, in_ledger, result, x_test, y_test, sigma, started, extra
    )
    _finish_variant(
        context,
        variant,
        result,
        kind,
        trust_model,
        sigma,
        clip,
        rate,
        rounds,
        data,
        parts,
        in_ledger,
        unit=unit,
    )
    return variant


def _variant_json(variant: VariantResult) -> dict[str, Any]:
    return {
        "name": variant.name,
        "description": variant.description,
        "in_ledger": variant.in_ledger,
        "epsilon": variant.epsilon,
        "noise_multiplier": variant.noise_multiplier,
        "metrics": {k: _finite_or_none(v) for k, v in variant.metrics.items()},
        "wall_seconds": round(variant.wall_seconds, 1),
        "survivors_by_round": sorted({r["survivors"] for r in variant.rounds}),
        **variant.extra,
    }


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


_RUNNERS: Final[
    dict[str, Callable[[_Context], tuple[VariantResult, list[VariantResult], dict[str, Any]]]]
] = {
    "mnist-noniid": _mnist_noniid,
    "mnist-cross-device": _mnist_cross_device,
    "bank-fraud": _bank_fraud,
    "hospital-notes": _hospital_notes,
}
