"""The streaming accountant refuses a step before it overruns and never reports too little."""

from __future__ import annotations

import pytest

from privaudit.accounting.calibrate import dpsgd_mechanism, epsilon_of
from privaudit.accounting.streaming import StreamingAccountant
from privaudit.errors import BudgetExceededError, InputError
from privaudit.mechanisms import DpSgd, Sampling

Q, SIGMA, LIMIT, DELTA = 0.02, 1.5, 2.0, 1e-5  # about 1,030 steps fit
STEP = dpsgd_mechanism(SIGMA, Q, 1)


def _spend_until_refused(accountant: StreamingAccountant) -> tuple[int, BudgetExceededError]:
    spent = 0
    while True:
        try:
            accountant.spend(STEP)
        except BudgetExceededError as refused:
            return spent, refused
        spent += 1


def test_the_refused_step_is_the_first_that_would_overrun() -> None:
    accountant = StreamingAccountant(LIMIT, DELTA)
    spent, _ = _spend_until_refused(accountant)
    assert (
        epsilon_of(SIGMA, Q, spent, DELTA, 1e-4)
        <= LIMIT
        < epsilon_of(SIGMA, Q, spent + 1, DELTA, 1e-4)
    )


def test_a_refused_step_changes_nothing() -> None:
    accountant = StreamingAccountant(LIMIT, DELTA)
    _spend_until_refused(accountant)
    before = (accountant.spent, accountant.epsilon)
    with pytest.raises(BudgetExceededError, match="nothing was spent"):
        accountant.spend(STEP)
    assert (accountant.spent, accountant.epsilon) == before


def test_reported_epsilon_is_always_a_certified_upper_bound() -> None:
    accountant = StreamingAccountant(LIMIT, DELTA)
    for step in range(1, 1001):
        reported = accountant.spend(STEP)
        if step % 100 == 0:
            assert reported >= epsilon_of(SIGMA, Q, step, DELTA, 1e-4) - 1e-12
            assert reported <= LIMIT


def test_repeated_steps_near_the_cap_need_few_pld_refreshes() -> None:
    accountant = StreamingAccountant(LIMIT, DELTA)
    spent, _ = _spend_until_refused(accountant)
    assert accountant.pld_refreshes < spent / 10


def test_count_spends_many_steps_at_once() -> None:
    one_by_one = StreamingAccountant(LIMIT, DELTA)
    for _ in range(100):
        one_by_one.spend(STEP)
    at_once = StreamingAccountant(LIMIT, DELTA)
    at_once.spend(STEP, count=100)
    assert at_once.spent == one_by_one.spent


def test_remaining_steps_fit_and_one_more_does_not() -> None:
    accountant = StreamingAccountant(LIMIT, DELTA)
    accountant.spend(STEP, count=50)
    left = accountant.remaining(STEP)
    assert epsilon_of(SIGMA, Q, 50 + left, DELTA, 1e-4) <= LIMIT
    assert epsilon_of(SIGMA, Q, 51 + left, DELTA, 1e-4) > LIMIT


def test_fixed_batch_releases_are_refused() -> None:
    fixed = DpSgd(
        noise_multiplier=1.0,
        sampling_rate=0.01,
        steps=1,
        sampling=Sampling.FIXED_BATCH,
        dataset_size=1000,
    )
    with pytest.raises(InputError, match="add-or-remove-one"):
        StreamingAccountant(LIMIT, DELTA).spend(fixed)


@pytest.mark.parametrize("count", [0, -1, 1.5])
def test_bad_counts_are_refused(count: int) -> None:
    with pytest.raises(InputError, match="count"):
        StreamingAccountant(LIMIT, DELTA).spend(STEP, count=count)
