"""One-run empirical privacy audits of the DP-SGD and DP-FedAvg trainers (white box).

Method: Steinke, Nasr & Jagielski, "Privacy Auditing with One (1) Training Run", NeurIPS 2023.
The auditor plants m Dirac canaries (:mod:`privaudit.audit.canaries`), includes each with
probability 1/2, trains once, scores every canary from what it observed and guesses the
inclusion of the highest- and lowest-scoring ones; the number of correct guesses gives an
ε lower bound that holds with probability 1 − β for any trainer that is (ε, δ)-DP
(:mod:`privaudit.audit.bounds`). A bound above the ε the accountant claims proves the trainer
does not deliver it.

Threat model
------------
- *What is tested*: the training loop as implemented — Poisson sampling at rate q, per-example
  (per-client) clipping to C, Gaussian noise σ·C on every coordinate of the sum — against the
  mechanism the accountant was told, ``DpSgd(σ, q, T)`` or ``DpFedAvg(z, q, T)``. The loop is
  assembled from the production building blocks (:func:`~privaudit.train.dpsgd.poisson_sample`,
  :meth:`~privaudit.train.models.Mlp.clipped_gradient_sum`,
  :func:`~privaudit.train.dpsgd.add_gaussian_noise`, the same optimizers;
  :func:`~privaudit.federated.local_sgd` and :func:`~privaudit.federated.clip_to_norm`
  for DP-FedAvg) with one addition: included canaries enter the clipped sum as extra records.
- *What the auditor sees*: white box. The noisy sum of every step, before normalisation, on the
  canary and untouched coordinates (the strongest observation the DP guarantee covers: every
  step's release), and the trainer's own log of how often it sampled the included canaries.
  It does not see which steps sampled a canary when it scores: that is the mechanism's secret
  randomness, which the amplification-by-sampling analysis relies on.
- *What is not tested*: the accountant's arithmetic (a bound below the claim is evidence, not
  proof, that the accounting is right: the audit is a one-sided test), data-dependent leaks
  outside the gradient sums (evaluation metrics, hyper-parameter tuning), floating-point attacks
  on the noise sampler (Mironov 2012), and the adaptive clipping and compression variants of
  DP-FedAvg (refused).
- *Scope of a verdict*: "violation" is a proof at confidence 1 − β (bound) or an exact test at
  ``check_level`` (three direct checks) that the run is not what was claimed: a correct trainer
  gets a false "violation" with probability at most β + 3·``check_level`` (union bound; in
  practice the bound is far below the claim, so about 3·10⁻⁴). "consistent" only says that this
  audit found nothing: with m = 1,000 canaries the one-run bound recovers a fraction of the
  claimed ε, so small under-deliveries pass.

Method, score and guesses
-------------------------
``method="one_run"`` is Steinke et al.'s bound: it refutes (ε, δ)-DP for any mechanism.
``"one_run_fdp"`` (Mahloujifar, Melis & Chaudhuri 2024) refutes μ-Gaussian DP and reports the ε
at δ of the refuted curve G_μ: tighter, and sound here because the PLD trade-off curve of
Poisson-subsampled Gaussian steps lies above G_μ* for the μ* with the same ε at δ (checked
numerically with dp_accounting's PLD at δ = 1e-5 for ε = 1, 2, 4, 8 and q·T from 1 to 96); it
must not be used for claims that are not Gaussian-shaped. The number of guesses is fixed before
training by :func:`~privaudit.audit.canaries.design_guess_count` (simulated audits of a correct
trainer with the run's public q, σ, T and m), so the bound pays no union bound for choosing it.

Measured on the correct trainer, m = 1,000, 20 seeds, ``sum`` score, q = 0.1, T = 100: the mean
ε lower bound is 20% / 30% / 28% / 22% of the claimed ε = 1 / 2 / 4 / 8 with ``one_run`` and
31% / 42% / 43% / 33% with ``one_run_fdp`` (``likelihood_ratio``: 33% / 47% / 49% / 42% with
``one_run_fdp``). More canaries are what buys more: with m = 1,000 even 1,000 correct guesses out
of 1,000 certify only ε = 5.78 with ``one_run`` (δ = 1e-5), so a claim of ε ≳ 5 cannot be refuted
by the bound; the direct checks still apply.

The audit's run never touches a ledger: it is a test of the trainer, its model is discarded, and
its record holds only canary statistics, sizes and the test accuracy. Its real records do not
influence any canary statistic (they never touch the canary coordinates).

Planted bugs
------------
To test the audit itself, :class:`PlantedBug` breaks the trainer on purpose: ``NO_CLIPPING``
(nothing is clipped; a canary contributes its raw norm G = 10·C), ``NOISE_DIV_10`` (noise σ/10)
and ``SAMPLING_X4`` (sampling at min(1, 4q) while the accountant is told q). They exist only
here — the training APIs (``train_dpsgd``, ``run_dpsgd``, the federated runners) cannot reach
them — and the audit functions accept one only as the keyword ``planted_bug`` *and* when the
environment variable ``PRIVAUDIT_ALLOW_PLANTED_BUGS`` is ``yes-break-privacy``. The record says
which bug was planted. Each is caught twice at a claimed ε = 2: by the ε bound, and by the direct
check it breaks (:mod:`privaudit.audit.canaries`) — the clipping check for ``NO_CLIPPING`` (a
sampled canary adds 10·C), the noise check for ``NOISE_DIV_10``, the sampling check for
``SAMPLING_X4``. The direct checks do not depend on the claimed ε, so they still catch these
bugs where m = 1,000 canaries cannot bound ε above the claim.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from privaudit.audit.canaries import (
    CANARY_NORM_RATIO,
    SCORES,
    CanaryObserver,
    DiracCanaries,
    GuessDesign,
    Score,
    contribution_check,
    design_guess_count,
    draw_canaries,
    noise_std_check,
    sampling_rate_check,
)
from privaudit.errors import EXIT_USAGE, InputError, PrivauditError
from privaudit.federated import DpFedAvgConfig, clip_to_norm, local_sgd
from privaudit.mechanisms import DpFedAvg, Mechanism, Sampling, mechanism_to_json
from privaudit.records.audit import (
    AuditRecord,
    ContributionRecord,
    DirectChecks,
    NoiseStdRecord,
    SamplingRateRecord,
    Target,
    reasons_of,
    verdict_of,
)
from privaudit.records.run import library_versions, now
from privaudit.train.dpsgd import (
    DpSgdConfig,
    _make_optimizer,
    add_gaussian_noise,
    poisson_sample,
)
from privaudit.train.models import Array, Labels, Mlp, ModelSpec

__all__ = [
    "CHECK_LEVEL",
    "PLANTED_BUGS_CONSENT",
    "PLANTED_BUGS_VARIABLE",
    "PlantedBug",
    "PlantedBugRefusedError",
    "audit_dpsgd",
    "audit_fedavg",
]

Progress = Callable[[str], None]
Guesses = int | Literal["design", "search"]

PLANTED_BUGS_VARIABLE = "PRIVAUDIT_ALLOW_PLANTED_BUGS"
PLANTED_BUGS_CONSENT = "yes-break-privacy"

CHECK_LEVEL = 1e-4
"""Level of each direct check (noise, sampling, clipping). Exact tests at this level flag a
correct trainer about once in 10,000 audits each. At β = 0.05 the three would flag about one
correct audit in seven, so a series of audits of a correct trainer would report "violations"
(one of six MNIST audits measured had a sampling p-value of 0.007). The planted bugs are off by
factors of 4 and 10, which these tests see at any level; a 5% error in the noise std or ~10% in
the sampling rate is flagged as well once u·T and the canary samplings are in the thousands."""

_ARGUMENT = "<argument>"
_METHODS = ("one_run", "one_run_fdp")
_PROGRESS_EVERY = 0.1


class PlantedBug(StrEnum):
    """Deliberate privacy bugs, only for testing the audit (see the module docstring)."""

    NO_CLIPPING = "no_clipping"
    """Skip clipping: every gradient (and a canary's G·e_c) enters the sum at full norm."""
    NOISE_DIV_10 = "noise_div_10"
    """Add noise σ·C/10 instead of σ·C."""
    SAMPLING_X4 = "sampling_x4"
    """Sample at min(1, 4q) while the accountant is told q."""


class PlantedBugRefusedError(PrivauditError):
    """A planted bug was asked for without the environment's explicit consent."""

    exit_code = EXIT_USAGE


def audit_dpsgd(
    x_train: Array,
    y_train: Labels,
    x_test: Array,
    y_test: Labels,
    config: DpSgdConfig,
    *,
    epsilon_claimed: float,
    delta: float,
    canaries: int = 1000,
    untouched: int = 200,
    seed: int,
    beta: float = 0.05,
    method: str = "one_run",
    score: Score = "sum",
    guesses: Guesses = "design",
    check_level: float = CHECK_LEVEL,
    canary_norm_ratio: float = CANARY_NORM_RATIO,
    name: str = "audit-dpsgd",
    data: Mapping[str, Any] | None = None,
    n_classes: int | None = None,
    planted_bug: PlantedBug | None = None,
    progress: Progress | None = None,
) -> AuditRecord:
    """Audit DP-SGD ``config`` on ``x_train`` (n, d) in one training run with ``canaries``
    Dirac gradient canaries; ``epsilon_claimed`` is the accountant's ε at ``delta`` for
    ``config.mechanism(n, steps)`` (e.g. ``account([mechanism], delta).epsilon``).

    ``seed`` fixes the auditor's coin flips, its design simulations and the trainer's
    randomness (independent streams); ``config.seed`` is not used. ``data`` (name, provenance,
    ...) is copied into the record. Returns the record; the caller writes it
    (:func:`~privaudit.records.audit.write_audit_record`).
    """
    bug = _planted_bug(planted_bug)
    started = time.perf_counter()
    _check_audit(epsilon_claimed, delta, seed, beta, method, score, check_level)
    x_train, y_train = _check_features(x_train, "x_train"), _check_labels(y_train, "y_train")
    x_test, y_test = _check_features(x_test, "x_test"), _check_labels(y_test, "y_test")
    n, d = x_train.shape
    if len(y_train) != n or len(y_test) != len(x_test) or x_test.shape[1] != d:
        raise InputError(
            _ARGUMENT,
            "x_test",
            f"expected one label per record and {d} features in both sets; found train"
            f" {x_train.shape} with {len(y_train)} labels, test {x_test.shape} with"
            f" {len(y_test)}",
        )
    if not config.private:
        raise InputError(_ARGUMENT, "config.noise_multiplier", "must be > 0 to audit privacy")
    if config.sampling is not Sampling.POISSON:
        raise InputError(
            _ARGUMENT,
            "config.sampling",
            f"the one-run audit covers poisson sampling; found {config.sampling.value}",
        )
    classes = _classes(n_classes, y_train, y_test)
    q = config.sampling_rate(n)
    steps = config.planned_steps(n)
    auditor_rng, design_rng, trainer_rng = _generators(seed)
    planted = draw_canaries(
        canaries,
        untouched,
        base_features=d,
        gradient_norm=_gradient_norm(canary_norm_ratio, config.clip_norm),
        rng=auditor_rng,
    )
    observer = CanaryObserver(
        planted,
        clip_norm=config.clip_norm,
        noise_multiplier=config.noise_multiplier,
        sampling_rate=q,
    )
    # Fixed before training, from public parameters only (see design_guess_count).
    plan = _plan_guesses(
        guesses,
        planted.count,
        steps,
        q,
        config.noise_multiplier,
        score,
        method,
        delta,
        beta,
        design_rng,
    )
    from threadpoolctl import threadpool_limits

    # Small matrix products on a shared machine run far faster on one BLAS thread.
    with threadpool_limits(limits=1, user_api="blas"):
        run = _train_dpsgd_with_canaries(
            x_train,
            y_train,
            x_test,
            y_test,
            config,
            planted,
            observer,
            classes=classes,
            steps=steps,
            bug=bug,
            rng=trainer_rng,
            progress=progress,
        )
    return _record(
        target="dpsgd",
        name=name,
        data={**(data or {}), "train": n, "test": len(x_test), "features": d},
        config={
            "noise_multiplier": config.noise_multiplier,
            "clip_norm": config.clip_norm,
            "batch_size": config.batch_size,
            "sampling": config.sampling.value,
            "sampling_rate": q,
            "steps": steps,
            "epochs": config.epochs,
            "learning_rate": config.learning_rate,
            "momentum": config.momentum,
            "optimizer": config.optimizer,
            "model": _model_json(config.model),
        },
        mechanism=config.mechanism(n, steps),
        canaries=planted,
        observer=observer,
        run=run,
        clip_norm=config.clip_norm,
        claimed_std=config.noise_multiplier * config.clip_norm,
        claimed_rate=q,
        epsilon_claimed=epsilon_claimed,
        delta=delta,
        seed=seed,
        beta=beta,
        method=method,
        score=score,
        check_level=check_level,
        plan=plan,
        bug=bug,
        started=started,
    )


def audit_fedavg(
    x: Array,
    y: Labels,
    parts: Sequence[npt.ArrayLike],
    x_test: Array,
    y_test: Labels,
    config: DpFedAvgConfig,
    *,
    epsilon_claimed: float,
    delta: float,
    canaries: int = 1000,
    untouched: int = 200,
    seed: int,
    beta: float = 0.05,
    method: str = "one_run",
    score: Score = "sum",
    guesses: Guesses = "design",
    check_level: float = CHECK_LEVEL,
    canary_norm_ratio: float = CANARY_NORM_RATIO,
    name: str = "audit-fedavg",
    data: Mapping[str, Any] | None = None,
    n_classes: int | None = None,
    planted_bug: PlantedBug | None = None,
    progress: Progress | None = None,
) -> AuditRecord:
    """Audit client-level DP-FedAvg ``config`` (McMahan et al., ICLR 2018, Alg. 1) in one run:
    real client i holds the records ``parts[i]`` of ``x``/``y``; each of ``canaries`` canary
    *clients* (included with probability 1/2) sends the model delta G·e_c on its own unused
    coordinate. ``epsilon_claimed`` is the accountant's ε for ``DpFedAvg(z, q, rounds)``.
    Fixed clipping only: adaptive clipping and compression are refused."""
    bug = _planted_bug(planted_bug)
    started = time.perf_counter()
    _check_audit(epsilon_claimed, delta, seed, beta, method, score, check_level)
    x, y = _check_features(x, "x"), _check_labels(y, "y")
    x_test, y_test = _check_features(x_test, "x_test"), _check_labels(y_test, "y_test")
    n, d = x.shape
    if len(y) != n or len(y_test) != len(x_test) or x_test.shape[1] != d:
        raise InputError(
            _ARGUMENT,
            "x_test",
            f"expected one label per record and {d} features in both sets; found {x.shape}"
            f" with {len(y)} labels, test {x_test.shape} with {len(y_test)}",
        )
    if config.noise_multiplier <= 0:
        raise InputError(_ARGUMENT, "config.noise_multiplier", "must be > 0 to audit privacy")
    if config.adaptive_clipping is not None or config.compression is not None:
        raise InputError(
            _ARGUMENT,
            "config",
            "the audit covers DP-FedAvg with fixed clipping and no compression",
        )
    clients = _check_parts(parts, n)
    classes = _classes(n_classes, y, y_test)
    auditor_rng, design_rng, trainer_rng = _generators(seed)
    planted = draw_canaries(
        canaries,
        untouched,
        base_features=d,
        gradient_norm=_gradient_norm(canary_norm_ratio, config.clip_norm),
        rng=auditor_rng,
    )
    q = config.client_sampling_rate
    observer = CanaryObserver(
        planted,
        clip_norm=config.clip_norm,
        noise_multiplier=config.noise_multiplier,
        sampling_rate=q,
    )
    plan = _plan_guesses(
        guesses,
        planted.count,
        config.rounds,
        q,
        config.noise_multiplier,
        score,
        method,
        delta,
        beta,
        design_rng,
    )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        run = _train_fedavg_with_canaries(
            x,
            y,
            clients,
            x_test,
            y_test,
            config,
            planted,
            observer,
            classes=classes,
            bug=bug,
            rng=trainer_rng,
            progress=progress,
        )
    return _record(
        target="fedavg",
        name=name,
        data={
            **(data or {}),
            "records": n,
            "clients": len(clients),
            "test": len(x_test),
            "features": d,
        },
        config={
            "rounds": config.rounds,
            "client_sampling_rate": q,
            "noise_multiplier": config.noise_multiplier,
            "clip_norm": config.clip_norm,
            "local_epochs": config.local_epochs,
            "local_batch_size": config.local_batch_size,
            "local_learning_rate": config.local_learning_rate,
            "server_learning_rate": config.server_learning_rate,
            "server_momentum": config.server_momentum,
            "model": _model_json(config.model),
        },
        mechanism=DpFedAvg(
            noise_multiplier=config.noise_multiplier,
            client_sampling_rate=q,
            rounds=config.rounds,
        ),
        canaries=planted,
        observer=observer,
        run=run,
        clip_norm=config.clip_norm,
        claimed_std=config.noise_multiplier * config.clip_norm,
        claimed_rate=q,
        epsilon_claimed=epsilon_claimed,
        delta=delta,
        seed=seed,
        beta=beta,
        method=method,
        score=score,
        check_level=check_level,
        plan=plan,
        bug=bug,
        started=started,
    )


# --- the audited training loops -------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    steps: int
    sampled: int
    """Times an included canary was sampled, summed over steps (the trainer's log)."""
    test_accuracy: float


def _train_dpsgd_with_canaries(
    x_train: Array,
    y_train: Labels,
    x_test: Array,
    y_test: Labels,
    config: DpSgdConfig,
    canaries: DiracCanaries,
    observer: CanaryObserver,
    *,
    classes: int,
    steps: int,
    bug: PlantedBug | None,
    rng: np.random.Generator,
    progress: Progress | None,
) -> _Run:
    """DP-SGD as :func:`~privaudit.train.dpsgd.train_dpsgd` runs it (Abadi et al. 2016, Alg. 1),
    on the data with the canary features appended and the included canaries as extra records."""
    n, d = x_train.shape
    clip = config.clip_norm
    q = config.sampling_rate(n)
    rate = min(1.0, 4 * q) if bug is PlantedBug.SAMPLING_X4 else q
    sigma = (
        config.noise_multiplier / 10 if bug is PlantedBug.NOISE_DIV_10 else config.noise_multiplier
    )
    dtype = np.float64 if x_train.dtype == np.float64 else np.float32
    model = config.model.build(d + canaries.extra_features, classes)
    params = model.init(rng, dtype)
    optimizer = _make_optimizer(config, model.n_params, dtype)
    canary_at, untouched_at = canaries.coordinates(model)
    included = canaries.included_indices
    contribution = _canary_contribution(canaries.gradient_norm, clip, bug)
    expected_batch = float(config.batch_size)  # q·n, public
    sampled_total = 0
    report = _Reporter(progress, steps, "step")
    for step in range(steps):
        index = poisson_sample(n, rate, rng)
        # Included canaries are records like the others: each joins the batch with the same
        # probability, independently of everything else.
        chosen = included[poisson_sample(len(included), rate, rng)]
        sampled_total += len(chosen)
        x_batch = canaries.features(x_train[index].astype(dtype, copy=False))
        if bug is PlantedBug.NO_CLIPPING:
            total = model.gradient(params, x_batch, y_train[index]) * np.asarray(
                len(index), dtype=dtype
            )
        else:
            total, _, _ = model.clipped_gradient_sum(params, x_batch, y_train[index], clip)
        total[canary_at[chosen]] += contribution
        noisy = add_gaussian_noise(total, sigma, clip, rng)
        observer.observe(noisy[canary_at], noisy[untouched_at])
        noisy /= np.asarray(expected_batch, dtype=noisy.dtype)
        optimizer.step(params, noisy)
        report(step + 1)
    return _Run(steps, sampled_total, _accuracy(model, params, canaries, x_test, y_test))


def _train_fedavg_with_canaries(
    x: Array,
    y: Labels,
    clients: list[npt.NDArray[np.int64]],
    x_test: Array,
    y_test: Labels,
    config: DpFedAvgConfig,
    canaries: DiracCanaries,
    observer: CanaryObserver,
    *,
    classes: int,
    bug: PlantedBug | None,
    rng: np.random.Generator,
    progress: Progress | None,
) -> _Run:
    """DP-FedAvg (McMahan et al. 2018, Alg. 1) as ``DpFedAvgStrategy`` runs it with fixed
    clipping, with the included canary clients added to the population."""
    d = x.shape[1]
    clip = config.clip_norm
    q = config.client_sampling_rate
    rate = min(1.0, 4 * q) if bug is PlantedBug.SAMPLING_X4 else q
    z = config.noise_multiplier / 10 if bug is PlantedBug.NOISE_DIV_10 else config.noise_multiplier
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    model = config.model.build(d + canaries.extra_features, classes)
    params = model.init(rng, dtype)
    canary_at, untouched_at = canaries.coordinates(model)
    included = canaries.included_indices
    contribution = _canary_contribution(canaries.gradient_norm, clip, bug)
    # The fixed denominator q·N over the real population (McMahan et al. 2018, §2, f̃_f).
    expected_clients = q * len(clients)
    velocity = np.zeros_like(params) if config.server_momentum else None
    sampled_total = 0
    report = _Reporter(progress, config.rounds, "round")
    for round_ in range(config.rounds):
        chosen = poisson_sample(len(clients), rate, rng)
        canary_clients = included[poisson_sample(len(included), rate, rng)]
        sampled_total += len(canary_clients)
        total = np.zeros_like(params)
        for client in chosen:
            rows = clients[client]
            trained = local_sgd(
                model,
                params,
                canaries.features(x[rows].astype(dtype, copy=False)),
                y[rows],
                epochs=config.local_epochs,
                batch_size=config.local_batch_size,
                learning_rate=config.local_learning_rate,
                rng=rng,
            )
            delta: Array = trained - params
            if bug is not PlantedBug.NO_CLIPPING:
                delta, _ = clip_to_norm(delta, clip)
            total += delta
        total[canary_at[canary_clients]] += contribution
        noisy = add_gaussian_noise(total, z, clip, rng)
        observer.observe(noisy[canary_at], noisy[untouched_at])
        update: Array = noisy / np.asarray(expected_clients, dtype=noisy.dtype)
        if velocity is not None:
            # Heavy-ball momentum on the averaged update (FedAvgM; Hsu, Qi & Brown 2019).
            velocity *= config.server_momentum
            velocity += update
            update = velocity
        params = (params + config.server_learning_rate * update).astype(dtype, copy=False)
        report(round_ + 1)
    return _Run(config.rounds, sampled_total, _accuracy(model, params, canaries, x_test, y_test))


def _canary_contribution(gradient_norm: float, clip_norm: float, bug: PlantedBug | None) -> float:
    """What one sampled canary adds to its coordinate: its Dirac vector G·e_c clipped as any
    record's gradient is (norm C when G > C), or at full norm G when clipping is skipped."""
    if bug is PlantedBug.NO_CLIPPING:
        return gradient_norm
    # A Dirac vector's L2 norm is |G|, so clipping it is clipping the one-element vector [G].
    clipped, _ = clip_to_norm(np.array([gradient_norm], dtype=np.float64), clip_norm)
    return float(clipped[0])


def _accuracy(
    model: Mlp, params: Array, canaries: DiracCanaries, x_test: Array, y_test: Labels
) -> float:
    if not len(x_test):
        return 0.0
    correct = 0
    chunk = 4096
    for start in range(0, len(x_test), chunk):
        batch = canaries.features(x_test[start : start + chunk].astype(params.dtype, copy=False))
        predicted = model.predict(params, batch)
        correct += int(np.sum(predicted == y_test[start : start + chunk]))
    return correct / len(x_test)


class _Reporter:
    """Progress lines at every 10% of the steps (nothing when there is no callback)."""

    def __init__(self, progress: Progress | None, total: int, unit: str) -> None:
        self.progress = progress
        self.total = total
        self.unit = unit
        self.every = max(1, math.ceil(total * _PROGRESS_EVERY))
        self.start = time.perf_counter()

    def __call__(self, done: int) -> None:
        if self.progress is not None and (done % self.every == 0 or done == self.total):
            seconds = time.perf_counter() - self.start
            self.progress(f"{self.unit} {done}/{self.total} ({seconds:.0f} s)")


# --- the record -----------------------------------------------------------------------------------


def _record(
    *,
    target: Target,
    name: str,
    data: dict[str, Any],
    config: dict[str, Any],
    mechanism: Mechanism,
    canaries: DiracCanaries,
    observer: CanaryObserver,
    run: _Run,
    clip_norm: float,
    claimed_std: float,
    claimed_rate: float,
    epsilon_claimed: float,
    delta: float,
    seed: int,
    beta: float,
    method: str,
    score: Score,
    check_level: float,
    plan: _GuessPlan,
    bug: PlantedBug | None,
    started: float,
) -> AuditRecord:
    from privaudit.audit.bounds import audit_from_scores

    bound = audit_from_scores(
        observer.scores(score),
        canaries.included,
        delta=delta,
        beta=beta,
        method=method,
        guess_counts=plan.counts,
    )
    noise = noise_std_check(
        observer.untouched_sum_squares, observer.untouched_observations, claimed_std, check_level
    )
    trials = len(canaries.included_indices) * run.steps
    sampling = sampling_rate_check(run.sampled, trials, claimed_rate, check_level)
    contribution = contribution_check(
        float(observer.sums[canaries.included].sum()),
        run.sampled,
        clip_norm=clip_norm,
        noise_std=claimed_std,
        observations=trials,
        level=check_level,
    )
    checks = DirectChecks(
        noise_std=NoiseStdRecord(**asdict(noise)),
        sampling_rate=SamplingRateRecord(**asdict(sampling)),
        contribution=ContributionRecord(**asdict(contribution)),
    )
    return AuditRecord(
        name=name,
        created=now(),
        target=target,
        data=data,
        config=config,
        epsilon_claimed=epsilon_claimed,
        delta=delta,
        mechanism=mechanism_to_json(mechanism),
        canaries=canaries.count,
        untouched=canaries.untouched,
        canary_gradient_norm=canaries.gradient_norm,
        score=score,
        guess_rule=plan.rule,
        expected_lower_bound=None if plan.design is None else plan.design.expected_lower_bound,
        steps=run.steps,
        epsilon_lower_bound=bound.epsilon_lower_bound,
        confidence=bound.confidence,
        method=bound.method,
        guesses=bound.guesses,
        correct=bound.correct,
        guesses_in=bound.guesses_in,
        guesses_out=bound.guesses_out,
        candidates=bound.candidates,
        verdict=verdict_of(bound.epsilon_lower_bound, epsilon_claimed, checks),
        reasons=reasons_of(bound.epsilon_lower_bound, epsilon_claimed, checks),
        direct_checks=checks,
        planted_bug=None if bug is None else bug.value,
        test_accuracy=run.test_accuracy,
        seed=seed,
        wall_seconds=time.perf_counter() - started,
        versions=library_versions(),
    )


@dataclass(frozen=True)
class _GuessPlan:
    rule: str
    counts: list[int] | None
    design: GuessDesign | None = None


def _plan_guesses(
    guesses: object,
    canaries: int,
    steps: int,
    rate: float,
    noise_multiplier: float,
    score: Score,
    method: str,
    delta: float,
    beta: float,
    rng: np.random.Generator,
) -> _GuessPlan:
    if guesses == "search":
        return _GuessPlan("search", None)
    if guesses == "design":
        design = design_guess_count(
            canaries=canaries,
            steps=steps,
            sampling_rate=rate,
            noise_multiplier=noise_multiplier,
            score=score,
            method=method,
            delta=delta,
            beta=beta,
            rng=rng,
        )
        return _GuessPlan("design", [design.guesses], design)
    if isinstance(guesses, int) and not isinstance(guesses, bool) and 1 <= guesses <= canaries:
        return _GuessPlan("fixed", [guesses])
    raise InputError(
        _ARGUMENT,
        "guesses",
        f"expected design, search or an integer in 1..{canaries}; found {guesses!r}",
    )


# --- validation -----------------------------------------------------------------------------------


def _planted_bug(bug: object) -> PlantedBug | None:
    if bug is None:
        return None
    if not isinstance(bug, PlantedBug):
        # Only the enum member: a string from a config file or a command line cannot get here.
        raise InputError(
            _ARGUMENT, "planted_bug", f"expected None or a PlantedBug; found {type(bug).__name__}"
        )
    if os.environ.get(PLANTED_BUGS_VARIABLE) != PLANTED_BUGS_CONSENT:
        raise PlantedBugRefusedError(
            f"planted bug {bug.value} refused: it breaks privacy on purpose and runs only when"
            f" the environment sets {PLANTED_BUGS_VARIABLE}={PLANTED_BUGS_CONSENT}"
        )
    return bug


def _check_audit(
    epsilon_claimed: float,
    delta: float,
    seed: int,
    beta: float,
    method: str,
    score: str,
    check_level: float,
) -> None:
    if not (_number(epsilon_claimed) and 0 < epsilon_claimed < math.inf):
        raise InputError(
            _ARGUMENT, "epsilon_claimed", f"must be a finite number > 0; found {epsilon_claimed!r}"
        )
    for field, value in (("delta", delta), ("beta", beta), ("check_level", check_level)):
        if not (_number(value) and 0 < value < 1):
            raise InputError(_ARGUMENT, field, f"must be in (0, 1); found {value!r}")
    if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
        raise InputError(_ARGUMENT, "seed", f"must be an integer >= 0; found {seed!r}")
    if score not in SCORES:
        raise InputError(
            _ARGUMENT, "score", f"expected one of {', '.join(SCORES)}; found {score!r}"
        )
    if method not in _METHODS:
        raise InputError(
            _ARGUMENT, "method", f"expected one of {', '.join(_METHODS)}; found {method!r}"
        )


def _check_features(x: Array, name: str) -> Array:
    array = np.asarray(x)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        raise InputError(
            _ARGUMENT,
            name,
            f"expected float features of shape (n, d); found {array.dtype} {array.shape}",
        )
    if not np.all(np.isfinite(array)):
        raise InputError(_ARGUMENT, name, "contains NaN or infinite values")
    return array


def _check_labels(y: Labels, name: str) -> Labels:
    array = np.asarray(y)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise InputError(
            _ARGUMENT,
            name,
            f"expected integer labels of shape (n,); found {array.dtype} {array.shape}",
        )
    return array


def _classes(n_classes: int | None, y_train: Labels, y_test: Labels) -> int:
    if n_classes is None:
        # The public test set's labels name the classes, as in train_dpsgd.
        n_classes = int(y_test.max()) + 1 if len(y_test) else 2
    for name, labels in (("y_train", y_train), ("y_test", y_test)):
        if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise InputError(_ARGUMENT, name, f"labels must be in 0..{n_classes - 1} (n_classes)")
    return max(n_classes, 2)


def _check_parts(parts: Sequence[npt.ArrayLike], n: int) -> list[npt.NDArray[np.int64]]:
    if len(parts) < 1:
        raise InputError(_ARGUMENT, "parts", "expected at least one client")
    clients: list[npt.NDArray[np.int64]] = []
    for index, part in enumerate(parts):
        rows = np.asarray(part)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer) or len(rows) == 0:
            raise InputError(
                _ARGUMENT, f"parts[{index}]", "expected a non-empty 1-d array of record indices"
            )
        if rows.min() < 0 or rows.max() >= n:
            raise InputError(_ARGUMENT, f"parts[{index}]", f"indices must be in 0..{n - 1}")
        clients.append(rows.astype(np.int64))
    return clients


def _model_json(spec: ModelSpec) -> dict[str, Any]:
    # JSON form (a list, not a tuple), so a record read back equals the one written.
    return {**asdict(spec), "hidden": list(spec.hidden)}


def _gradient_norm(ratio: float, clip_norm: float) -> float:
    if not (_number(ratio) and 1 < ratio < math.inf):
        raise InputError(
            _ARGUMENT,
            "canary_norm_ratio",
            f"must be > 1 (a canary's raw norm above the clip norm); found {ratio!r}",
        )
    return float(ratio) * clip_norm


def _generators(seed: int) -> tuple[np.random.Generator, ...]:
    # Independent streams for the auditor's coin flips, its design simulations and the trainer:
    # the trainer must not be able to predict the coin flips.
    return tuple(
        np.random.Generator(np.random.PCG64(child))
        for child in np.random.SeedSequence(seed).spawn(3)
    )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
