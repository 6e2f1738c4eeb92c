"""White-box Dirac gradient canaries for a one-run privacy audit, and what the auditor measures.

Design (Steinke, Nasr & Jagielski, "Privacy Auditing with One (1) Training Run", NeurIPS 2023,
§6 white-box DP-SGD with "Dirac canaries"):

- m canaries, each *included* in the training data independently with probability 1/2 — the
  auditor's secret coin flips, from its own seeded generator (never the trainer's).
- The training data get m + u extra input features, all zero for every real record (and every
  test record). A dense first layer's weight gradient is the outer product of the input with the
  output error, so the weights of these features get exactly zero gradient from real data. For
  one fixed output unit k (a class of softmax regression, a hidden unit of an MLP), the weight of
  extra feature j < m is canary j's own coordinate c_j; the last u are *untouched*: no record
  and no canary ever moves them.
- Canary j's per-example gradient (DP-SGD) or model delta (DP-FedAvg) is the Dirac vector
  G·e_{c_j} with G > C (by default 10·C). A correct trainer clips it to norm C like any record.
- Included canaries are extra records: sampled at the trainer's rate q, clipped, summed, noised.

What the auditor sees (white box): the noisy sum Σ clipped + N(0, σ²C²) of every step, on the
canary and untouched coordinates only (the rest is never kept). On c_j it is K_j·C + noise for an
included canary sampled in K_j ~ Binomial(T, q) of the T steps, pure noise otherwise; the canaries'
coordinates are disjoint and the noise independent across coordinates, so the m canaries are
i.i.d. audits of one record — the idealised setting of Steinke et al. (§7), where the one-run
bound is as tight as the method allows.

Scores (larger = more likely included):

- ``sum``: Σ_t x_{t,j}, the white-box score of Steinke et al. §6. It does not use the (secret)
  steps in which the canary was sampled: using them would test a stronger mechanism than the
  one the accountant analysed (no amplification by sampling) and could flag a correct trainer.
- ``likelihood_ratio``: Σ_t log(1 − q + q·exp((x_{t,j}/C − 1/2)/σ²)), the log-likelihood ratio of
  "included" against "excluded" for T Poisson-subsampled Gaussian steps. By Neyman–Pearson it is
  the most powerful test of one canary, so it gives tighter bounds when q·T is small; for q = 1 it
  orders canaries exactly as ``sum`` does. It uses only the public q, σ and C.

Direct checks from the same run, each an exact test at level ``level`` (two-sided):

- *Noise*: the untouched coordinates over T steps are u·T independent N(0, σ²C²) draws if the
  trainer adds the noise it claims; Σx²/(σC)² ~ χ²(u·T), giving an exact confidence interval for
  the standard deviation. The check fails when the claimed σ·C lies outside it.
- *Sampling*: the trainer's own log of how often it sampled each included canary (a white-box
  auditor reads the trainer's state): the total over included canaries and steps is
  Binomial(included·T, q) when the trainer samples at the rate it tells the accountant; an exact
  binomial test.
- *Clipping*: given that log, the included canaries' coordinates sum to C·(times sampled) plus
  N(0, σ²C²·included·T) when each sampled canary adds its clipped gradient C; a two-sided z-test
  (exact: the noise is Gaussian) of the mean contribution per sampling against C. A trainer that
  skips clipping adds G = 10·C; one that over-clips adds less. Unlike the ε bound, this check
  does not weaken as the claimed ε grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from privaudit.checks import (
    ARGUMENT,
    is_finite,
    is_integer,
    require,
    require_count,
    require_positive,
)
from privaudit.errors import InputError
from privaudit.train.models import Array, Mlp

Score = Literal["sum", "likelihood_ratio"]
SCORES: tuple[Score, ...] = ("sum", "likelihood_ratio")

CANARY_NORM_RATIO = 10.0
"""G / C: a canary's raw gradient norm over the clip norm. Anything above 1 is clipped to C by
a correct trainer; 10 makes a trainer that skips clipping stand out by a factor of 10."""

MIN_UNTOUCHED = 100
"""Fewest untouched coordinates: with T steps the noise check sees u·T draws."""

Indices = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class DiracCanaries:
    """The auditor's secret (``included``) and where each canary lives in the model."""

    included: Mask
    """Canary j is in the training data iff ``included[j]`` (read-only)."""
    untouched: int
    """u extra coordinates that nothing but the noise ever touches."""
    base_features: int
    """d: the real data's feature count; canary features are d … d + m + u − 1."""
    gradient_norm: float
    """G: each canary's raw (unclipped) gradient or model-delta norm."""
    unit: int = 0
    """The first layer's output unit k whose weights hold the canary coordinates."""

    @property
    def count(self) -> int:
        """m, the number of canaries."""
        return len(self.included)

    @property
    def extra_features(self) -> int:
        """m + u zero features appended to every record."""
        return self.count + self.untouched

    @property
    def included_indices(self) -> Indices:
        return np.flatnonzero(self.included).astype(np.int64)

    def features(self, x: Array) -> Array:
        """``x`` (n, d) with the m + u all-zero canary features appended (a new array)."""
        if x.ndim != 2 or x.shape[1] != self.base_features:
            raise InputError(
                ARGUMENT, "x", f"expected shape (n, {self.base_features}); found {x.shape}"
            )
        out = np.zeros((len(x), self.base_features + self.extra_features), dtype=x.dtype)
        out[:, : self.base_features] = x
        return out

    def coordinates(self, model: Mlp) -> tuple[Indices, Indices]:
        """Flat parameter indices of the m canary and u untouched coordinates in ``model``: the
        first-layer weights W[d + j, k] (W is stored row-major, fan_in × fan_out, from offset 0;
        see :class:`~privaudit.train.models.Mlp`)."""
        fan_in, fan_out = model.layers[0]
        if fan_in != self.base_features + self.extra_features:
            raise InputError(
                ARGUMENT,
                "model",
                f"expected {self.base_features + self.extra_features} input features (data plus"
                f" canary features); found {fan_in}",
            )
        if not 0 <= self.unit < fan_out:
            raise InputError(ARGUMENT, "unit", f"must be in 0..{fan_out - 1}; found {self.unit}")
        rows = self.base_features + np.arange(self.extra_features, dtype=np.int64)
        flat = rows * fan_out + self.unit
        return flat[: self.count], flat[self.count :]


