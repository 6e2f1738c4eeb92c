"""privaudit's connect-the-dots PLDs must be dp_accounting's, not approximations of them.

dp_accounting is imported here as the oracle: ``from_gaussian_mechanism`` and
``from_laplace_mechanism`` with their defaults (pessimistic, connect-the-dots, sensitivity 1).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dp_accounting import dp_event
from dp_accounting.pld import pld_pmf, pld_privacy_accountant
from dp_accounting.pld import privacy_loss_distribution as pld_lib
from dp_accounting.rdp import rdp_privacy_accountant
from hypothesis import given, settings
from hypothesis import strategies as st

from privaudit.accounting import connect_dots, pld
from privaudit.accounting.accountant import DEFAULT_RDP_ORDERS, account, rdp_of
from privaudit.accounting.dp_events import NeighbouringRelation
from privaudit.mechanisms import Gaussian, Laplace, Mechanism, PoissonSampled

ROOT = Path(__file__).resolve().parents[2]
RTOL = 1e-10

SIGMAS = [0.3, 1.1, 4.0, 50.0]
RATES = [1e-4, 0.01, 0.5, 0.999, 1.0]
GRIDS = [1e-4, 1e-3, 1e-2]
SCALES = [0.05, 1.0, 10.0, 500.0]


def _library_direction(pmf: Any) -> tuple[int, np.ndarray[Any, Any], float]:
    """(lowest loss index, probabilities, infinity mass) of one of dp_accounting's PMFs."""
    if isinstance(pmf, pld_pmf.DensePLDPmf):
        return int(pmf._lower_loss), np.asarray(pmf._probs), float(pmf._infinity_mass)
    items = pmf._loss_probs
    low, high = min(items), max(items)
    assert len(items) == high - low + 1  # connect-the-dots keeps every grid point, zeros too
    return low, np.array([items[i] for i in range(low, high + 1)]), float(pmf._infinity_mass)


def _assert_same_pld(library: Any, kind: str, parameter: float, q: float, h: float) -> None:
    build = connect_dots.gaussian_pmf if kind == "gaussian" else connect_dots.laplace_pmf
    directions = [("remove", library._pmf_remove)]
    # dp_accounting returns one symmetric PMF exactly when q = 1; so must the caller's.
    assert library._symmetric == (q == 1.0)
    if not library._symmetric:
        directions.append(("add", library._pmf_add))
    for direction, library_pmf in directions:
        lower, probs, infinity = _library_direction(library_pmf)
        ours = build(parameter, q, h, direction)  # type: ignore[arg-type]
        assert ours.lower == lower, direction
        assert ours.probs.size == probs.size, direction
        np.testing.assert_allclose(ours.probs, probs, rtol=RTOL, atol=0, err_msg=direction)
        assert ours.infinity == pytest.approx(infinity, rel=RTOL, abs=0), direction


# --- single-release PMFs ----------------------------------------------------------------------


@pytest.mark.parametrize("h", GRIDS)
@pytest.mark.parametrize("q", RATES)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_gaussian_pmf_is_dp_accountings(sigma: float, q: float, h: float) -> None:
    library = pld_lib.from_gaussian_mechanism(
        sigma, sampling_prob=q, value_discretization_interval=h
    )
    _assert_same_pld(library, "gaussian", sigma, q, h)


@pytest.mark.parametrize("h", GRIDS)
@pytest.mark.parametrize("q", RATES)
@pytest.mark.parametrize("scale", SCALES)
def test_laplace_pmf_is_dp_accountings(scale: float, q: float, h: float) -> None:
    library = pld_lib.from_laplace_mechanism(
        scale, sampling_prob=q, value_discretization_interval=h
    )
    _assert_same_pld(library, "laplace", scale, q, h)


@settings(max_examples=25, deadline=None)
@given(
    log_sigma=st.floats(math.log(0.3), math.log(50.0)),
    log_q=st.floats(math.log(1e-4), 0.0),
    h=st.sampled_from(GRIDS),
)
def test_gaussian_pmf_is_dp_accountings_anywhere_in_range(
    log_sigma: float, log_q: float, h: float
) -> None:
    sigma, q = math.exp(log_sigma), min(1.0, math.exp(log_q))
    library = pld_lib.from_gaussian_mechanism(
        sigma, sampling_prob=q, value_discretization_interval=h
    )
    _assert_same_pld(library, "gaussian", sigma, q, h)


