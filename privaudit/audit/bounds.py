"""Lower bounds on ε from a privacy audit, in one training run or over many.

One-run audit [SNJ23]. m canaries are each included in the training data independently with
probability 1/2; after training, an auditor who sees the model (or its gradients) but not the
coin flips guesses "in" or "out" for r of them and abstains on the rest. If the training
algorithm is (ε, δ)-DP with respect to each canary, it cannot guess much better than ε-DP
randomized response would, so many correct guesses refute the claim. Every bound here is a
statistical lower bound: except with probability β over the coin flips and the training
randomness, the algorithm is not (ε, δ)-DP for any ε below the returned value.

Two analyses of the same count of correct guesses:

- ``one_run`` [SNJ23]: refutes (ε, δ)-DP directly. The null hypothesis is a set of mechanisms,
  so the bound holds whatever the audited mechanism is.
- ``one_run_fdp`` [MMC24]: refutes μ-Gaussian DP [DRS22] and reports the ε at δ of the largest
  refuted Gaussian trade-off curve. It is tighter, but it only refutes Gaussian curves: an
  algorithm that is (ε, δ)-DP without being GDP at that ε (randomized response, for one) can
  exceed it. Use it for mechanisms whose privacy claim is a Gaussian curve (the Gaussian
  mechanism, DP-SGD and DP-FedAvg accounted by PLD or GDP), never to refute a generic (ε, δ).

Multi-run audit [JUO20; NSTPC21]: n independent training runs, each with the target record in
or out, and a threshold test on the attack score; Clopper–Pearson [CP34] upper bounds on the
false-positive and false-negative rates turn the hypothesis-testing view of DP [KOV15] into ε.

Semantics of β. Each bound is the supremum of the ε whose claim the observation rejects at
level β; since (ε, δ)-DP implies (ε', δ)-DP for ε' > ε, rejecting ε' also refutes every smaller ε.
Bisection keeps the rejected end, so the returned value is itself rejected (never rounded up).

References:
  [SNJ23]  Steinke, Nasr & Jagielski 2023, "Privacy Auditing with One (1) Training Run",
           NeurIPS 2023, arXiv:2305.08846.
  [MMC24]  Mahloujifar, Melis & Chaudhuri 2024, "Auditing f-Differential Privacy in One Run",
           arXiv:2410.22235 (ICML 2025); reference code: facebookresearch/PrivacyGuard,
           privacy_guard/analysis/mia/fdp_analysis_node.py (``rh_with_cap``,
           ``audit_rh_with_cap``).
  [DRS22]  Dong, Roth & Su 2022, "Gaussian Differential Privacy", JRSS B, arXiv:1905.02383.
  [KOV15]  Kairouz, Oh & Viswanath 2015, "The Composition Theorem for Differential Privacy",
           ICML 2015.
  [JUO20]  Jagielski, Ullman & Oprea 2020, "Auditing Differentially Private Machine Learning:
           How Private is Private SGD?", NeurIPS 2020.
  [NSTPC21] Nasr, Song, Thakurta, Papernot & Carlini 2021, "Adversary Instantiation: Lower Bounds
           for Differentially Private Machine Learning", IEEE S&P 2021.
  [CP34]   Clopper & Pearson 1934, "The use of confidence or fiducial limits illustrated in the
           case of the binomial", Biometrika 26(4).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from privaudit.checks import ARGUMENT, is_finite, require, require_count, require_unit_interval
from privaudit.errors import InputError, describe_value

__all__ = [
    "METHODS",
    "AuditBound",
    "audit_from_scores",
    "clopper_pearson_epsilon_lower_bound",
    "default_guess_counts",
    "one_run_epsilon_lower_bound",
    "one_run_fdp_epsilon_lower_bound",
    "scaled_fdp_epsilon",
]

METHODS: Final = ("one_run", "one_run_fdp", "clopper_pearson")


_BISECTION_STEPS = 40
"""Halvings after the bracket [2^(a−1), 2^a] is found: ε (or μ) to 2^(a−41), ~1e-12 relative."""

_SEARCH_CAP = 2.0**20
"""Bracket doubling stops here. Never reached in practice: the one-run p-value is 1 once
e^ε/(1 + e^ε) rounds to 1 (ε ≈ 37), and a Gaussian curve with μ ≳ 40 is never refuted."""

_ONE_RUN_DIVISORS = (100, 50, 20, 10, 5, 2, 1)
"""Default one-run guess counts k = ⌊m/d⌋: from the most confident 1% of canaries to all."""

_CLOPPER_PEARSON_DIVISORS = (100, 50, 20, 10, 5, 2)
"""Default threshold positions for the multi-run audit: ⌊m/d⌋ and m − ⌊m/d⌋ runs guessed "in"."""


@dataclass(frozen=True)
class AuditBound:
    """An ε lower bound and the guesses it was computed from."""

    epsilon_lower_bound: float
    """The algorithm is not (ε, δ)-DP for ε below this, at ``confidence``; 0.0 claims nothing."""
    confidence: float
    """1 − β overall: each of the ``candidates`` guess counts was tested at β / candidates."""
    method: str
    """``one_run``, ``one_run_fdp`` or ``clopper_pearson``."""
    canaries: int
    """m: canaries in the one run, or independent runs for ``clopper_pearson``."""
    guesses: int
    """Canaries (runs) given a guess at the chosen guess count; the rest were abstained on."""
    correct: int
    """Guesses that matched the truth (TP + TN for ``clopper_pearson``)."""
    guesses_in: int
    """Guesses of "included": the highest-scoring canaries."""
    guesses_out: int
    """Guesses of "excluded": the lowest-scoring canaries."""
    candidates: int
    """Guess counts tried (union bound over them)."""


# ---------------------------------------------------------------------------------------------
# One run, (ε, δ)-DP [SNJ23]
# ---------------------------------------------------------------------------------------------


def one_run_epsilon_lower_bound(
    canaries: int, guesses: int, correct: int, *, delta: float, beta: float = 0.05
) -> float:
    """ε lower bound of a one-run audit [SNJ23]: ``correct`` right out of ``guesses`` guesses.

    With W ~ Binomial(r, e^ε/(1 + e^ε)), r = ``guesses``, m = ``canaries``, v = ``correct``,
    an (ε, δ)-DP algorithm lets any auditor reach v correct guesses with probability at most
    ([SNJ23] Thm. 3.1, (ε, δ) case, in the form App. D's ``p_value_DP_audit`` evaluates)

        p(ε) = P[W ≥ v] + 2mδ · max_{1≤i≤v} P[v − i ≤ W ≤ v − 1] / i.

    Returns sup{ε ≥ 0 : p(ε) < β} ([SNJ23] App. D ``get_eps_audit``), 0.0 when even ε = 0 is
    not rejected. The guesses must be a function of the trained model alone and their number
    ``guesses`` fixed before looking at it (or paid for with a union bound, as
    :func:`audit_from_scores` does).
    """
    m, r, v = _guess_counts(canaries, guesses, correct)
    return _one_run_epsilon(m, r, v, _delta(delta), _beta(beta))


@functools.lru_cache(maxsize=4096)
def _one_run_epsilon(m: int, r: int, v: int, delta: float, beta: float) -> float:
    # Cached: audits and simulations ask for the same (m, r, v) over and over.
    if v == 0:
        return 0.0
    p_value = _OneRunPValue(m, r, v, delta)
    return _largest_rejected(lambda epsilon: p_value(epsilon) < beta)


class _OneRunPValue:
    """[SNJ23] Thm. 3.1's bound p(ε) for fixed (m, r, v ≥ 1, δ), as a function of ε."""

    def __init__(self, m: int, r: int, v: int, delta: float) -> None:
        self._r = r
        self._v = v
        self._delta_weight = 2.0 * m * delta
        # The δ term's windows [v − i, v − 1] grow downwards from v − 1, so its pmf runs
        # v − 1, v − 2, …, 0 and a cumulative sum gives every window at once. The log binomial
        # coefficients do not depend on ε; keep them across the bisection.
        self._k = np.arange(v - 1, -1, -1, dtype=np.float64)
        self._window = np.arange(1, v + 1, dtype=np.float64)
        self._log_choose = (
            special.gammaln(r + 1.0)
            - special.gammaln(self._k + 1.0)
            - special.gammaln(r - self._k + 1.0)
        )

    def __call__(self, epsilon: float) -> float:
        q = float(special.expit(epsilon))
        tail = float(special.bdtrc(self._v - 1, self._r, q))  # P[W > v − 1] = P[W ≥ v]
        if self._delta_weight == 0.0:
            return min(tail, 1.0)
        # pmf in log space: C(r, k) overflows and q^k (1 − q)^(r−k) underflows for r in the
        # thousands; log q = −log(1 + e^−ε) and log(1 − q) = −log(1 + e^ε) stay finite.
        log_q = -float(np.logaddexp(0.0, -epsilon))
        log_not_q = -float(np.logaddexp(0.0, epsilon))
        pmf = np.exp(self._log_choose + self._k * log_q + (self._r - self._k) * log_not_q)
        alpha = float(np.max(np.cumsum(pmf) / self._window))
        return min(tail + self._delta_weight * alpha, 1.0)


# ---------------------------------------------------------------------------------------------
# One run, Gaussian f-DP [MMC24]
# ---------------------------------------------------------------------------------------------


def one_run_fdp_epsilon_lower_bound(
    canaries: int, guesses: int, correct: int, *, delta: float, beta: float = 0.05
) -> float:
    """ε at ``delta`` of the largest Gaussian-DP curve a one-run audit refutes [MMC24].

    The null hypothesis is "μ-GDP in each canary" (G_μ-DP with G_μ = T(N(0, 1), N(μ, 1));
    [DRS22] Def. 2.6). Its inverse blow-up function ([MMC24]; f̄(x) = 1 − f(x) bounds how much
    an event of probability x can grow when one canary flips) is f̄⁻¹(y) = Φ(Φ⁻¹(y) − μ). With
    τ = β, m = ``canaries``, k = ``guesses``, c = ``correct``, [MMC24]'s bound for guessing
    games with abstention (the recursion of the authors' ``rh_with_cap`` / ``audit_rh_with_cap``,
    alphabet size 2) is

        r_c = τ·c/m,  h_c = τ·(k − c)/m,
        for i = c − 1, …, 0:  h_i = max(h_{i+1}, f̄⁻¹(r_{i+1})),
                              r_i = r_{i+1} + i/(k − i) · (h_i − h_{i+1}),

    and under f-DP, P[≥ c correct] ≥ τ forces r_0 + h_0 ≤ k/m (how the reference code applies
    the theorem); so r_0 + h_0 > k/m rejects μ at level β. μ_lb = sup of the rejected μ
    (bisection; rejection is monotone in μ because f̄⁻¹ falls as μ grows), converted to ε at δ
    by [DRS22] Cor. 2.13 (see :func:`_gdp_epsilon`).

    The result refutes Gaussian curves only; see the module docstring. ``delta`` must be > 0:
    every μ > 0 has ε = ∞ at δ = 0.
    """
    m, k, c = _guess_counts(canaries, guesses, correct)
    delta = _delta(delta)
    if delta == 0.0:
        raise InputError(
            ARGUMENT,
            "delta",
            "expected 0 < delta < 1 (a Gaussian curve has ε = ∞ at δ = 0); found 0",
        )
    return _gdp_epsilon(_one_run_fdp_mu(m, k, c, _beta(beta)), delta)


@functools.lru_cache(maxsize=4096)
def _one_run_fdp_mu(m: int, k: int, c: int, beta: float) -> float:
    # Cached like _one_run_epsilon; μ does not depend on δ, only its conversion to ε does.
    if c == 0:
        return 0.0
    return _largest_rejected(lambda mu: _fdp_rejects(mu, m, k, c, beta))


def _fdp_rejects(mu: float, m: int, k: int, c: int, tau: float) -> bool:
    """[MMC24]'s abstention recursion for G_μ: True if c of k correct rejects μ-GDP at τ."""
    r = tau * c / m
    h = tau * (k - c) / m
    for i in range(c - 1, -1, -1):
        blown_down = float(special.ndtr(special.ndtri(r) - mu))  # f̄⁻¹(r) for G_μ
        if blown_down <= h:
            # h_i = h_{i+1}, so r_i = r_{i+1}: a fixed point the remaining steps never leave.
            break
        # Capping r at 1 (as jax_privacy's port does) keeps Φ⁻¹ defined; it can only lower the
        # later terms, so the test rejects less, never more.
        r = min(r + i / (k - i) * (blown_down - h), 1.0)
        h = blown_down
    return r + h > k / m


def scaled_fdp_epsilon(
    canaries: int, guesses: int, correct: int, delta: float, beta: float, mu_scale: float
) -> float:
    """ε at ``delta`` of μ_lb·``mu_scale``, μ_lb the largest Gaussian-DP μ the counts refute.

    A mechanism whose trade-off lies above G_μd (μd ≥ μ* the claim's μ) is refuted at level β
    only when μ_lb > μd; with ``mu_scale`` = μ*/μd ≤ 1, μ_lb·μ*/μd > μ* exactly then, so the
    scaled bound exceeds the claimed ε no more often than β (see :mod:`privaudit.audit.premise`).
    Refuting G_μ refutes every G_μ' with μ' < μ, so the scaled value is a valid, smaller, bound.
    """
    m, k, c = _guess_counts(canaries, guesses, correct)
    require(is_finite(mu_scale) and 0 < mu_scale <= 1, "mu_scale", "must be in (0, 1]", mu_scale)
    return _gdp_epsilon(_one_run_fdp_mu(m, k, c, _beta(beta)) * mu_scale, _delta(delta))


def _gdp_epsilon(mu: float, delta: float) -> float:
    """ε at δ of μ-GDP, rounded down: sup{ε : δ_μ(ε) > δ} ([DRS22] Cor. 2.13)."""
    if mu == 0.0:
        return 0.0
    log_delta = math.log(delta)
    return _largest_rejected(lambda epsilon: _gdp_log_delta(mu, epsilon) > log_delta)


def _gdp_log_delta(mu: float, epsilon: float) -> float:
    """log δ_μ(ε), δ_μ(ε) = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2) ([DRS22] Cor. 2.13)."""
    # In log space: for large ε both terms underflow while their ratio stays near 1, and e^ε
    # alone overflows; log Φ keeps each term and log1p(−e^(b−a)) their difference.
    log_first = float(special.log_ndtr(-epsilon / mu + mu / 2.0))
    log_second = epsilon + float(special.log_ndtr(-epsilon / mu - mu / 2.0))
    if log_second >= log_first:
        return -math.inf
    return log_first + math.log1p(-math.exp(log_second - log_first))


# ---------------------------------------------------------------------------------------------
# Many runs, Clopper–Pearson [JUO20; NSTPC21]
# ---------------------------------------------------------------------------------------------


def clopper_pearson_epsilon_lower_bound(
    false_positives: int,
    true_negatives: int,
    false_negatives: int,
    true_positives: int,
    *,
    delta: float,
    beta: float = 0.05,
) -> float:
    """ε lower bound of a multi-run audit from a threshold test's confusion matrix.

    Each count is over independent training runs: positives had the target record in, negatives
    out. (ε, δ)-DP forces every test to satisfy FPR + e^ε·FNR ≥ 1 − δ and e^ε·FPR + FNR ≥ 1 − δ
    ([KOV15] Thm. 2.1), so with Clopper–Pearson upper bounds FPR_hi, FNR_hi ([CP34]), each at
    confidence 1 − β/2 (both hold together with probability ≥ 1 − β),

        ε_lb = max(log((1 − δ − FNR_hi)/FPR_hi), log((1 − δ − FPR_hi)/FNR_hi), 0)

    as in [JUO20] and [NSTPC21].
    """
    fp = _count("false_positives", false_positives)
    tn = _count("true_negatives", true_negatives)
    fn = _count("false_negatives", false_negatives)
    tp = _count("true_positives", true_positives)
    delta = _delta(delta)
    beta = _beta(beta)
    fpr_hi = _clopper_pearson_upper(fp, fp + tn, beta / 2.0)
    fnr_hi = _clopper_pearson_upper(fn, fn + tp, beta / 2.0)
    return max(
        _log_ratio(1.0 - delta - fnr_hi, fpr_hi), _log_ratio(1.0 - delta - fpr_hi, fnr_hi), 0.0
    )


def _clopper_pearson_upper(successes: int, trials: int, alpha: float) -> float:
    """One-sided Clopper–Pearson upper bound: P[Bin(n, p) ≤ x] ≤ α for every p above it [CP34]."""
    if successes >= trials:
        return 1.0
    if successes == 0:
        # Closed form of the Beta(1, n) quantile, 1 − α^(1/n); expm1 keeps it accurate when it
        # is tiny (large n), where 1 − α^(1/n) would cancel.
        return -math.expm1(math.log(alpha) / trials)
    # isf(α) rather than ppf(1 − α): no rounding of 1 − α for small α.
    return float(stats.beta.isf(alpha, successes + 1, trials - successes))


def _log_ratio(numerator: float, denominator: float) -> float:
    # Both may be tiny (FPR_hi ~ 1e-6 with many runs): take logs, never the ratio.
    if numerator <= 0.0:
        return -math.inf
    return math.log(numerator) - math.log(denominator)


# ---------------------------------------------------------------------------------------------
# From attack scores
# ---------------------------------------------------------------------------------------------


def audit_from_scores(
    scores: npt.ArrayLike,
    included: npt.ArrayLike,
    *,
    delta: float,
    beta: float = 0.05,
    method: str = "one_run",
    guess_counts: Sequence[int] | None = None,
    mu_scale: float = 1.0,
) -> AuditBound:
    """Turn attack scores into the best ε lower bound over a few guess counts.

    ``scores[j]`` is the attack's score for canary j (higher = more likely included) and
    ``included[j]`` the truth, revealed to the auditor after training. For each guess count k:

    - ``one_run`` / ``one_run_fdp``: the ⌊k/2⌋ highest scores are guessed "in", the k − ⌊k/2⌋
      lowest "out", the rest abstained on; default k ∈ {⌊m/d⌋ : d = 100, 50, 20, 10, 5, 2, 1}
      (values below 1 raised to 1, duplicates dropped).
    - ``clopper_pearson``: each entry must come from its own, independent training run (the
      canaries of one run are not independent trials; use a one-run method for them); the k
      highest scores are guessed "in" and the other m − k "out" (a threshold test, no
      abstention); default k ∈ {⌊m/d⌋, m − ⌊m/d⌋ : d = 100, 50, 20, 10, 5, 2} ∩ [1, m − 1].

    Each k's bound is computed at β / (number of k) (union bound) and the largest is returned;
    a single ``guess_counts`` value, fixed before seeing the scores, pays no penalty.
    ``one_run_fdp`` refutes Gaussian curves only (see the module docstring); its refuted μ is
    multiplied by ``mu_scale`` ≤ 1 before conversion to ε (:func:`scaled_fdp_epsilon`).

    Ties are broken against the auditor: among equal scores, excluded canaries rank above
    included ones. The count this gives is never above what any label-blind tie-break gives,
    so the bound stays valid even when the input order reveals membership (in-scores listed
    before out-scores, say).
    """
    score_array, truth = _scores_and_truth(scores, included)
    m = len(score_array)
    if method not in METHODS:
        raise InputError(
            ARGUMENT,
            "method",
            f"expected one of {', '.join(METHODS)}; found {describe_value(method)}",
        )
    delta = _delta(delta)
    beta = _beta(beta)
    require(is_finite(mu_scale) and 0 < mu_scale <= 1, "mu_scale", "must be in (0, 1]", mu_scale)
    if method == "one_run_fdp" and delta == 0.0:
        raise InputError(
            ARGUMENT,
            "delta",
            "expected 0 < delta < 1 (a Gaussian curve has ε = ∞ at δ = 0); found 0",
        )
    counts = default_guess_counts(m, method) if guess_counts is None else _explicit(guess_counts, m)
    beta_each = beta / len(counts)

    # Ascending score, included before excluded within a tie: the pessimistic order above.
    order = np.lexsort((np.where(truth, 0, 1), score_array))
    ranked = truth[order]
    included_below = np.concatenate(([0], np.cumsum(ranked)))  # included among the j lowest
    n_in = int(included_below[-1])

    best: AuditBound | None = None
    for k in counts:
        if method == "clopper_pearson":
            tp = n_in - int(included_below[m - k])
            fp = k - tp
            fn = n_in - tp
            tn = (m - n_in) - fp
            epsilon = clopper_pearson_epsilon_lower_bound(
                fp, tn, fn, tp, delta=delta, beta=beta_each
            )
            guesses, correct, guesses_in, guesses_out = m, tp + tn, k, m - k
        else:
            guesses_in = k // 2
            guesses_out = k - guesses_in
            correct_in = n_in - int(included_below[m - guesses_in])
            correct_out = guesses_out - int(included_below[guesses_out])
            guesses, correct = k, correct_in + correct_out
            if method == "one_run":
                epsilon = _one_run_epsilon(m, k, correct, delta, beta_each)
            else:
                mu = _one_run_fdp_mu(m, k, correct, beta_each) * mu_scale
                epsilon = _gdp_epsilon(mu, delta)
        # ">=": on a tie the larger guess count (k ascends) is reported.
        if best is None or epsilon >= best.epsilon_lower_bound:
            best = AuditBound(
                epsilon_lower_bound=epsilon,
                confidence=1.0 - beta,
                method=method,
                canaries=m,
                guesses=guesses,
                correct=correct,
                guesses_in=guesses_in,
                guesses_out=guesses_out,
                candidates=len(counts),
            )
    assert best is not None  # counts is never empty
    return best


def default_guess_counts(m: int, method: str) -> list[int]:
    """The guess counts :func:`audit_from_scores` tries when given none."""
    if method == "clopper_pearson":
        positions = {m // d for d in _CLOPPER_PEARSON_DIVISORS}
        positions |= {m - m // d for d in _CLOPPER_PEARSON_DIVISORS}
        inside = sorted(k for k in positions if 1 <= k <= m - 1)
        return inside or [m // 2]  # m = 1: no informative threshold; one that claims nothing
    return sorted({max(1, m // d) for d in _ONE_RUN_DIVISORS})


def _explicit(guess_counts: Sequence[int], m: int) -> list[int]:
    if isinstance(guess_counts, np.ndarray) and guess_counts.ndim == 1:
        guess_counts = guess_counts.tolist()
    if isinstance(guess_counts, str | bytes) or not isinstance(guess_counts, Sequence):
        raise InputError(
            ARGUMENT,
            "guess_counts",
            f"expected a sequence of integers; found {describe_value(guess_counts)}",
        )
    counts: set[int] = set()
    for index, value in enumerate(guess_counts):
        k = _count(f"guess_counts[{index}]", value)
        if k > m:
            raise InputError(
                ARGUMENT,
                f"guess_counts[{index}]",
                f"expected at most {m} (the canaries); found {k}",
            )
        counts.add(k)
    if not counts:
        raise InputError(ARGUMENT, "guess_counts", "expected at least one guess count; found none")
    return sorted(counts)


# ---------------------------------------------------------------------------------------------
# Search and validation
# ---------------------------------------------------------------------------------------------


def _largest_rejected(rejects: Callable[[float], bool]) -> float:
    """sup{x ≥ 0 : rejects(x)} for a rejection region [0, x*), rounded down.

    The bracket is [0, 1] or [2^(a−1), 2^a] and the bisection always runs the same number of
    steps, so the answer is x* rounded down onto a fixed dyadic grid: a larger x* never gives
    a smaller answer, and the answer is itself rejected.
    """
    if not rejects(0.0):
        return 0.0
    low, high = 0.0, 1.0
    while rejects(high):
        low, high = high, 2.0 * high
        if high > _SEARCH_CAP:
            return low
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if rejects(middle):
            low = middle
        else:
            high = middle
    return low


def _guess_counts(canaries: Any, guesses: Any, correct: Any) -> tuple[int, int, int]:
    m = _count("canaries", canaries)
    r = _count("guesses", guesses)
    v = _count("correct", correct)
    if r > m:
        raise InputError(ARGUMENT, "guesses", f"expected at most canaries = {m}; found {r}")
    if v > r:
        raise InputError(ARGUMENT, "correct", f"expected at most guesses = {r}; found {v}")
    return m, r, v


def _count(name: str, value: Any) -> int:
    require_count(value, name, minimum=0)
    return int(value)


def _beta(value: Any) -> float:
    require(is_finite(value) and 0 < value < 1, "beta", "must be in (0, 1)", value)
    return float(value)


def _delta(value: Any) -> float:
    require_unit_interval(value, "delta")
    return float(value)


def _scores_and_truth(
    scores: npt.ArrayLike, included: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    raw_scores = np.asarray(scores)
    if raw_scores.ndim != 1 or raw_scores.dtype.kind not in "biuf":
        raise InputError(
            ARGUMENT,
            "scores",
            f"expected a 1-D array of real numbers; found shape {raw_scores.shape}, "
            f"dtype {raw_scores.dtype}",
        )
    score_array = raw_scores.astype(np.float64)
    if len(score_array) == 0:
        raise InputError(ARGUMENT, "scores", "expected at least one canary; found none")
    bad = np.flatnonzero(~np.isfinite(score_array))
    if len(bad):
        raise InputError(
            ARGUMENT,
            f"scores[{bad[0]}]",
            f"expected a finite number; found {describe_value(float(score_array[bad[0]]))}",
        )
    raw_truth = np.asarray(included)
    if raw_truth.ndim != 1 or raw_truth.dtype.kind not in "biu":
        raise InputError(
            ARGUMENT,
            "included",
            f"expected a 1-D array of booleans; found shape {raw_truth.shape}, "
            f"dtype {raw_truth.dtype}",
        )
    if raw_truth.dtype.kind != "b":
        off = np.flatnonzero((raw_truth != 0) & (raw_truth != 1))
        if len(off):
            raise InputError(
                ARGUMENT,
                f"included[{off[0]}]",
                f"expected a boolean (or 0/1); found {describe_value(raw_truth[off[0]].item())}",
            )
    if len(raw_truth) != len(score_array):
        raise InputError(
            ARGUMENT,
            "included",
            f"expected {len(score_array)} entries (one per score); found {len(raw_truth)}",
        )
    return score_array, raw_truth.astype(np.bool_)
