"""The live guard: it admits exactly the releases that keep the gate's verdict within the limit,
counts what the ledger already holds, refuses before it records, and only ever tightens."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from privaudit.accounting.accountant import Method, account
from privaudit.budget.guard import BudgetGuard, policy_limits
from privaudit.errors import BudgetExceededError, InputError
from privaudit.ledger import append_entry
from privaudit.mechanisms import DpSgd, Gaussian, Mechanism
from tests.accounting.oracles import gaussian_epsilon
from tests.budget.helpers import DELTA, GAUSSIAN, SIGMA, STEP, write_policy


def admitted(guard: BudgetGuard, release: Mechanism, most: int = 100_000) -> int:
    for count in range(most):
        try:
            guard.charge(release)
        except BudgetExceededError:
            return count
    raise AssertionError("the guard never refused")


def steps(count: int) -> DpSgd:
    return DpSgd(
        noise_multiplier=STEP.noise_multiplier, sampling_rate=STEP.sampling_rate, steps=count
    )


def oracle_count(limit: float) -> int:
    """Most Gaussians of σ whose exact composition stays ≤ limit (closed form in μ = √k/σ)."""
    k = 0
    while gaussian_epsilon(DELTA, ((k + 1) ** 0.5) / SIGMA) <= limit:
        k += 1
    return k


def test_guard_admits_the_gaussians_the_exact_oracle_allows(tmp_path: Path) -> None:
    limits = policy_limits(write_policy(tmp_path, 2.0), "ds")

    count = admitted(BudgetGuard(limits), GAUSSIAN)

    # The certified PLD bound is never below the exact ε, and within one release of it.
    assert oracle_count(2.0) - 1 <= count <= oracle_count(2.0)


def test_guard_stops_on_the_last_dpsgd_step_the_gate_accepts(tmp_path: Path) -> None:
    limits = policy_limits(write_policy(tmp_path, 0.5), "ds")

    count = admitted(BudgetGuard(limits), STEP)
    taken = steps(count)
    one_more = steps(count + 1)

    assert account([taken], DELTA).epsilon <= 0.5 < account([one_more], DELTA).epsilon


def test_guard_counts_what_the_ledger_already_holds(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    earlier = steps(300)
    append_entry(ledger, dataset="ds", mechanism=earlier, run="first")
    append_entry(ledger, dataset="other", mechanism=Gaussian(noise_multiplier=0.1))
    limits = policy_limits(write_policy(tmp_path, 1.0), "ds")

    count = admitted(BudgetGuard.from_ledger(ledger, limits, "second"), STEP)
    total = steps(300 + count)
    over = steps(301 + count)

    assert count > 0
    assert account([total], DELTA).epsilon <= 1.0 < account([over], DELTA).epsilon


def test_guard_refuses_at_once_when_the_ledger_is_over_the_limit(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    append_entry(ledger, dataset="ds", mechanism=Gaussian(noise_multiplier=0.5))
    limits = policy_limits(write_policy(tmp_path, 1.0), "ds")

    with pytest.raises(BudgetExceededError, match="already spent"):
        BudgetGuard.from_ledger(ledger, limits)


def test_a_refused_release_is_not_recorded(tmp_path: Path) -> None:
    guard = BudgetGuard(policy_limits(write_policy(tmp_path, 1.0), "ds"))
    admitted(guard, GAUSSIAN)
    before = guard.epsilon()

    with pytest.raises(BudgetExceededError):
        guard.charge(GAUSSIAN)

    assert guard.epsilon() == before


def test_the_refusal_names_dataset_spent_and_limit(tmp_path: Path) -> None:
    guard = BudgetGuard(policy_limits(write_policy(tmp_path, 1.0), "ds"))
    admitted(guard, GAUSSIAN)

    with pytest.raises(BudgetExceededError) as refusal:
        guard.charge(GAUSSIAN, "step 9")

    message = str(refusal.value)
    assert "dataset 'ds' has spent ε = " in message
    assert "step 9 would take it to" in message
    assert "ε ≤ 1 at δ = 1e-05 (tier sensitive, PLD)" in message


def test_guard_amortises_exact_compositions(tmp_path: Path) -> None:
    guard = BudgetGuard(policy_limits(write_policy(tmp_path, 2.0), "ds"))

    count = admitted(guard, STEP)

    # One search near the limit (doubling, then bisection), not one composition per step.
    assert count > 1000
    assert guard.exact_checks <= 4 * count.bit_length() + 4


def test_an_rdp_tier_stops_where_the_rdp_verdict_reaches_the_limit(tmp_path: Path) -> None:
    limits = policy_limits(write_policy(tmp_path, 1.5, accountant="rdp"), "ds")

    count = admitted(BudgetGuard(limits), STEP)

    assert limits.method is Method.RDP
    assert account([steps(count)], DELTA, Method.RDP).epsilon <= 1.5
    assert account([steps(count + 1)], DELTA, Method.RDP).epsilon > 1.5


def test_the_per_run_cap_stops_a_run_before_the_lifetime_cap(tmp_path: Path) -> None:
    limits = policy_limits(write_policy(tmp_path, 1.0, per_run=0.3), "ds")

    count = admitted(BudgetGuard(limits), STEP)
    taken = steps(count)
    one_more = steps(count + 1)

    assert account([taken], DELTA).epsilon <= 0.3 < account([one_more], DELTA).epsilon


def test_a_tighter_limit_is_used_and_said(tmp_path: Path) -> None:
    limits = policy_limits(write_policy(tmp_path, 1.0), "ds", epsilon_limit=0.4)

    count = admitted(BudgetGuard(limits), STEP)
    one_more = steps(count + 1)

    assert limits.tightened
    assert "tightened from the tier's 1" in limits.describe()
    assert account([one_more], DELTA).epsilon > 0.4


def test_a_looser_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="may only tighten the policy"):
        policy_limits(write_policy(tmp_path, 1.0), "ds", epsilon_limit=1.5)


def test_a_dataset_missing_from_the_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'elsewhere' is not in the policy"):
        policy_limits(write_policy(tmp_path, 1.0), "elsewhere")


def test_a_privacy_unit_other_than_the_policys_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="protects one 'user'"):
        policy_limits(write_policy(tmp_path, 1.0, unit="user"), "ds", privacy_unit="example")


def test_a_release_with_counts_is_charged_as_a_whole(tmp_path: Path) -> None:
    guard = BudgetGuard(policy_limits(write_policy(tmp_path, 2.0), "ds"))
    many = oracle_count(2.0) + 1

    with pytest.raises(BudgetExceededError):
        guard.charge(Counter({GAUSSIAN: many}))

    assert guard.epsilon() == 0.0