@settings(max_examples=25, deadline=None)
@given(
    log_scale=st.floats(math.log(0.02), math.log(1000.0)),
    log_q=st.floats(math.log(1e-4), 0.0),
    h=st.sampled_from(GRIDS),
)
def test_laplace_pmf_is_dp_accountings_anywhere_in_range(
    log_scale: float, log_q: float, h: float
) -> None:
    scale, q = math.exp(log_scale), min(1.0, math.exp(log_q))
    library = pld_lib.from_laplace_mechanism(
        scale, sampling_prob=q, value_discretization_interval=h
    )
    _assert_same_pld(library, "laplace", scale, q, h)


@pytest.mark.parametrize("direction", ["remove", "add"])
def test_pmf_and_infinity_mass_form_a_distribution(direction: str) -> None:
    pmf = connect_dots.gaussian_pmf(0.9, 0.02, 1e-4, direction)  # type: ignore[arg-type]
    assert np.all(pmf.probs >= 0)
    assert 0 <= pmf.infinity < 1e-20
    # Alg. 1's sums telescope to 1; round-off of δ (~1e-16) is divided by e^h − 1 ≈ h in every
    # probability, so the total is 1 only to ~1e-8 at h = 1e-4 (dp_accounting's PMF alike).
    assert pmf.probs.sum() + pmf.infinity == pytest.approx(1.0, abs=1e-6)


def test_an_unsampled_laplace_puts_no_mass_beyond_its_loss_bound() -> None:
    # Loss of Lap(b) with sensitivity 1 is within ±1/b: the grid ends at ⌈(1/b)/h⌉.
    pmf = connect_dots.laplace_pmf(10.0, 1.0, 1e-4, "remove")
    assert pmf.lower == -1000
    assert pmf.lower + pmf.probs.size - 1 == math.ceil(0.1 / 1e-4)
    assert pmf.infinity < 1e-15


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_a_non_positive_parameter_is_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        connect_dots.gaussian_pmf(bad, 1.0, 1e-3, "remove")
    with pytest.raises(ValueError):
        connect_dots.laplace_pmf(bad, 1.0, 1e-3, "remove")


# --- what the engine does with them -----------------------------------------------------------


@pytest.mark.parametrize(
    "mechanism",
    [
        Gaussian(noise_multiplier=1.3),
        PoissonSampled(sampling_rate=0.01, event=Gaussian(noise_multiplier=1.1)),
        Laplace(scale=2.0),
        PoissonSampled(sampling_rate=0.05, event=Laplace(scale=2.0)),
    ],
    ids=lambda m: m.describe(),
)
def test_engine_epsilon_is_unchanged_from_library_pmfs(mechanism: Mechanism) -> None:
    # The same FFT composition fed dp_accounting's PMFs (through its accountant, as privaudit
    # did before) and connect_dots' PMFs. The library path composes into the identity with a
    # 1e-15 tail truncation, which trims a few grid points off each end; that changes the FFT
    # window and so the engine's round-off and tail bounds, by ~1e-8 of ε at most.
    h, delta = 1e-4, 1e-6
    ours = pld.epsilon([(pld.mechanism_pld(mechanism, h), 50)], delta)
    library = pld.epsilon([(pld._library_pld(mechanism, h), 50)], delta)
    assert ours == pytest.approx(library, rel=1e-6, abs=1e-12)


def _dp_event(mechanism: Mechanism) -> Any:
    if isinstance(mechanism, PoissonSampled):
        return dp_event.PoissonSampledDpEvent(mechanism.sampling_rate, _dp_event(mechanism.event))
    if isinstance(mechanism, Gaussian):
        return dp_event.GaussianDpEvent(mechanism.noise_multiplier)
    assert isinstance(mechanism, Laplace)
    return dp_event.LaplaceDpEvent(mechanism.scale)


COMPOSITIONS: list[dict[Mechanism, int]] = [
    {PoissonSampled(sampling_rate=0.01, event=Gaussian(noise_multiplier=1.1)): 1000},
    {Laplace(scale=10.0): 20},
    {PoissonSampled(sampling_rate=0.05, event=Laplace(scale=2.0)): 100},
    {
        Gaussian(noise_multiplier=5.0): 10,
        PoissonSampled(sampling_rate=0.02, event=Gaussian(noise_multiplier=0.9)): 300,
        Laplace(scale=50.0): 5,
    },
]


