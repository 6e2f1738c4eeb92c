"""ε lower bounds of privacy audits against their definitions, simulations and hand computations.

Soundness tests simulate mechanisms whose privacy is known exactly and check that a bound above
the truth happens in at most a β fraction of trials (plus three binomial standard errors of the
trial count). Randomized response with ε0 is the worst case of ε0-DP for one canary: any
auditor's guess is right with probability e^ε0/(1 + e^ε0) at most, and exactly that here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize, special, stats

from privaudit.audit.bounds import (
    AuditBound,
    audit_from_scores,
    clopper_pearson_epsilon_lower_bound,
    one_run_epsilon_lower_bound,
    one_run_fdp_epsilon_lower_bound,
)
from privaudit.errors import InputError
from tests.accounting.oracles import gaussian_epsilon

BETA = 0.05
DELTA = 1e-5
TRIALS = 400
CANARIES = 1000
# A bound above the truth may happen in a β fraction of trials; allow 3 binomial standard errors.
ALLOWED_EXCEEDANCE = BETA + 3 * math.sqrt(BETA * (1 - BETA) / TRIALS)


def _mu_for_epsilon(epsilon: float, delta: float = DELTA) -> float:
    """μ of the Gaussian mechanism whose exact ε at δ is ``epsilon`` (independent oracle)."""
    return float(
        optimize.brentq(lambda mu: gaussian_epsilon(delta, mu) - epsilon, 1e-3, 20.0, xtol=1e-13)
    )


def _exceedance(bounds: list[float], truth: float) -> float:
    return sum(bound > truth for bound in bounds) / len(bounds)


def _randomized_response_counts(epsilon0: float, guesses: int, seed: int) -> list[int]:
    """Correct guesses per trial when every guess is right with probability e^ε0/(1 + e^ε0)."""
    rng = np.random.default_rng(seed)
    return [int(x) for x in rng.binomial(guesses, special.expit(epsilon0), size=TRIALS)]


def _gaussian_canaries(
    mu: float, rng: np.random.Generator, m: int = CANARIES
) -> tuple[np.ndarray, np.ndarray]:
    """One run of the μ-GDP canary mechanism: score_j ~ N(μ·[j included], 1)."""
    included = rng.random(m) < 0.5
    return rng.normal(mu * included, 1.0), included


def _top_bottom_correct(scores: np.ndarray, included: np.ndarray, guesses: int) -> int:
    order = np.argsort(scores)
    top = order[len(scores) - guesses // 2 :]
    bottom = order[: guesses - guesses // 2]
    return int(included[top].sum() + (~included[bottom]).sum())


def _app_d_epsilon(m: int, r: int, v: int, delta: float, beta: float) -> float:
    """[SNJ23] App. D's ``p_value_DP_audit`` and ``get_eps_audit``, transcribed as printed
    (loop over windows, scipy.stats, 30 bisection steps): the oracle for our vectorised port."""

    def p_value(epsilon: float) -> float:
        q = 1 / (1 + math.exp(-epsilon))
        tail = stats.binom.sf(v - 1, r, q)
        alpha = 0.0
        total = 0.0
        for i in range(1, v + 1):
            total += stats.binom.pmf(v - i, r, q)
            if total > i * alpha:
                alpha = total / i
        return float(min(tail + alpha * delta * 2 * m, 1))

    low, high = 0.0, 1.0
    while p_value(high) < beta:
        high += 1
    for _ in range(30):
        middle = (low + high) / 2
        if p_value(middle) < beta:
            low = middle
        else:
            high = middle
    return low


# ---------------------------------------------------------------------------------------------
# One run, (ε, δ)-DP [SNJ23]
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("m", "r", "v", "delta", "beta"),
    [
        (1000, 100, 75, 1e-4, 0.05),
        (1000, 1000, 731, 1e-5, 0.05),
        (200, 40, 33, 1e-3, 0.1),
        (50, 50, 50, 0.0, 0.05),
        (5000, 300, 240, 1e-6, 0.01),
    ],
)
def test_one_run_matches_appendix_d(m: int, r: int, v: int, delta: float, beta: float) -> None:
    # App. D stops after 30 halvings of [⌊ε⌋, ⌊ε⌋ + 1], so it sits up to 2^-30 below ours.
    expected = _app_d_epsilon(m, r, v, delta, beta)
    got = one_run_epsilon_lower_bound(m, r, v, delta=delta, beta=beta)
    assert expected <= got <= expected + 2e-9


@pytest.mark.parametrize(
    ("m", "r", "v", "delta", "published"),
    [
        # Values printed in arXiv:2305.08846v1: App. D's worked example (p. 46) and a point of
        # Sec. 7 (p. 28), as transcribed in the third-party port quoted in the report.
        (1000, 100, 75, 1e-4, 0.673),
        (100_000, 1510, 1439, 1e-5, 2.675),
    ],
)
def test_one_run_reproduces_published_values(
    m: int, r: int, v: int, delta: float, published: float
) -> None:
    got = one_run_epsilon_lower_bound(m, r, v, delta=delta, beta=0.05)
    assert got == pytest.approx(published, abs=1e-3)


@pytest.mark.parametrize("epsilon0", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("delta", [0.0, DELTA])
def test_one_run_is_sound_against_randomized_response(epsilon0: float, delta: float) -> None:
    counts = _randomized_response_counts(epsilon0, CANARIES, seed=int(10 * epsilon0))
    bounds = [
        one_run_epsilon_lower_bound(CANARIES, CANARIES, v, delta=delta, beta=BETA) for v in counts
    ]
    assert _exceedance(bounds, epsilon0) <= ALLOWED_EXCEEDANCE
    # Not vacuous: the typical bound recovers a good part of ε0.
    assert float(np.median(bounds)) > 0.5 * epsilon0


@pytest.mark.parametrize("epsilon", [1.0, 4.0])
def test_one_run_is_sound_against_the_gaussian_mechanism(epsilon: float) -> None:
    # The μ-GDP mechanism is (ε_μ(δ), δ)-DP, so the (ε, δ) audit must respect ε_μ(δ) too.
    mu = _mu_for_epsilon(epsilon)
    rng = np.random.default_rng(7)
    bounds = []
    for _ in range(TRIALS):
        scores, included = _gaussian_canaries(mu, rng)
        correct = _top_bottom_correct(scores, included, 200)
        bounds.append(one_run_epsilon_lower_bound(CANARIES, 200, correct, delta=DELTA, beta=BETA))
    assert _exceedance(bounds, epsilon) <= ALLOWED_EXCEEDANCE


def test_one_run_power_at_epsilon_4() -> None:
    counts = _randomized_response_counts(4.0, CANARIES, seed=4)
    bounds = [
        one_run_epsilon_lower_bound(CANARIES, CANARIES, v, delta=DELTA, beta=BETA) for v in counts
    ]
    assert min(bounds) > 2.0
    assert float(np.median(bounds)) > 3.4  # ~90% of ε0 = 4 with 1000 canaries


def test_one_run_all_correct_grows_with_canaries() -> None:
    # ε0 → ∞: every guess right. More canaries, more evidence; the δ term caps the growth.
    bounds = [one_run_epsilon_lower_bound(m, m, m, delta=DELTA) for m in (10, 100, 1000, 10_000)]
    assert all(later > earlier for earlier, later in itertools.pairwise(bounds))
    assert bounds[0] > 1.0
    assert bounds[-1] > 7.5


# ---------------------------------------------------------------------------------------------
# One run, Gaussian f-DP [MMC24]
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("epsilon", [1.0, 2.0, 4.0])
@pytest.mark.parametrize("guesses", [CANARIES, 100])
def test_one_run_fdp_is_sound_against_the_gaussian_mechanism(epsilon: float, guesses: int) -> None:
    mu = _mu_for_epsilon(epsilon)
    rng = np.random.default_rng(int(100 * epsilon) + guesses)
    bounds = []
    for _ in range(TRIALS):
        scores, included = _gaussian_canaries(mu, rng)
        correct = _top_bottom_correct(scores, included, guesses)
        bounds.append(
            one_run_fdp_epsilon_lower_bound(CANARIES, guesses, correct, delta=DELTA, beta=BETA)
        )
    assert _exceedance(bounds, epsilon) <= ALLOWED_EXCEEDANCE


def test_one_run_fdp_is_tighter_than_one_run_on_gaussian_canaries() -> None:
    mu = _mu_for_epsilon(4.0)
    rng = np.random.default_rng(11)
    gaps = []
    for _ in range(20):
        scores, included = _gaussian_canaries(mu, rng)
        correct = _top_bottom_correct(scores, included, 100)
        fdp = one_run_fdp_epsilon_lower_bound(CANARIES, 100, correct, delta=DELTA)
        approximate = one_run_epsilon_lower_bound(CANARIES, 100, correct, delta=DELTA)
        gaps.append(fdp - approximate)
    assert min(gaps) >= 0.0
    assert float(np.median(gaps)) > 0.3


def test_one_run_fdp_refutes_gaussian_curves_only() -> None:
    # ε0-randomized response is (ε0, 0)-DP but far from any Gaussian curve with that ε at δ:
    # its guesses are as good as those of μ ≈ 4.2-GDP. The f-DP bound refutes the Gaussian
    # curve, correctly, and so lands above ε0: it is no bound on a generic (ε, δ) claim.
    v = round(CANARIES * special.expit(4.0))
    assert one_run_fdp_epsilon_lower_bound(CANARIES, CANARIES, v, delta=DELTA) > 4.0
    assert one_run_epsilon_lower_bound(CANARIES, CANARIES, v, delta=DELTA) < 4.0


def test_one_run_fdp_all_correct_grows_with_canaries() -> None:
    bounds = [one_run_fdp_epsilon_lower_bound(m, m, m, delta=DELTA) for m in (10, 100, 1000)]
    assert all(later > earlier for earlier, later in itertools.pairwise(bounds))


# ---------------------------------------------------------------------------------------------
# Properties shared by the one-run bounds
# ---------------------------------------------------------------------------------------------

OneRunBound = Callable[..., float]
ONE_RUN_BOUNDS = [
    pytest.param(one_run_epsilon_lower_bound, id="one_run"),
    pytest.param(one_run_fdp_epsilon_lower_bound, id="one_run_fdp"),
]


@st.composite
def _audit_counts(draw: st.DrawFn) -> tuple[int, int, int]:
    m = draw(st.integers(1, 1000))
    r = draw(st.integers(1, m))
    v = draw(st.integers(r // 2, r))
    return m, r, v


_DELTAS = st.sampled_from([1e-8, 1e-6, 1e-5, 1e-4, 1e-3, 0.01])
_BETAS = st.floats(0.001, 0.5)


@pytest.mark.parametrize("bound", ONE_RUN_BOUNDS)
@given(counts=_audit_counts(), delta=_DELTAS, beta=_BETAS)
def test_more_correct_guesses_never_lower_the_bound(
    bound: OneRunBound, counts: tuple[int, int, int], delta: float, beta: float
) -> None:
    m, r, v = counts
    if v < r:
        below = bound(m, r, v, delta=delta, beta=beta)
        assert bound(m, r, v + 1, delta=delta, beta=beta) >= below


@pytest.mark.parametrize("bound", ONE_RUN_BOUNDS)
@given(counts=_audit_counts(), delta=_DELTAS, beta=_BETAS, factor=st.floats(1.0, 1.9))
def test_less_confidence_never_lowers_the_bound(
    bound: OneRunBound, counts: tuple[int, int, int], delta: float, beta: float, factor: float
) -> None:
    m, r, v = counts
    confident = bound(m, r, v, delta=delta, beta=beta)
    assert bound(m, r, v, delta=delta, beta=beta * factor) >= confident


@pytest.mark.parametrize("bound", ONE_RUN_BOUNDS)
@given(counts=_audit_counts(), delta=_DELTAS, beta=_BETAS, factor=st.floats(1.0, 100.0))
def test_larger_delta_never_raises_the_bound(
    bound: OneRunBound, counts: tuple[int, int, int], delta: float, beta: float, factor: float
) -> None:
    m, r, v = counts
    tight = bound(m, r, v, delta=delta, beta=beta)
    assert bound(m, r, v, delta=min(delta * factor, 0.5), beta=beta) <= tight


@pytest.mark.parametrize("bound", ONE_RUN_BOUNDS)
@pytest.mark.parametrize("guesses", [2, 10, 100, 1000])
def test_chance_level_guessing_claims_nothing(bound: OneRunBound, guesses: int) -> None:
    assert bound(CANARIES, guesses, guesses // 2, delta=DELTA) == 0.0


@pytest.mark.parametrize("bound", ONE_RUN_BOUNDS)
def test_no_guesses_claim_nothing(bound: OneRunBound) -> None:
    assert bound(CANARIES, 0, 0, delta=DELTA) == 0.0
    assert bound(0, 0, 0, delta=DELTA) == 0.0


# ---------------------------------------------------------------------------------------------
# Many runs, Clopper–Pearson
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [10, 100, 5000])
@pytest.mark.parametrize("delta", [0.0, 1e-5])
def test_clopper_pearson_with_no_errors_matches_hand_computation(n: int, delta: float) -> None:
    # 0 errors of n: the one-sided upper bound at confidence 1 − β/2 solves (1 − p)^n = β/2.
    upper = 1 - (BETA / 2) ** (1 / n)
    expected = math.log((1 - delta - upper) / upper)
    got = clopper_pearson_epsilon_lower_bound(0, n, 0, n, delta=delta, beta=BETA)
    assert got == pytest.approx(expected, rel=1e-9)


def test_clopper_pearson_matches_beta_quantiles() -> None:
    fp, tn, fn, tp = 7, 493, 60, 440
    fpr_hi = stats.beta.ppf(1 - BETA / 2, fp + 1, tn)
    fnr_hi = stats.beta.ppf(1 - BETA / 2, fn + 1, tp)
    expected = max(math.log((1 - DELTA - fnr_hi) / fpr_hi), math.log((1 - DELTA - fpr_hi) / fnr_hi))
    got = clopper_pearson_epsilon_lower_bound(fp, tn, fn, tp, delta=DELTA, beta=BETA)
    assert got == pytest.approx(expected, rel=1e-9)


def test_clopper_pearson_uninformative_tests_claim_nothing() -> None:
    assert clopper_pearson_epsilon_lower_bound(50, 50, 50, 50, delta=DELTA) == 0.0
    assert clopper_pearson_epsilon_lower_bound(0, 0, 0, 0, delta=DELTA) == 0.0
    assert clopper_pearson_epsilon_lower_bound(100, 0, 0, 100, delta=DELTA) == 0.0


@pytest.mark.parametrize("epsilon0", [1.0, 3.0])
def test_clopper_pearson_is_sound_against_randomized_response(epsilon0: float) -> None:
    # n runs with the record in and n without; the ε0-RR test errs with probability 1/(1 + e^ε0)
    # each way, and log((1 − FNR)/FPR) = ε0 exactly.
    n = 500
    error = special.expit(-epsilon0)
    rng = np.random.default_rng(int(epsilon0))
    bounds = []
    for _ in range(TRIALS):
        fp, fn = rng.binomial(n, error, size=2)
        bounds.append(
            clopper_pearson_epsilon_lower_bound(
                int(fp), n - int(fp), int(fn), n - int(fn), delta=DELTA, beta=BETA
            )
        )
    assert _exceedance(bounds, epsilon0) <= ALLOWED_EXCEEDANCE
    assert float(np.median(bounds)) > 0.5 * epsilon0


@given(
    fp=st.integers(0, 200),
    tn=st.integers(0, 200),
    fn=st.integers(0, 200),
    tp=st.integers(0, 200),
    beta=_BETAS,
    delta=_DELTAS,
)
def test_clopper_pearson_monotone(
    fp: int, tn: int, fn: int, tp: int, beta: float, delta: float
) -> None:
    base = clopper_pearson_epsilon_lower_bound(fp, tn, fn, tp, delta=delta, beta=beta)
    if fp > 0:  # one false positive turned into a true negative
        assert (
            clopper_pearson_epsilon_lower_bound(fp - 1, tn + 1, fn, tp, delta=delta, beta=beta)
            >= base
        )
    assert (
        clopper_pearson_epsilon_lower_bound(fp, tn, fn, tp, delta=delta, beta=min(beta * 1.5, 0.99))
        >= base
    )
    assert (
        clopper_pearson_epsilon_lower_bound(fp, tn, fn, tp, delta=min(delta * 10, 0.5), beta=beta)
        <= base
    )


# ---------------------------------------------------------------------------------------------
# From scores
# ---------------------------------------------------------------------------------------------


def test_audit_from_scores_applies_the_documented_rule() -> None:
    scores = np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 0.55, 0.45])
    included = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1], dtype=bool)
    result = audit_from_scores(scores, included, delta=DELTA, guess_counts=[5])
    # Top ⌊5/2⌋ = 2 guessed in: 0.9 (in), 0.8 (in). Bottom 3 guessed out: 0.1 (out),
    # 0.2 (in), 0.3 (out). Correct: 2 + 2.
    assert (result.guesses, result.guesses_in, result.guesses_out, result.correct) == (5, 2, 3, 4)
    assert result.candidates == 1
    assert result.confidence == pytest.approx(1 - BETA)
    assert result.epsilon_lower_bound == one_run_epsilon_lower_bound(10, 5, 4, delta=DELTA)


def test_audit_from_scores_union_bound_over_default_grid() -> None:
    rng = np.random.default_rng(3)
    scores, included = _gaussian_canaries(_mu_for_epsilon(4.0), rng)
    result = audit_from_scores(scores, included, delta=DELTA)
    grid = [10, 20, 50, 100, 200, 500, 1000]
    assert result.candidates == len(grid)
    per_k = [
        one_run_epsilon_lower_bound(
            CANARIES, k, _top_bottom_correct(scores, included, k), delta=DELTA, beta=BETA / 7
        )
        for k in grid
    ]
    assert result.epsilon_lower_bound == max(per_k)
    assert result.guesses == grid[len(per_k) - 1 - per_k[::-1].index(max(per_k))]


def test_audit_from_scores_breaks_ties_against_the_auditor() -> None:
    # Membership readable from the order only: all scores tie, in-canaries listed first. An
    # index tie-break would guess perfectly; the pessimistic one gets nothing right.
    included = np.array([True] * 500 + [False] * 500)
    scores = np.zeros(CANARIES)
    for method in ("one_run", "one_run_fdp", "clopper_pearson"):
        result = audit_from_scores(scores, included, delta=DELTA, method=method)
        assert result.epsilon_lower_bound == 0.0
    fixed = audit_from_scores(scores, included, delta=DELTA, guess_counts=[100])
    assert fixed.correct == 0


@pytest.mark.parametrize("method", ["one_run", "clopper_pearson"])
def test_audit_from_scores_is_sound_against_randomized_response(method: str) -> None:
    # Each canary's score is its ε0-RR bit plus label-blind noise (post-processing): the whole
    # vector is ε0-DP in each canary, and the audit may pick its guess count after looking.
    epsilon0 = 1.0
    rng = np.random.default_rng(21)
    bounds = []
    for _ in range(TRIALS):
        included = rng.random(CANARIES) < 0.5
        truthful = rng.random(CANARIES) < special.expit(epsilon0)
        reported = np.where(truthful, included, ~included)
        scores = reported + 0.5 * rng.random(CANARIES)
        result = audit_from_scores(scores, included, delta=DELTA, method=method)
        bounds.append(result.epsilon_lower_bound)
    assert _exceedance(bounds, epsilon0) <= ALLOWED_EXCEEDANCE
    assert float(np.median(bounds)) > 0.3 * epsilon0


def test_audit_from_scores_fdp_is_sound_against_the_gaussian_mechanism() -> None:
    epsilon = 2.0
    mu = _mu_for_epsilon(epsilon)
    rng = np.random.default_rng(22)
    bounds = []
    for _ in range(TRIALS // 2):
        scores, included = _gaussian_canaries(mu, rng)
        result = audit_from_scores(scores, included, delta=DELTA, method="one_run_fdp")
        bounds.append(result.epsilon_lower_bound)
    allowed = BETA + 3 * math.sqrt(BETA * (1 - BETA) / len(bounds))
    assert _exceedance(bounds, epsilon) <= allowed
    assert float(np.median(bounds)) > 0.3 * epsilon


def test_audit_from_scores_clopper_pearson_rule() -> None:
    scores = np.arange(100.0)
    included = scores >= 50  # perfectly separable
    result = audit_from_scores(scores, included, delta=DELTA, method="clopper_pearson")
    assert isinstance(result, AuditBound)
    # Thresholds ⌊100/d⌋ and 100 − ⌊100/d⌋ for d = 100, 50, 20, 10, 5, 2: 11 distinct values.
    assert result.candidates == 11
    assert (result.guesses, result.guesses_in, result.guesses_out) == (100, 50, 50)
    assert result.correct == 100
    expected = clopper_pearson_epsilon_lower_bound(0, 50, 0, 50, delta=DELTA, beta=BETA / 11)
    assert result.epsilon_lower_bound == expected


def test_audit_from_scores_accepts_lists_and_zero_one_labels() -> None:
    result = audit_from_scores([3.0, 2.0, 1.0, 0.0], [1, 1, 0, 0], delta=DELTA)
    assert result.canaries == 4
    assert result.epsilon_lower_bound == 0.0


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ((10, 11, 5), "guesses"),
        ((10, 5, 6), "correct"),
        ((-1, 0, 0), "canaries"),
        ((10, 5.0, 3), "guesses"),
        ((10, 5, True), "correct"),
    ],
)
@pytest.mark.parametrize("bound", ONE_RUN_BOUNDS)
def test_one_run_rejects_bad_counts(
    bound: OneRunBound, arguments: tuple[object, ...], field: str
) -> None:
    with pytest.raises(InputError) as caught:
        bound(*arguments, delta=DELTA)
    assert caught.value.source == "<argument>"
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("keywords", "field"),
    [
        ({"delta": DELTA, "beta": 0.0}, "beta"),
        ({"delta": DELTA, "beta": 1.0}, "beta"),
        ({"delta": DELTA, "beta": math.nan}, "beta"),
        ({"delta": -0.1}, "delta"),
        ({"delta": 1.0}, "delta"),
        ({"delta": math.nan}, "delta"),
        ({"delta": "1e-5"}, "delta"),
    ],
)
def test_rejects_bad_probabilities(keywords: dict[str, Any], field: str) -> None:
    for call in (
        lambda: one_run_epsilon_lower_bound(10, 5, 4, **keywords),
        lambda: one_run_fdp_epsilon_lower_bound(10, 5, 4, **keywords),
        lambda: clopper_pearson_epsilon_lower_bound(1, 2, 3, 4, **keywords),
        lambda: audit_from_scores([1.0, 0.0], [True, False], **keywords),
    ):
        with pytest.raises(InputError) as caught:
            call()
        assert caught.value.field == field


def test_fdp_needs_positive_delta() -> None:
    with pytest.raises(InputError, match="delta"):
        one_run_fdp_epsilon_lower_bound(10, 5, 4, delta=0.0)
    with pytest.raises(InputError, match="delta"):
        audit_from_scores([1.0, 0.0], [True, False], delta=0.0, method="one_run_fdp")


@pytest.mark.parametrize(
    ("scores", "included", "keywords", "field"),
    [
        ([1.0, math.nan], [True, False], {}, "scores[1]"),
        ([1.0, math.inf], [True, False], {}, "scores[1]"),
        ([1.0, 2.0], [True], {}, "included"),
        ([[1.0, 2.0]], [[True, False]], {}, "scores"),
        (["a", "b"], [True, False], {}, "scores"),
        ([], [], {}, "scores"),
        ([1.0, 2.0], [1, 2], {}, "included[1]"),
        ([1.0, 2.0], [0.5, 1.0], {}, "included"),
        ([1.0, 2.0], [True, False], {"method": "bayesian"}, "method"),
        ([1.0, 2.0], [True, False], {"guess_counts": [3]}, "guess_counts[0]"),
        ([1.0, 2.0], [True, False], {"guess_counts": [1.5]}, "guess_counts[0]"),
        ([1.0, 2.0], [True, False], {"guess_counts": []}, "guess_counts"),
        ([1.0, 2.0], [True, False], {"guess_counts": "2"}, "guess_counts"),
    ],
)
def test_audit_from_scores_rejects_bad_input(
    scores: object, included: object, keywords: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputError) as caught:
        audit_from_scores(scores, included, delta=DELTA, **keywords)
    assert caught.value.field == field
