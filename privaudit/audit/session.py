"""What every one-run audit of a trainer shares around its training loop: the canaries, the
observer and the guess plan fixed before training, the canary side of each released step, and
the audit record after (white box; the loops are in :mod:`~privaudit.audit.dpsgd` and
:mod:`~privaudit.audit.fedavg`).

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
  audit found nothing: the one-run bound recovers a fraction of the claimed ε (with the
  default 1,000,000 canaries at ε = 2 about 0.8, about its ceiling), so small under-deliveries
  pass; the record's ``efficiency`` says how close to the ideal auditor the audit came.

Method, score and guesses
-------------------------
``method="auto"`` (the default) uses ``"one_run_fdp"`` when the claimed mechanism's certified
trade-off curve lies above a Gaussian curve within 10% of the claim's μ*, with the refuted μ scaled
by μ*/μd so the verdict stays sound, and ``"one_run"`` otherwise; the record says which and why
(:mod:`privaudit.audit.premise`). The default score is ``likelihood_ratio`` and the default guess
rule ``ceiling``: k fixed before training as the k that maximises the ideal auditor's bound
(:mod:`privaudit.audit.ceiling`), whose value is the record's ``ceiling``.

The canary rows of the first layer are held beside the model (their inputs are zero for every
record, so they never change its outputs or any record's gradient) and noised with it by the
trainer's noise function: a step costs m + u extra Gaussian draws, so m in the millions is cheap.

``method="one_run"`` is Steinke et al.'s bound: it refutes (ε, δ)-DP for any mechanism.
``"one_run_fdp"`` (Mahloujifar, Melis & Chaudhuri 2024) refutes μ-Gaussian DP and reports the ε
at δ of the refuted curve G_μ: tighter, and sound here because the PLD trade-off curve of
Poisson-subsampled Gaussian steps lies above G_μ* for the μ* with the same ε at δ (checked
numerically with dp_accounting's PLD at δ = 1e-5 for ε = 1, 2, 4, 8 and q·T from 1 to 96); it
must not be used for claims that are not Gaussian-shaped. The number of guesses is fixed before
training (``guesses="ceiling"``, the default, or ``"design"``:
:func:`~privaudit.audit.canaries.design_guess_count`, simulated audits of a correct trainer
with the run's public q, σ, T and m), so the bound pays no union bound for choosing it.

Measured before ``auto`` on the correct trainer, m = 1,000, 20 seeds, ``sum`` score, q = 0.1, T
= 100: the mean ε lower bound is 20% / 30% / 28% / 22% of the claimed ε = 1 / 2 / 4 / 8 with
``one_run`` and 31% / 42% / 43% / 33% with ``one_run_fdp`` (``likelihood_ratio``: 33% / 47% /
49% / 42% with ``one_run_fdp``). More canaries are what buys more: with m = 1,000 even 1,000
correct guesses out of 1,000 certify only ε = 5.78 with ``one_run`` (δ = 1e-5), so a claim of ε
≳ 5 cannot be refuted by the bound; the direct checks still apply.

The audit's run never touches a ledger: it is a test of the trainer, its model is discarded, and
its record holds only canary statistics, sizes and the test accuracy. Its real records do not
influence any canary statistic (they never touch the canary coordinates).

A planted bug (:mod:`privaudit.audit.planted`) changes what the trainer does, never what the
auditor is told.
"""

from __future__ import annotations

import math
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np

from privaudit.audit.canaries import (
    CanaryObserver,
    GuessDesign,
    contribution_check,
    design_guess_count,
    draw_canaries,
    noise_std_check,
    sampling_rate_check,
)
from privaudit.audit.ceiling import ideal_bound, plan_for_ceiling
from privaudit.audit.planted import TrainerAsRun, as_run
from privaudit.audit.premise import MethodChoice, choose_method
from privaudit.audit.settings import AuditSettings, Progress
from privaudit.checks import ARGUMENT, is_integer
from privaudit.errors import InputError
from privaudit.federated import clip_to_norm
from privaudit.mechanisms import Mechanism, mechanism_to_json
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
from privaudit.train.dpsgd import add_gaussian_noise, poisson_sample
from privaudit.train.models import Array, Labels, Mlp, ModelSpec