@pytest.mark.parametrize("delta", [1e-5, 1e-8])
@pytest.mark.parametrize("composition", COMPOSITIONS, ids=lambda c: f"{len(c)} kinds")
def test_account_matches_dp_accountings_pld_accountant_from_above(
    composition: dict[Mechanism, int], delta: float
) -> None:
    reference = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
    reference.compose(
        dp_event.ComposedDpEvent(
            [dp_event.SelfComposedDpEvent(_dp_event(m), c) for m, c in composition.items()]
        )
    )
    expected = reference.get_epsilon(delta)
    found = account(composition, delta).pld.epsilon
    assert found is not None
    # privaudit's composition adds its Chernoff tail bound and FFT round-off to δ, so it sits
    # above the library's ε by at most what that slack is worth (measured ≤ 2e-4). At small δ it
    # composes in extended precision (pld.PRECISE_FRACTION), where its slack (~1e-14) is below
    # the library's own: 1e-15 tail truncations per composition and unclipped double-FFT noise
    # in its δ(ε) (measured ~5e-15 here at δ = 1e-8), so the floor is the library's ε at δ·1.001.
    floor = reference.get_epsilon(delta * 1.001)
    assert floor * (1 - 1e-12) <= found <= expected * (1 + 3e-4)


# --- RDP of the Laplace mechanism -------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.05, 0.5, 1.0, 3.0, 100.0])
def test_laplace_rdp_is_dp_accountings(scale: float) -> None:
    reference = rdp_privacy_accountant.RdpAccountant(orders=list(DEFAULT_RDP_ORDERS))
    reference.compose(dp_event.LaplaceDpEvent(scale), 7)
    ours = rdp_of(
        Laplace(scale=scale), 7, NeighbouringRelation.ADD_OR_REMOVE_ONE, DEFAULT_RDP_ORDERS
    )
    np.testing.assert_allclose(ours, reference._rdp, rtol=1e-14, atol=0)


def test_laplace_rdp_is_mironovs_closed_form() -> None:
    # Mironov 2017, Prop. 6, evaluated directly where it cannot overflow.
    b = 2.0
    orders = (1.5, 2.0, 8.0, 32.0)
    ours = rdp_of(Laplace(scale=b), 1, NeighbouringRelation.ADD_OR_REMOVE_ONE, orders)
    for order, value in zip(orders, ours, strict=True):
        a = order
        closed = math.log(
            a / (2 * a - 1) * math.exp((a - 1) / b) + (a - 1) / (2 * a - 1) * math.exp(-a / b)
        ) / (a - 1)
        assert value == pytest.approx(closed, rel=1e-12)


# --- import cost ------------------------------------------------------------------------------


def _loaded_after_assessing(tmp_path: Path) -> list[str]:
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        import privaudit.assess
        from privaudit.assess import assess
        from privaudit.ledger import append_entry, read_ledger
        from privaudit.policy import load_policy

        folder = Path(sys.argv[1])
        ledger = folder / "ledger.jsonl"
        for mechanism in [
            {"type": "gaussian", "noise_multiplier": 60.0},
            {"type": "dpsgd", "noise_multiplier": 1.1, "sampling_rate": 0.01, "steps": 50,
             "sampling": "poisson"},
            {"type": "distributed_gaussian", "noise_multiplier": 1.2, "clients": 10,
             "survivors": 9, "sampling_rate": 0.01, "steps": 20},
            {"type": "dpfedavg", "noise_multiplier": 1.0, "client_sampling_rate": 0.01,
             "rounds": 5},
            {"type": "laplace", "scale": 500.0},
        ]:
            append_entry(ledger, dataset="d", mechanism=mechanism, privacy_unit="example")
        (folder / "policy.yaml").write_text(
            "version: 1\\norganisation: O\\nsystem: S\\n"
            "tiers:\\n  t: {epsilon: 8.0, delta: 1.0e-6, privacy_unit: example,"
            " accountant: pld}\\n"
            "datasets:\\n  d: {tier: t, size: 60000}\\n",
            encoding="utf-8",
        )
        result = assess(read_ledger(ledger), load_policy(folder / "policy.yaml"))
        print(json.dumps({"modules": sorted(sys.modules), "status": str(result.status)}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"]
    modules: list[str] = answer["modules"]
    return modules


def test_assessing_a_dpsgd_and_fl_ledger_never_imports_dp_accounting(tmp_path: Path) -> None:
    loaded = _loaded_after_assessing(tmp_path)
    heavy = ("dp_accounting", "scipy.stats", "scipy.signal", "scipy.optimize", "scipy.fft")
    assert [m for m in loaded if m.split(".")[0] == "dp_accounting"] == []
    assert [m for m in loaded if m.startswith(heavy)] == []
