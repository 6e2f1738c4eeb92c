"""One accountant interface over two certified backends (PLD and RDP).

Both backends are upper bounds on ε(δ):
- PLD: privacy-loss distributions with pessimistic discretisation and connect-the-dots
  (Doroshenko, Ghazi, Kamath, Kumar & Manurangsi 2022), composed by FFT convolution
  (Koskela, Jälkö & Honkela 2020). Tight to the discretisation interval and never below the truth.
  Single releases of the Gaussian and Laplace mechanisms (unsampled or Poisson-subsampled) are
  built by privaudit's vectorised copy of dp_accounting's construction
  (:mod:`privaudit.accounting.connect_dots`, tested equal to it); other releases by dp_accounting.
- RDP: Rényi DP of the (subsampled) Gaussian (Mironov 2017; Mironov, Talwar & Zhang 2019) and of
  the Laplace mechanism (Mironov 2017, Prop. 6) with the RDP → (ε, δ) conversion of Balle et al.
  2020 (Prop. 12); other releases through dp_accounting's RDP accountant.

dp_accounting is imported only when a release needs it (randomized response, sampling without
replacement, replace-one relation, ...): its package ``__init__`` loads scipy.stats, scipy.signal
and scipy.optimize, ~0.6 s that a CI gate over a DP-SGD or federated ledger must not pay.

Every result carries the settings that produced it: the neighbouring relation, the PLD
discretisation, the RDP orders and the library version. Accountants validate the whole
composition with a dry run before composing anything, so a failure leaves nothing half-composed.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import cache, lru_cache
from importlib.metadata import version
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from privaudit.accounting import pld as pld_engine
from privaudit.accounting import rdp as rdp_engine
from privaudit.accounting.dp_events import (
    NeighbouringRelation,
    contains_tuning,
    flatten,
    required_relation,
    to_dp_event,
)
from privaudit.errors import InputError, UnsupportedMechanismError
from privaudit.mechanisms import (
    Gaussian,
    Laplace,
    Mechanism,
    NonPrivate,
    PoissonSampled,
    Tuning,
)

DEFAULT_PLD_DISCRETISATION = 1e-4
"""dp_accounting's default value-discretisation interval; within 0.1% of exact on DP-SGD."""

DEFAULT_RDP_ORDERS: tuple[float, ...] = tuple(float(a) for a in rdp_engine.DEFAULT_ORDERS)


class Method(StrEnum):
    """Certified accountants: each returns an upper bound on ε(δ)."""

    PLD = "pld"
    RDP = "rdp"


def _dp_relation(relation: NeighbouringRelation) -> Any:
    """dp_accounting's NeighboringRelation for ``relation`` (imports dp_accounting)."""
    from dp_accounting.privacy_accountant import NeighboringRelation as DpNeighbouring

    return {
        NeighbouringRelation.ADD_OR_REMOVE_ONE: DpNeighbouring.ADD_OR_REMOVE_ONE,
        NeighbouringRelation.REPLACE_ONE: DpNeighbouring.REPLACE_ONE,
    }[relation]


class MethodResult(BaseModel):
    """One backend's answer for one composition."""

    model_config = ConfigDict(frozen=True)

    method: Method
    supported: bool
    epsilon: float | None = None
    """ε at ``delta``; ``inf`` for an unbounded loss; None when unsupported."""
    delta: float
    reason: str | None = None
    """Why the backend could not account for the composition, when it could not."""
    rdp_order: float | None = None
    settings: dict[str, Any]
    delta_at_epsilon: float | None = None
    """δ at the queried ε (``Accounting.epsilon_query``), when one was asked for."""