__all__ = ["AuditSession", "AuditedRun", "CanaryRelease", "model_json", "one_blas_thread"]

_PROGRESS_EVERY = 0.1


def one_blas_thread() -> AbstractContextManager[object]:
    """A context in which numpy's BLAS runs on one thread."""
    from threadpoolctl import threadpool_limits

    # Small matrix products on a shared machine run far faster on one BLAS thread.
    limits: AbstractContextManager[object] = threadpool_limits(limits=1, user_api="blas")
    return limits


def model_json(spec: ModelSpec) -> dict[str, Any]:
    """``spec`` for a record's configuration."""
    # JSON form (a list, not a tuple), so a record read back equals the one written.
    return {**asdict(spec), "hidden": list(spec.hidden)}


@dataclass(frozen=True)
class AuditedRun:
    """What the audited training run reports besides the observer's statistics."""

    steps: int
    sampled: int
    """Times an included canary was sampled, summed over steps (the trainer's log)."""
    test_accuracy: float | None


class AuditSession:
    """One audit of a trainer told (``noise_multiplier``, ``sampling_rate``, ``steps``) on
    records with ``base_features`` features: everything fixed before training, from the
    auditor's randomness and public parameters only, then the record."""

    def __init__(
        self,
        settings: AuditSettings,
        *,
        target: Target,
        base_features: int,
        clip_norm: float,
        noise_multiplier: float,
        sampling_rate: float,
        steps: int,
        mechanism: Mechanism,
        started: float,
    ) -> None:
        self.settings = settings
        self.mechanism = mechanism
        # Which bound, chosen before training from the claim alone (premise.choose_method).
        self.choice = choose_method(
            settings.method, mechanism, settings.epsilon_claimed, settings.delta
        )
        self.target: Target = target
        self.clip_norm = clip_norm
        self.claimed_std = noise_multiplier * clip_norm
        self.claimed_rate = sampling_rate
        self.started = started
        auditor_rng, design_rng, self.trainer_rng = _generators(settings.seed)
        self.canaries = draw_canaries(
            settings.canaries,
            settings.untouched,
            base_features=base_features,
            gradient_norm=float(settings.canary_norm_ratio) * clip_norm,
            rng=auditor_rng,
        )
        self.observer = CanaryObserver(
            self.canaries,
            clip_norm=clip_norm,
            noise_multiplier=noise_multiplier,
            sampling_rate=sampling_rate,
        )
        # Fixed before training, from public parameters only (see design_guess_count).
        self.plan = _plan_guesses(
            settings,
            self.choice,
            self.canaries.count,
            steps,
            noise_multiplier,
            rate=sampling_rate,
            rng=design_rng,
        )
        self.trainer = as_run(
            settings.planted_bug, sampling_rate=sampling_rate, noise_multiplier=noise_multiplier
        )

    def model(self, spec: ModelSpec, classes: int, features: Array) -> tuple[Mlp, Array]:
        """The model ``spec`` over the records' features, and its initial parameters, in the
        precision of ``features``. The canary and untouched coordinates are held beside it
        (:class:`CanaryRelease`)."""
        dtype = np.float64 if features.dtype == np.float64 else np.float32
        model = spec.build(self.canaries.base_features, classes)
        return model, model.init(self.trainer_rng, dtype)

    def release(self, model: Mlp) -> CanaryRelease:
        return CanaryRelease(self, model)

    def reporter(self, total: int, unit: str) -> Reporter:
        return Reporter(self.settings.progress, total, unit)

    def record(
        self,
        *,
        data: dict[str, Any],
        config: dict[str, Any],
        mechanism: Mechanism,
        run: AuditedRun,
    ) -> AuditRecord:
        """The audit's record: the ε lower bound from the canaries' scores, the direct checks
        against the claim, and the verdict they give."""
        from privaudit.audit.bounds import audit_from_scores

        settings = self.settings
        choice = self.choice
        bound = audit_from_scores(
            self.observer.scores(settings.score),
            self.canaries.included,
            delta=settings.delta,
            beta=settings.beta,
            method=choice.method,
            guess_counts=self.plan.counts,
            mu_scale=choice.mu_scale,
        )
        ceiling = self.plan.ceiling
        checks = self._direct_checks(run)
        claimed = settings.epsilon_claimed
        return AuditRecord(
            name=f"audit-{self.target}" if settings.name is None else settings.name,
            created=now(),
            target=self.target,
            data={**(settings.data or {}), **data},
            config=config,
            epsilon_claimed=claimed,
            delta=settings.delta,
            mechanism=mechanism_to_json(mechanism),
            untouched=self.canaries.untouched,
            canary_gradient_norm=self.canaries.gradient_norm,
            score=settings.score,
            guess_rule=self.plan.rule,
            expected_lower_bound=None
            if self.plan.design is None
            else self.plan.design.expected_lower_bound,
            steps=run.steps,
            # All the bound found, as it found it; its m is the number of canaries planted.
            **asdict(bound),
            method_requested=choice.requested,
            method_reason=choice.reason,
            gaussian_mu=choice.gaussian_mu,
            dominating_mu=choice.dominating_mu,
            ceiling=ceiling,
            efficiency=bound.epsilon_lower_bound / ceiling if ceiling > 0 else None,
            verdict=verdict_of(bound.epsilon_lower_bound, claimed, checks),
            reasons=reasons_of(bound.epsilon_lower_bound, claimed, checks),
            direct_checks=checks,
            planted_bug=None if settings.planted_bug is None else settings.planted_bug.value,
            test_accuracy=run.test_accuracy,
            seed=int(settings.seed),
            wall_seconds=time.perf_counter() - self.started,
            versions=library_versions(),
        )

    def _direct_checks(self, run: AuditedRun) -> DirectChecks:
        """The noise, sampling and clipping checks; none depends on the claimed ε."""
        level = self.settings.check_level
        observer = self.observer
        noise = noise_std_check(
            observer.untouched_sum_squares,
            observer.untouched_observations,
            self.claimed_std,
            level,
        )
        trials = len(self.canaries.included_indices) * run.steps
        sampling = sampling_rate_check(run.sampled, trials, self.claimed_rate, level)
        contribution = contribution_check(
            float(observer.sums[self.canaries.included].sum()),
            run.sampled,
            clip_norm=self.clip_norm,
            noise_std=self.claimed_std,
            observations=trials,
            level=level,
        )
        return DirectChecks(
            noise_std=NoiseStdRecord(**asdict(noise)),
            sampling_rate=SamplingRateRecord(**asdict(sampling)),
            contribution=ContributionRecord(**asdict(contribution)),
        )