def draw_canaries(
    count: int,
    untouched: int,
    *,
    base_features: int,
    gradient_norm: float,
    rng: np.random.Generator,
    unit: int = 0,
) -> DiracCanaries:
    """m = ``count`` canaries, each included with probability 1/2 by ``rng`` (the auditor's)."""
    require_count(count, "canaries", minimum=2)
    require(
        is_integer(untouched) and untouched >= MIN_UNTOUCHED,
        "untouched",
        f"must be an integer >= {MIN_UNTOUCHED} (the noise check's sample)",
        untouched,
    )
    require_count(base_features, "base_features")
    require_positive(gradient_norm, "gradient_norm")
    included = rng.random(count) < 0.5
    included.setflags(write=False)
    return DiracCanaries(
        included=included,
        untouched=untouched,
        base_features=base_features,
        gradient_norm=float(gradient_norm),
        unit=unit,
    )


class CanaryObserver:
    """Running statistics of the noisy sums on the canary and untouched coordinates, step by
    step: O(m) memory whatever the number of steps."""

    def __init__(
        self,
        canaries: DiracCanaries,
        *,
        clip_norm: float,
        noise_multiplier: float,
        sampling_rate: float,
    ) -> None:
        self.canaries = canaries
        self.clip_norm = float(clip_norm)
        self.noise_multiplier = float(noise_multiplier)
        self.sampling_rate = float(sampling_rate)
        self.sums = np.zeros(canaries.count, dtype=np.float64)
        self.log_likelihood_ratios = np.zeros(canaries.count, dtype=np.float64)
        self.untouched_sum_squares = 0.0
        self.untouched_observations = 0
        self.steps = 0

    def observe(self, canary_values: Array, untouched_values: Array) -> None:
        """One step's noisy sums on the m canary and u untouched coordinates."""
        if canary_values.shape != (self.canaries.count,) or untouched_values.shape != (
            self.canaries.untouched,
        ):
            raise InputError(
                ARGUMENT,
                "observation",
                f"expected {self.canaries.count} canary and {self.canaries.untouched} untouched"
                f" values; found {canary_values.shape} and {untouched_values.shape}",
            )
        x = canary_values.astype(np.float64)
        self.sums += x
        self.log_likelihood_ratios += _step_log_likelihood_ratio(
            x / self.clip_norm, self.noise_multiplier, self.sampling_rate
        )
        untouched = untouched_values.astype(np.float64)
        self.untouched_sum_squares += float(untouched @ untouched)
        self.untouched_observations += len(untouched)
        self.steps += 1

    def scores(self, score: Score) -> npt.NDArray[np.float64]:
        if score == "sum":
            return self.sums.copy()
        if score == "likelihood_ratio":
            return self.log_likelihood_ratios.copy()
        raise InputError(ARGUMENT, "score", f"expected one of {', '.join(SCORES)}; found {score!r}")