class Accounting(BaseModel):
    """Both certified backends on one composition, and which one the verdict uses."""

    model_config = ConfigDict(frozen=True)

    delta: float
    relation: NeighbouringRelation
    pld: MethodResult
    rdp: MethodResult
    method: Method | None
    """The backend whose ε is the verdict (the requested one if it can, else the other)."""
    epsilon: float
    """Verdict ε: the chosen backend's bound, ``inf`` when neither backend can account."""
    epsilon_query: float | None = None
    delta_at_epsilon: float | None = None
    """The verdict backend's δ at ``epsilon_query`` (1.0 when neither backend can account)."""

    def result(self, method: Method) -> MethodResult:
        return self.pld if method is Method.PLD else self.rdp


class PrivacyAccountant:
    """Base of the two backends: ``unsupported_reason`` (dry run), ``compose``, ``get_epsilon``,
    ``get_delta``. Compose validates the event first, so a refused event changes nothing.

    Each distinct (mechanism, count) is accounted once per process and cached: a ledger whose
    partitions share releases, or a gate run over many entries of few kinds, pays for each kind
    once, and composing the cached pieces is one FFT convolution (PLD) or one vector sum (RDP).
    """

    method: Method

    def __init__(self, relation: NeighbouringRelation) -> None:
        self.relation = relation
        self._probe: Any = None  # dp_accounting backend, never composed: dry runs only

    def _make_backend(self) -> Any:
        raise NotImplementedError

    def _natively_supported(self, mechanism: Mechanism) -> bool:
        """True when privaudit accounts for ``mechanism`` itself (no dp_accounting), for exactly
        the releases dp_accounting's backend also accepts, so the answer cannot differ."""
        return False

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "accountant": self.method.value,
            "neighbouring_relation": self.relation.value,
            "library": f"dp-accounting {_dp_accounting_version()}",
        }

    def unsupported_reason(self, mechanism: Mechanism) -> str | None:
        """None if this backend can account for ``mechanism``, else why not."""
        if self._natively_supported(mechanism):
            return None
        event = to_dp_event(mechanism, self.relation)
        if self._probe is None:
            self._probe = self._make_backend()
        if self._probe.supports(event):
            return None
        probe = self._make_backend()
        try:
            probe.compose(event)
        except Exception as error:  # dp_accounting reports through its own exception type
            details = getattr(error, "error_details", None)
            message = getattr(details, "error_message", None) or str(error)
            return f"{mechanism.describe()}: {' '.join(str(message).split())}"
        return f"{mechanism.describe()}: not supported"

    def compose(self, mechanism: Mechanism, count: int = 1) -> PrivacyAccountant:
        if not (isinstance(count, int) and count >= 1):
            raise InputError("<argument>", "count", f"must be an integer >= 1; found {count!r}")
        reason = self.unsupported_reason(mechanism)
        if reason is not None:
            raise UnsupportedMechanismError(self.method.value, mechanism.describe(), reason)
        self._add(mechanism, count)
        return self

    def _add(self, mechanism: Mechanism, count: int) -> None:
        raise NotImplementedError

    def get_epsilon(self, delta: float) -> float:
        _check_probability("delta", delta)
        return self._epsilon(delta)

    def get_delta(self, epsilon: float) -> float:
        if not (isinstance(epsilon, float | int) and epsilon >= 0):
            raise InputError("<argument>", "epsilon", f"must be >= 0; found {epsilon!r}")
        return self._delta(float(epsilon))

    def _epsilon(self, delta: float) -> float:
        raise NotImplementedError

    def _delta(self, epsilon: float) -> float:
        raise NotImplementedError

    def optimal_order(self, delta: float) -> float | None:
        return None