class CanaryRelease:
    """The canary side of an audited loop. Each step, right after the trainer samples its real
    records, :meth:`sample` draws the included canaries it samples with them; :meth:`release`
    adds their contributions to the step's sum, adds the trainer's noise and shows the auditor
    the noisy sum on the canary and untouched coordinates."""

    def __init__(self, session: AuditSession, model: Mlp) -> None:
        self.session = session
        self.trainer: TrainerAsRun = session.trainer
        # The canary rows W[d + j, k] of the first layer have inputs that are zero for every
        # record (DiracCanaries.features), so they never change the model's outputs nor any
        # record's gradient: they are held after the model's parameters, not inside it, and the
        # cost of a step does not grow with m beyond the noise on m + u extra coordinates.
        self.parameters = model.n_params
        extra = self.parameters + np.arange(session.canaries.extra_features, dtype=np.int64)
        self.canary_at = extra[: session.canaries.count]
        self.untouched_at = extra[session.canaries.count :]
        self.included = session.canaries.included_indices
        self.contribution = _canary_contribution(
            session.canaries.gradient_norm, session.clip_norm, clips=self.trainer.clips
        )
        self.chosen = self.included[:0]
        self.sampled = 0

    def sample(self, rng: np.random.Generator) -> None:
        # Included canaries are records like the others: each joins the batch with the same
        # probability, independently of everything else.
        self.chosen = self.included[
            poisson_sample(len(self.included), self.trainer.sampling_rate, rng)
        ]
        self.sampled += len(self.chosen)

    def release(self, total: Array, rng: np.random.Generator) -> Array:
        """The noisy sum of a step whose clipped record sum over the model's parameters is
        ``total``: the model's part of the noisy sum of every coordinate (model, canary and
        untouched), which the trainer's own noise function noises together."""
        full = np.zeros(self.parameters + len(self.canary_at) + len(self.untouched_at), total.dtype)
        full[: self.parameters] = total
        full[self.canary_at[self.chosen]] += np.asarray(self.contribution, dtype=total.dtype)
        noisy = add_gaussian_noise(full, self.trainer.noise_multiplier, self.session.clip_norm, rng)
        self.session.observer.observe(noisy[self.canary_at], noisy[self.untouched_at])
        return noisy[: self.parameters]

    def finish(
        self, steps: int, model: Mlp, params: Array, x_test: Array, y_test: Labels
    ) -> AuditedRun:
        accuracy = _accuracy(model, params, x_test, y_test)
        return AuditedRun(steps, self.sampled, accuracy)


