"""What ``attach`` accepts: Flower's fixed-clipping DP wrappers around FedAvg's mean, read for
their parameters; everything whose release it cannot account is refused, naming what was found.
And the multiplier a round is charged with (closed form, properties)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privaudit.errors import InputError
from tests.integrations.flower.federation import WITHOUT_FLOWER

strategies = pytest.importorskip("flwr.serverapp.strategy", reason=WITHOUT_FLOWER)
flower = pytest.importorskip("privaudit.integrations.flower.strategy", reason=WITHOUT_FLOWER)
attach, effective_noise_multiplier = flower.attach, flower.effective_noise_multiplier

POLICY = """\
tiers:
  research: {epsilon: 4, delta: 1e-5, privacy_unit: client}
datasets:
  fl: {tier: research, size: 100}
"""


def _dp(inner: object = None, z: float = 1.2) -> Any:
    return strategies.DifferentialPrivacyClientSideFixedClipping(
        inner if inner is not None else strategies.FedAvg(),
        noise_multiplier=z,
        clipping_norm=0.5,
        num_sampled_clients=10,
    )


def test_the_dp_parameters_are_read_off_flowers_wrapper(tmp_path: Path) -> None:
    guarded = attach(_dp(), ledger=tmp_path / "l.jsonl", dataset="fl")
    assert isinstance(guarded, flower.GuardedStrategy)
    assert (guarded.noise_multiplier, guarded.clipping_norm, guarded.sized_for) == (1.2, 0.5, 10)
    assert guarded.min_replies == 10


def test_server_side_clipping_is_accepted(tmp_path: Path) -> None:
    dp = strategies.DifferentialPrivacyServerSideFixedClipping(strategies.FedAvg(), 1.0, 1.0, 5)
    assert attach(dp, ledger=tmp_path / "l.jsonl", dataset="fl", min_replies=3).min_replies == 3


def test_a_strategy_without_noise_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="found FedAvg, which adds no noise"):
        attach(strategies.FedAvg(), ledger=tmp_path / "l.jsonl", dataset="fl")


def test_adaptive_clipping_is_refused(tmp_path: Path) -> None:
    adaptive = strategies.DifferentialPrivacyClientSideAdaptiveClipping(
        strategies.FedAvg(), 1.0, 100
    )
    with pytest.raises(InputError, match="expected fixed clipping"):
        attach(adaptive, ledger=tmp_path / "l.jsonl", dataset="fl")


@pytest.mark.parametrize(
    "inner", [strategies.FedMedian(), strategies.FedAdam()], ids=["median", "server-optimiser"]
)
def test_an_aggregate_other_than_the_mean_is_refused(tmp_path: Path, inner: object) -> None:
    with pytest.raises(InputError, match=f"found {type(inner).__name__}"):
        attach(_dp(inner), ledger=tmp_path / "l.jsonl", dataset="fl")


def test_zero_noise_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"must be > 0; found 0"):
        attach(_dp(z=0.0), ledger=tmp_path / "l.jsonl", dataset="fl")


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_min_replies_must_be_a_positive_integer(tmp_path: Path, bad: object) -> None:
    with pytest.raises(InputError, match="min_replies"):
        attach(_dp(), ledger=tmp_path / "l.jsonl", dataset="fl", min_replies=bad)  # type: ignore[arg-type]


def test_a_limit_looser_than_the_tier_is_refused(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    with pytest.raises(InputError, match="epsilon"):
        attach(_dp(), ledger=tmp_path / "l.jsonl", dataset="fl", policy=policy, epsilon_limit=5)


def test_a_limit_without_a_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected a policy"):
        attach(_dp(), ledger=tmp_path / "l.jsonl", dataset="fl", epsilon_limit=1)


def test_equal_weights_give_z_times_the_share_that_arrived() -> None:
    assert effective_noise_multiplier(1.5, 10, [3.0] * 8) == pytest.approx(1.5 * 8 / 10)


def test_one_heavy_client_is_charged_for_its_weight() -> None:
    # Weights 1, 1, 2: the heavy client moves the mean by C·2/4, noise is zC/M.
    assert effective_noise_multiplier(1.0, 3, [1.0, 1.0, 2.0]) == pytest.approx(4 / (3 * 2))


@given(
    z=st.floats(0.1, 10),
    sized_for=st.integers(1, 50),
    weights=st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=50),
)
def test_unequal_weights_never_charge_less_than_equal_ones(
    z: float, sized_for: int, weights: list[float]
) -> None:
    effective = effective_noise_multiplier(z, sized_for, weights)
    assert effective <= z * len(weights) / sized_for * (1 + 1e-12)
    assert effective >= z / sized_for * (1 - 1e-12)


@pytest.mark.parametrize("weights", [[], [1.0, 0.0], [1.0, math.nan]])
def test_weights_must_be_finite_and_positive(weights: list[float]) -> None:
    with pytest.raises(InputError, match="weights"):
        effective_noise_multiplier(1.0, 4, weights)