def _step_log_likelihood_ratio(
    x: npt.NDArray[np.float64], noise_multiplier: float, rate: float
) -> npt.NDArray[np.float64]:
    # One step, x in units of C: included → (1 − q)·N(0, σ²) + q·N(1, σ²), excluded → N(0, σ²);
    # the density ratio is 1 − q + q·exp((x − 1/2)/σ²) (Gaussian likelihood ratio of a unit
    # shift). logaddexp keeps it finite for the large x a broken trainer produces.
    shifted: npt.NDArray[np.float64] = math.log(rate) + (x - 0.5) / noise_multiplier**2
    if rate >= 1:
        return shifted
    out: npt.NDArray[np.float64] = np.logaddexp(math.log1p(-rate), shifted)
    return out


# --- choosing the number of guesses before the run -----------------------------------------------

GUESS_FRACTIONS = (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0)
"""Guess counts the design chooses among, as fractions of m."""

DESIGN_SIMULATIONS = 32


@dataclass(frozen=True)
class GuessDesign:
    """The guess count k fixed before training, and what it promises for a correct trainer."""

    guesses: int
    expected_lower_bound: float
    """ε lower bound of the median simulated audit of a correct trainer at this k."""
    simulations: int


def design_guess_count(
    *,
    canaries: int,
    steps: int,
    sampling_rate: float,
    noise_multiplier: float,
    score: Score,
    method: str,
    delta: float,
    beta: float,
    rng: np.random.Generator,
    simulations: int = DESIGN_SIMULATIONS,
) -> GuessDesign:
    """Pick the number of guesses k before the run, from simulated audits of a *correct*
    trainer with the same public parameters (m, T, q, σ).

    A bound may use one guess count fixed in advance at full confidence, or search several and
    pay β/(number tried) for each (a union bound). Fixing k costs nothing if k is
    chosen without looking at the run, and here it can be: a correct trainer's canary
    coordinates see K·C + N(0, σ²C²T) with K ~ Binomial(T, q) whatever the real data (they never
    touch those coordinates), so the audit's outcome distribution is known in advance. For each
    candidate k the simulations give the median number of correct guesses, the bound is computed
    for it (the bound grows with the count, so this is the median bound), and the k with the
    largest one is chosen.
    """
    from privaudit.audit.bounds import (
        one_run_epsilon_lower_bound,
        one_run_fdp_epsilon_lower_bound,
    )

    bounds = {
        "one_run": one_run_epsilon_lower_bound,
        "one_run_fdp": one_run_fdp_epsilon_lower_bound,
    }
    if method not in bounds:
        raise InputError(
            ARGUMENT, "method", f"expected one of {', '.join(bounds)}; found {method!r}"
        )
    require_count(simulations, "simulations")
    choices = sorted({max(1, round(canaries * f)) for f in GUESS_FRACTIONS})
    correct = np.zeros((simulations, len(choices)), dtype=np.int64)
    for run in range(simulations):
        included = rng.random(canaries) < 0.5
        scores = _simulated_scores(included, steps, sampling_rate, noise_multiplier, score, rng)
        # Same ranking as the bound's: included below excluded on ties (pessimistic).
        ranked = included[np.lexsort((np.where(included, 0, 1), scores))]
        below = np.concatenate(([0], np.cumsum(ranked)))
        n_in = int(below[-1])
        for column, k in enumerate(choices):
            guesses_in = k // 2
            guesses_out = k - guesses_in
            right_in = n_in - int(below[canaries - guesses_in])
            right_out = guesses_out - int(below[guesses_out])
            correct[run, column] = right_in + right_out
    best: GuessDesign | None = None
    for column, k in enumerate(choices):
        median = int(np.floor(np.median(correct[:, column])))
        bound = bounds[method](canaries, k, median, delta=delta, beta=beta)
        if best is None or bound > best.expected_lower_bound:
            best = GuessDesign(k, bound, simulations)
    assert best is not None
    return best


def _simulated_scores(
    included: Mask,
    steps: int,
    rate: float,
    noise_multiplier: float,
    score: Score,
    rng: np.random.Generator,
) -> npt.NDArray[np.float64]:
    """Scores of a correct trainer's canaries, in units of C."""
    m = len(included)
    if score == "sum":
        sampled = rng.binomial(steps, rate, size=m) * included
        noise = rng.normal(0.0, noise_multiplier * math.sqrt(steps), size=m)
        out: npt.NDArray[np.float64] = sampled + noise
        return out
    total = np.zeros(m, dtype=np.float64)
    for _ in range(steps):
        x = (rng.random(m) < rate) * included + rng.normal(0.0, noise_multiplier, size=m)
        total += _step_log_likelihood_ratio(x, noise_multiplier, rate)
    return total