class PldAccountant(PrivacyAccountant):
    """PLD accountant: dp_accounting's pessimistic connect-the-dots single-release PLDs (built by
    privaudit for Gaussian and Laplace releases), composed by privaudit's FFT engine."""

    method = Method.PLD

    def __init__(
        self,
        relation: NeighbouringRelation = NeighbouringRelation.ADD_OR_REMOVE_ONE,
        discretisation: float = DEFAULT_PLD_DISCRETISATION,
    ) -> None:
        if not (0 < discretisation < 1):
            raise InputError(
                "<argument>", "discretisation", f"must be in (0, 1); found {discretisation!r}"
            )
        self.discretisation = discretisation
        super().__init__(relation)
        self._parts: list[tuple[pld_engine.MechanismPld, int]] = []
        self._gaussian_precision = 0.0

    def _make_backend(self) -> Any:
        from dp_accounting.pld import pld_privacy_accountant

        return pld_privacy_accountant.PLDAccountant(
            neighboring_relation=_dp_relation(self.relation),
            value_discretization_interval=self.discretisation,
        )

    def _natively_supported(self, mechanism: Mechanism) -> bool:
        # dp_accounting's PLDAccountant accepts these under add-or-remove-one; connect_dots
        # builds the same PLDs (NonPrivate needs no PLD at all).
        return self.relation is NeighbouringRelation.ADD_OR_REMOVE_ONE and (
            isinstance(mechanism, NonPrivate) or pld_engine.additive_noise(mechanism) is not None
        )

    def unsupported_reason(self, mechanism: Mechanism) -> str | None:
        if self.relation is NeighbouringRelation.REPLACE_ONE:
            # dp_accounting's PLD scales Gaussians differently from its RDP under REPLACE_ONE and
            # cannot do fixed-size sampling at all; privaudit only uses RDP under replace-one.
            return "PLD is used under the add_or_remove_one relation only"
        if contains_tuning(mechanism):
            return (
                f"{mechanism.describe()}: no privacy-loss distribution is known for tuning (a"
                " random number of runs, the best one released); Papernot & Steinke 2022 bound"
                " its Rényi DP only"
            )
        return super().unsupported_reason(mechanism)

    def _add(self, mechanism: Mechanism, count: int) -> None:
        if isinstance(mechanism, Gaussian):
            # Unsampled Gaussians compose exactly into one Gaussian with 1/σ² = Σ count/σ_i²
            # (Dong, Roth & Su 2019, Cor. 3.3): one discretisation instead of one per release.
            self._gaussian_precision += count / mechanism.noise_multiplier**2
            return
        self._parts.append((pld_engine.mechanism_pld(mechanism, self.discretisation), count))

    def _components(self) -> list[tuple[pld_engine.MechanismPld, int]]:
        parts = list(self._parts)
        if self._gaussian_precision > 0:
            sigma = 1.0 / math.sqrt(self._gaussian_precision)
            merged = Gaussian(noise_multiplier=sigma)
            parts.append((pld_engine.mechanism_pld(merged, self.discretisation), 1))
        return parts

    def _epsilon(self, delta: float) -> float:
        return pld_engine.epsilon(self._components(), delta)

    def _delta(self, epsilon: float) -> float:
        return pld_engine.delta(self._components(), epsilon)

    @property
    def settings(self) -> dict[str, Any]:
        return {
            **super().settings,
            "discretisation": self.discretisation,
            "estimate": "pessimistic",
            "discretisation_method": "connect_the_dots",
            "single_release": "privaudit's vectorised construction of dp-accounting's pessimistic"
            " connect-the-dots PLD for Gaussian and Laplace releases (unsampled or Poisson"
            "-subsampled), tested equal to dp-accounting's; dp-accounting's own for other releases",
            "composition": "privaudit FFT engine (tail and round-off bounds added to δ)",
        }


