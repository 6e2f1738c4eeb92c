"""What every audit shares: a sound method, guesses fixed in advance, reproducibility, canary
statistics blind to the real records, and progress lines (exercised through DP-SGD)."""

from __future__ import annotations

import numpy as np
import pytest

from privaudit.errors import InputError
from tests.audit.blobs import DELTA, SIGMA_EPS2, Blobs, dpsgd_audit


@pytest.mark.parametrize(
    ("sigma", "steps"),
    [
        (None, 100),  # the configuration these tests audit
        (4.122, 400),  # privaudit audit dpsgd: q = 0.1, 40 epochs, ε = 2 at δ = 1e-5
    ],
)
def test_fdp_verdicts_are_sound_for_the_audited_claim(sigma: float | None, steps: int) -> None:
    # one_run_fdp refutes Gaussian curves: its "violation" is only a proof if the claimed
    # mechanism's trade-off curve lies above G_μ* for the μ* with the claimed ε at δ. Check it
    # for the configuration audited here, from dp_accounting's PLD, over ε of both signs.
    from dp_accounting.pld import privacy_loss_distribution
    from scipy import stats

    from privaudit.audit.bounds import _gdp_epsilon

    pld = privacy_loss_distribution.from_gaussian_mechanism(
        SIGMA_EPS2 if sigma is None else sigma,
        sampling_prob=0.1,
        value_discretization_interval=1e-3,
    ).self_compose(steps)
    epsilon = pld.get_epsilon_for_delta(DELTA)
    low, high = 0.0, 5.0
    for _ in range(50):  # bisect for μ* with ε_μ*(δ) = the claimed ε
        middle = (low + high) / 2
        if _gdp_epsilon(middle, DELTA) < epsilon:
            low = middle
        else:
            high = middle
    epsilons = np.linspace(-10, 10, 4001)
    deltas = np.asarray(pld.get_delta_for_epsilon(epsilons))
    alphas = np.logspace(-6, np.log10(0.5), 200)
    # f(α) = sup_ε 1 − δ(ε) − e^ε·α (Kairouz, Oh & Viswanath 2015), against G_μ*(α).
    curve = np.max(1 - deltas[None, :] - np.exp(epsilons)[None, :] * alphas[:, None], axis=1)
    gaussian = stats.norm.cdf(stats.norm.ppf(1 - alphas) - high)
    assert np.all(curve >= gaussian - 1e-4)


def test_same_seed_same_audit(blobs: Blobs) -> None:
    first, again = dpsgd_audit(blobs, seed=4), dpsgd_audit(blobs, seed=4)
    ignore = {"created", "wall_seconds"}
    assert first.model_dump(exclude=ignore) == again.model_dump(exclude=ignore)


def test_canary_statistics_do_not_depend_on_the_real_records(blobs: Blobs) -> None:
    # Real records never touch the canary or untouched coordinates: replacing every record by
    # other values changes the model, not one canary statistic.
    x, y, x_test, y_test = blobs
    other = (np.random.default_rng(9).normal(size=x.shape).astype(np.float32), 1 - y)
    first = dpsgd_audit(blobs)
    second = dpsgd_audit((other[0], other[1], x_test, y_test))
    for field in ("epsilon_lower_bound", "correct", "guesses", "direct_checks"):
        assert getattr(first, field) == getattr(second, field)
    assert first.test_accuracy != second.test_accuracy


def test_guess_rules(blobs: Blobs) -> None:
    searched = dpsgd_audit(blobs, guesses="search")
    assert searched.guess_rule == "search" and searched.candidates == 7
    assert searched.expected_lower_bound is None
    fixed = dpsgd_audit(blobs, guesses=200)
    assert fixed.guess_rule == "fixed" and fixed.guesses == 200 and fixed.candidates == 1
    with pytest.raises(InputError, match="guesses"):
        dpsgd_audit(blobs, guesses=1001)


def test_progress_lines(blobs: Blobs) -> None:
    lines: list[str] = []
    dpsgd_audit(blobs, progress=lines.append)
    assert lines[-1].startswith("step 100/100") and len(lines) == 10