# --- direct checks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoiseStdCheck:
    """Is the noise on the untouched coordinates N(0, (σC)²) with the claimed σ·C?"""

    observed: float
    """√(Σx²/N): the maximum-likelihood standard deviation (the mean is known to be 0)."""
    claimed: float
    low: float
    high: float
    """Exact two-sided 1 − level confidence interval for the standard deviation."""
    ok: bool
    observations: int
    level: float


def noise_std_check(
    sum_squares: float, observations: int, claimed: float, level: float
) -> NoiseStdCheck:
    """χ² interval for the std of N zero-mean Gaussian draws with Σx² = ``sum_squares``:
    Σx²/s² ~ χ²(N), so [√(Σx²/χ²_{N,1−level/2}), √(Σx²/χ²_{N,level/2})] covers s with probability
    1 − level (e.g. Casella & Berger, Statistical Inference, 2nd ed., Example 9.2.10)."""
    from scipy import stats

    _check_level(level)
    require_count(observations, "observations")
    low = math.sqrt(sum_squares / float(stats.chi2.ppf(1 - level / 2, observations)))
    high = math.sqrt(sum_squares / float(stats.chi2.ppf(level / 2, observations)))
    return NoiseStdCheck(
        observed=math.sqrt(sum_squares / observations),
        claimed=float(claimed),
        low=low,
        high=high,
        ok=low <= claimed <= high,
        observations=observations,
        level=level,
    )


@dataclass(frozen=True)
class ContributionCheck:
    """Does each sampling of an included canary add C (its clipped norm) to its coordinate?"""

    observed: float
    """Σ over included canaries of the summed observations / times they were sampled."""
    claimed: float
    low: float
    high: float
    """Exact two-sided 1 − level confidence interval for the contribution per sampling."""
    p_value: float
    ok: bool
    sampled: int
    level: float


def contribution_check(
    included_sum: float,
    sampled: int,
    *,
    clip_norm: float,
    noise_std: float,
    observations: int,
    level: float,
) -> ContributionCheck:
    """z-test of ``included_sum`` = c·``sampled`` + N(0, ``noise_std``²·``observations``)
    against c = ``clip_norm`` (observations = included canaries × steps)."""
    from scipy import stats

    _check_level(level)
    if sampled == 0:
        # No canary was ever sampled: nothing was added, nothing to compare.
        return ContributionCheck(0.0, float(clip_norm), 0.0, 0.0, 1.0, True, 0, level)
    spread = noise_std * math.sqrt(observations) / sampled  # std of the estimate
    observed = included_sum / sampled
    z = float(stats.norm.isf(level / 2))
    p_value = float(2 * stats.norm.sf(abs(observed - clip_norm) / spread))
    return ContributionCheck(
        observed=observed,
        claimed=float(clip_norm),
        low=observed - z * spread,
        high=observed + z * spread,
        p_value=p_value,
        ok=p_value >= level,
        sampled=sampled,
        level=level,
    )


@dataclass(frozen=True)
class SamplingRateCheck:
    """Were included canaries sampled at the rate q the accountant was told?"""

    observed: float
    """Times an included canary was sampled / (included canaries × steps)."""
    claimed: float
    p_value: float
    """Exact two-sided binomial test of Binomial(trials, q)."""
    ok: bool
    sampled: int
    trials: int
    level: float


def sampling_rate_check(
    sampled: int, trials: int, claimed: float, level: float
) -> SamplingRateCheck:
    """Exact binomial test (Clopper–Pearson's family; scipy's ``binomtest``, two-sided by the
    likelihood of outcomes) of ``sampled`` successes in ``trials`` against rate ``claimed``."""
    from scipy import stats

    _check_level(level)
    if not (is_integer(trials) and trials >= 0 and is_integer(sampled) and 0 <= sampled <= trials):
        raise InputError(
            ARGUMENT,
            "sampled",
            f"expected 0 <= sampled <= trials; found {sampled!r} of {trials!r}",
        )
    if trials == 0:
        # No included canary: nothing was sampled and nothing can be wrong.
        return SamplingRateCheck(0.0, float(claimed), 1.0, True, 0, 0, level)
    p_value = float(stats.binomtest(sampled, trials, claimed).pvalue)
    return SamplingRateCheck(
        observed=sampled / trials,
        claimed=float(claimed),
        p_value=p_value,
        ok=p_value >= level,
        sampled=sampled,
        trials=trials,
        level=level,
    )


def _check_level(level: float) -> None:
    require(is_finite(level) and 0 < level < 1, "level", "must be in (0, 1)", level)