class RdpAccountant(PrivacyAccountant):
    """RDP accountant over a stated set of Rényi orders: privaudit's RDP of the (subsampled)
    Gaussian and the Laplace mechanism, dp_accounting's RDP accountant for other releases."""

    method = Method.RDP

    def __init__(
        self,
        relation: NeighbouringRelation = NeighbouringRelation.ADD_OR_REMOVE_ONE,
        orders: Iterable[float] = DEFAULT_RDP_ORDERS,
    ) -> None:
        self.orders = tuple(float(a) for a in orders)
        if not self.orders or any(not (a > 1) or math.isinf(a) for a in self.orders):
            raise InputError("<argument>", "orders", "RDP orders must be finite and > 1")
        super().__init__(relation)
        self._rdp = np.zeros(len(self.orders))
        self._empty = True

    def _make_backend(self) -> Any:
        from dp_accounting.rdp import rdp_privacy_accountant

        return rdp_privacy_accountant.RdpAccountant(
            orders=list(self.orders), neighboring_relation=_dp_relation(self.relation)
        )

    def _natively_supported(self, mechanism: Mechanism) -> bool:
        # Exactly the releases rdp_of computes without dp_accounting, all of which dp_accounting's
        # RdpAccountant also accepts under add-or-remove-one.
        return (
            self.relation is NeighbouringRelation.ADD_OR_REMOVE_ONE
            and _native_rdp_kind(mechanism) is not None
        )

    def unsupported_reason(self, mechanism: Mechanism) -> str | None:
        node = mechanism.expand()
        if isinstance(node, Tuning):
            # privaudit applies the tuning theorems to the candidate run's own RDP curve.
            for inner in flatten([node.event]):
                reason = self.unsupported_reason(inner)
                if reason is not None:
                    return reason
            return None
        return super().unsupported_reason(mechanism)

    def _add(self, mechanism: Mechanism, count: int) -> None:
        self._rdp = self._rdp + rdp_of(mechanism, count, self.relation, self.orders)
        self._empty = False

    def _epsilon(self, delta: float) -> float:
        return self._epsilon_and_order(delta)[0]

    def _epsilon_and_order(self, delta: float) -> tuple[float, float | None]:
        if self._empty:
            return 0.0, None
        epsilon, order = rdp_engine.epsilon_from_rdp(self._rdp, self.orders, delta)
        found = float(epsilon)
        return found, None if math.isinf(found) else float(order)

    def _delta(self, epsilon: float) -> float:
        if self._empty:
            return 0.0
        delta, _ = rdp_engine.delta_from_rdp(self._rdp, self.orders, epsilon)
        return float(delta)

    def optimal_order(self, delta: float) -> float | None:
        return self._epsilon_and_order(delta)[1]

    @property
    def settings(self) -> dict[str, Any]:
        orders = self.orders
        described = ("privaudit default" if orders == DEFAULT_RDP_ORDERS else "custom") + (
            f" ({len(orders)} orders, {min(orders):g}..{max(orders):g})"
        )
        return {
            **super().settings,
            "orders": described,
            "subsampled_gaussian": "privaudit rdp engine (MTZ19 exact series, signed terms)",
            "laplace": "privaudit rdp engine (Mironov 2017, Prop. 6; dp-accounting's formula)",
            "conversion": "Canonne, Kamath & Steinke 2020, Prop. 12",
            "tuning": "privaudit rdp engine (Papernot & Steinke 2022, Thms. 2 and 6)",
        }