class Reporter:
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


def _canary_contribution(gradient_norm: float, clip_norm: float, *, clips: bool) -> float:
    """What one sampled canary adds to its coordinate: its Dirac vector G·e_c clipped as any
    record's gradient is (norm C when G > C), or at full norm G when clipping is skipped."""
    if not clips:
        return gradient_norm
    # A Dirac vector's L2 norm is |G|, so clipping it is clipping the one-element vector [G].
    clipped, _ = clip_to_norm(np.array([gradient_norm], dtype=np.float64), clip_norm)
    return float(clipped[0])


def _accuracy(model: Mlp, params: Array, x_test: Array, y_test: Labels) -> float:
    if not len(x_test):
        return 0.0
    correct = 0
    chunk = 4096
    for start in range(0, len(x_test), chunk):
        batch = x_test[start : start + chunk].astype(params.dtype, copy=False)
        predicted = model.predict(params, batch)
        correct += int(np.sum(predicted == y_test[start : start + chunk]))
    return correct / len(x_test)


@dataclass(frozen=True)
class _GuessPlan:
    rule: str
    counts: list[int] | None
    ceiling: float
    """The ideal auditor's bound with these guess counts (:mod:`privaudit.audit.ceiling`)."""
    design: GuessDesign | None = None


def _plan_guesses(
    settings: AuditSettings,
    choice: MethodChoice,
    canaries: int,
    steps: int,
    noise_multiplier: float,
    *,
    rate: float,
    rng: np.random.Generator,
) -> _GuessPlan:
    from privaudit.audit.bounds import default_guess_counts

    guesses = settings.guesses
    ideal = partial(
        ideal_bound,
        canaries,
        mu=choice.gaussian_mu,
        method=choice.method,
        delta=settings.delta,
        mu_scale=choice.mu_scale,
    )
    if guesses == "ceiling":
        plan = plan_for_ceiling(
            canaries,
            choice.gaussian_mu,
            method=choice.method,
            delta=settings.delta,
            beta=settings.beta,
            mu_scale=choice.mu_scale,
        )
        return _GuessPlan("ceiling", [plan.guesses], plan.ceiling)
    if guesses == "search":
        # The same union bound over the default counts as the audit pays.
        counts = default_guess_counts(canaries, choice.method)
        beta_each = settings.beta / len(counts)
        return _GuessPlan("search", None, max(ideal(k, beta=beta_each) for k in counts))
    if guesses == "design":
        design = design_guess_count(
            canaries=canaries,
            steps=steps,
            sampling_rate=rate,
            noise_multiplier=noise_multiplier,
            score=settings.score,
            method=choice.method,
            delta=settings.delta,
            beta=settings.beta,
            rng=rng,
        )
        ceiling = ideal(design.guesses, beta=settings.beta)
        return _GuessPlan("design", [design.guesses], ceiling, design)
    if is_integer(guesses) and 1 <= guesses <= canaries:
        return _GuessPlan("fixed", [int(guesses)], ideal(int(guesses), beta=settings.beta))
    raise InputError(
        ARGUMENT,
        "guesses",
        f"expected ceiling, design, search or an integer in 1..{canaries}; found {guesses!r}",
    )


def _generators(seed: int) -> tuple[np.random.Generator, ...]:
    # Independent streams for the auditor's coin flips, its design simulations and the trainer:
    # the trainer must not be able to predict the coin flips.
    return tuple(
        np.random.Generator(np.random.PCG64(child))
        for child in np.random.SeedSequence(seed).spawn(3)
    )