@lru_cache(maxsize=4096)
def rdp_of(
    mechanism: Mechanism, count: int, relation: NeighbouringRelation, orders: tuple[float, ...]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """RDP of ``count`` repetitions (composition adds RDP: Mironov 2017, Prop. 1)."""
    if isinstance(mechanism, Tuning):
        # One candidate run's curve (its own releases composed), then the tuning theorem.
        run = np.zeros(len(orders))
        for inner, times in flatten([mechanism.event]).items():
            run = run + rdp_of(inner, times, relation, orders)
        tuned = rdp_engine.rdp_tuning(run, orders, mechanism.mean, mechanism.shape) * count
        tuned.setflags(write=False)
        return tuned
    kind = (
        _native_rdp_kind(mechanism) if relation is NeighbouringRelation.ADD_OR_REMOVE_ONE else None
    )
    if kind is not None:
        if kind == "laplace":
            assert isinstance(mechanism, Laplace)
            step = rdp_engine.rdp_laplace(mechanism.scale, orders)
        elif kind == "non_private":
            step = np.full(len(orders), math.inf)  # dp_accounting: rdp += inf
        else:
            # The Gaussian family goes through privaudit's engine: exact signed series at
            # fractional orders where dp_accounting 0.6 adds |terms| (looser) or gives up and
            # drops the order.
            if isinstance(mechanism, PoissonSampled):
                assert isinstance(mechanism.event, Gaussian)
                q, sigma = mechanism.sampling_rate, mechanism.event.noise_multiplier
            else:
                assert isinstance(mechanism, Gaussian)
                q, sigma = 1.0, mechanism.noise_multiplier
            step = _gaussian_step_rdp(q, sigma, orders)
        rdp = np.asarray(step, dtype=np.float64) * count
        rdp.setflags(write=False)
        return rdp
    from dp_accounting.rdp import rdp_privacy_accountant

    backend = rdp_privacy_accountant.RdpAccountant(
        orders=list(orders), neighboring_relation=_dp_relation(relation)
    )
    backend.compose(to_dp_event(mechanism, relation), count)
    rdp = np.array(backend._rdp, dtype=np.float64)
    rdp.setflags(write=False)
    return rdp


@lru_cache(maxsize=1024)
def _gaussian_step_rdp(
    q: float, sigma: float, orders: tuple[float, ...]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    # One step's curve, cached apart from the count: a ledger's runs repeat one release with
    # different step counts (the gate's per-run caps, the guard's blocks), and the series is the
    # costly part.
    step = np.asarray(rdp_engine.rdp_subsampled_gaussian(q, sigma, np.asarray(orders)))
    step.setflags(write=False)
    return step


def _native_rdp_kind(mechanism: Mechanism) -> str | None:
    """Which of privaudit's own RDP formulas covers ``mechanism`` (add-or-remove-one), if any."""
    if isinstance(mechanism, Gaussian):
        return "gaussian"
    if isinstance(mechanism, PoissonSampled) and isinstance(mechanism.event, Gaussian):
        return "gaussian"
    if isinstance(mechanism, Laplace):
        return "laplace"
    if isinstance(mechanism, NonPrivate):
        return "non_private"
    return None


def account(
    mechanisms: Iterable[Mechanism] | Mapping[Mechanism, int],
    delta: float,
    method: Method = Method.PLD,
    *,
    discretisation: float = DEFAULT_PLD_DISCRETISATION,
    orders: Iterable[float] = DEFAULT_RDP_ORDERS,
    epsilon: float | None = None,
) -> Accounting:
    """ε at ``delta`` for the sequential composition of ``mechanisms`` with both backends,
    and, if ``epsilon`` is given, δ at that ε too.

    The neighbouring relation is add-or-remove-one unless a release is only defined under
    replace-one. The verdict uses ``method`` when it can account for every release, else the
    other certified backend; when neither can, the verdict ε is ``inf`` (never a guess).
    """
    _check_probability("delta", delta)
    if epsilon is not None and not (isinstance(epsilon, float | int) and 0 <= epsilon < math.inf):
        raise InputError(
            "<argument>", "epsilon", f"must be a finite number >= 0; found {epsilon!r}"
        )
    counts = (
        flatten(mechanisms) if not isinstance(mechanisms, Mapping) else flatten_counts(mechanisms)
    )
    key = tuple(sorted(counts.items(), key=lambda item: item[0].describe()))
    return _account_cached(
        key,
        delta,
        method,
        discretisation,
        tuple(float(a) for a in orders),
        None if epsilon is None else float(epsilon),
    )


@lru_cache(maxsize=1024)
def _account_cached(
    counts: tuple[tuple[Mechanism, int], ...],
    delta: float,
    method: Method,
    discretisation: float,
    orders: tuple[float, ...],
    epsilon: float | None,
) -> Accounting:
    # Partitions that hold the same releases (FL silos running the same schedule) and repeated
    # questions about one composition are answered once per process.
    relation = required_relation(mechanism for mechanism, _ in counts)
    pld = _run(PldAccountant(relation, discretisation), counts, delta, epsilon)
    rdp = _run(RdpAccountant(relation, orders), counts, delta, epsilon)
    chosen = pld if method is Method.PLD else rdp
    fallback = rdp if method is Method.PLD else pld
    verdict = _verdict(chosen, fallback)
    return Accounting(
        delta=delta,
        relation=relation,
        pld=pld,
        rdp=rdp,
        method=None if verdict is None else verdict.method,
        epsilon=math.inf if verdict is None or verdict.epsilon is None else verdict.epsilon,
        epsilon_query=epsilon,
        delta_at_epsilon=None
        if epsilon is None
        else 1.0
        if verdict is None or verdict.delta_at_epsilon is None
        else verdict.delta_at_epsilon,
    )


def _verdict(chosen: MethodResult, fallback: MethodResult) -> MethodResult | None:
    """The requested backend's bound, unless it has none (unsupported, or infinite where the
    other certified backend is finite, e.g. PLD below its truncated tail mass at tiny δ)."""

    def finite(result: MethodResult) -> bool:
        return result.supported and result.epsilon is not None and math.isfinite(result.epsilon)

    for candidate in (chosen, fallback):
        if finite(candidate):
            return candidate
    return chosen if chosen.supported else fallback if fallback.supported else None


def flatten_counts(weighted: Mapping[Mechanism, int]) -> Counter[Mechanism]:
    total: Counter[Mechanism] = Counter()
    for mechanism, count in weighted.items():
        for base, times in flatten([mechanism]).items():
            total[base] += times * count
    return total


def _run(
    accountant: PrivacyAccountant,
    counts: tuple[tuple[Mechanism, int], ...],
    delta: float,
    epsilon: float | None = None,
) -> MethodResult:
    for mechanism, _ in counts:
        reason = accountant.unsupported_reason(mechanism)
        if reason is not None:
            return _unsupported(accountant, delta, reason)
    try:
        # Extreme but legal parameters (σ = 1e-300, 10^23 steps) can overflow inside the
        # backend; that is a failure to bound, never a reason to crash or to report a number.
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # A fixed order makes the float rounding, and so the printed digits, reproducible.
            for mechanism, count in counts:
                accountant.compose(mechanism, count)
            found = accountant.get_epsilon(delta) if counts else 0.0
            order = accountant.optimal_order(delta) if counts else None
            delta_found = None if epsilon is None else accountant.get_delta(epsilon)
    except (ArithmeticError, ValueError, MemoryError) as error:
        return _unsupported(
            accountant, delta, f"numerical failure: {type(error).__name__}: {error}"
        )
    if math.isnan(found) or found < 0:
        return _unsupported(accountant, delta, f"numerical failure: ε came out as {found!r}")
    if delta_found is not None and not (0 <= delta_found <= 1):
        return _unsupported(accountant, delta, f"numerical failure: δ came out as {delta_found!r}")
    return MethodResult(
        method=accountant.method,
        supported=True,
        epsilon=found,
        delta=delta,
        rdp_order=order,
        settings=accountant.settings,
        delta_at_epsilon=delta_found,
    )


def _unsupported(accountant: PrivacyAccountant, delta: float, reason: str) -> MethodResult:
    return MethodResult(
        method=accountant.method,
        supported=False,
        delta=delta,
        reason=" ".join(reason.split()),
        settings=accountant.settings,
    )


def _check_probability(name: str, value: float) -> None:
    if not (isinstance(value, float | int) and 0 < value < 1):
        raise InputError("<argument>", name, f"must be in (0, 1); found {value!r}")


@cache
def _dp_accounting_version() -> str:
    # importlib.metadata reads the installed version without importing the package.
    return version("dp-accounting")


def versions() -> dict[str, str]:
    """Versions of the libraries whose code computes ε, for the record of every result."""
    return {"dp-accounting": _dp_accounting_version()}
