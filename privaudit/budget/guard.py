"""A dataset's budget, live: the guard that refuses a release before it would overrun the policy.

The guard holds everything the ledger already records for the dataset (earlier runs included)
and every release charged through it since. :meth:`BudgetGuard.charge` either admits a release
or raises :class:`~privaudit.errors.BudgetExceededError` *before* it happens, so a training loop
stops on the last step that fits.

It decides with the verdict ``privaudit check`` will reach, so a run the guard admitted passes
the gate: the same :func:`~privaudit.accounting.accountant.account` call, the tier's accountant
(PLD unless the tier asks RDP; estimates are never trusted), the tier's δ, and the sequential
composition of every entry of the dataset, which bounds the gate's maximum over partitions.

Cost per release is amortised O(1) (the scheme of :mod:`privaudit.accounting.streaming`): while
the RDP bound (one vector addition) stays below ``refresh_at`` × the limit, nothing more is done;
near the limit one exact search finds how many more repetitions of the release fit, and those are
then admitted by a counter. A change of release (another noise multiplier) searches again.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from privaudit.accounting import rdp as rdp_engine
from privaudit.accounting.accountant import DEFAULT_RDP_ORDERS, Method, account, rdp_of
from privaudit.accounting.dp_events import NeighbouringRelation, flatten, required_relation
from privaudit.errors import BudgetExceededError, InputError
from privaudit.ledger import LedgerEntry, read_ledger
from privaudit.mechanisms import Mechanism
from privaudit.policy import AccountantName, Policy
from privaudit.rounding import up

REFRESH_AT = 0.9
"""Below this fraction of the limit (by RDP) a release is admitted without an exact check."""


@dataclass(frozen=True)
class BudgetLimits:
    """The limits a guard enforces, and where they come from."""

    dataset: str
    tier: str
    epsilon: float
    """The ε the guard stops at: the tier's, or a tighter one asked for."""
    delta: float
    method: Method
    tier_epsilon: float
    per_run_epsilon: float | None
    privacy_unit: str | None

    @property
    def tightened(self) -> bool:
        return self.epsilon < self.tier_epsilon

    def describe(self) -> str:
        """One line, e.g. "ε ≤ 1 at δ = 1e-05 (tier medical, PLD)"; says when tightened."""
        limit = f"ε ≤ {self.epsilon:g} at δ = {self.delta:g} (tier {self.tier}"
        if self.tightened:
            limit += f", tightened from the tier's {self.tier_epsilon:g}"
        return limit + f", {self.method.value.upper()})"


def policy_limits(
    policy: Policy,
    dataset: str,
    *,
    epsilon_limit: float | None = None,
    privacy_unit: str | None = None,
    source: str = "<policy>",
) -> BudgetLimits:
    """The limits ``policy`` sets for ``dataset``. ``epsilon_limit`` may only tighten the tier's
    limit; a looser one is refused. A ``privacy_unit`` other than the policy's is refused (the
    gate would fail the dataset)."""
    spec = policy.datasets.get(dataset)
    if spec is None:
        known = ", ".join(sorted(policy.datasets)) or "none"
        raise InputError(
            source, "datasets", f"dataset {dataset!r} is not in the policy; found {known}"
        )
    tier = policy.tiers[spec.tier]
    limit = tier.epsilon
    if epsilon_limit is not None:
        if not (isinstance(epsilon_limit, int | float) and 0 < epsilon_limit < math.inf):
            raise InputError(
                "<argument>", "epsilon_limit", f"must be a number > 0; found {epsilon_limit!r}"
            )
        if epsilon_limit > tier.epsilon:
            raise InputError(
                "<argument>",
                "epsilon_limit",
                f"may only tighten the policy: tier {spec.tier!r} allows ε ≤ {tier.epsilon:g};"
                f" found {epsilon_limit:g}",
            )
        limit = float(epsilon_limit)
    unit = spec.privacy_unit or tier.privacy_unit
    if privacy_unit is not None and unit is not None and privacy_unit != unit:
        raise InputError(
            "<argument>",
            "privacy_unit",
            f"the policy protects one {unit!r} in dataset {dataset!r}; this run protects one"
            f" {privacy_unit!r}, which the gate would fail",
        )
    method = Method.RDP if tier.accountant is AccountantName.RDP else Method.PLD
    return BudgetLimits(
        dataset=dataset,
        tier=spec.tier,
        epsilon=limit,
        delta=tier.delta,
        method=method,
        tier_epsilon=tier.epsilon,
        per_run_epsilon=tier.per_run_epsilon,
        privacy_unit=unit,
    )


class _Cap:
    """One ε cap over a multiset of base releases, with the amortised O(1) admission test."""

    def __init__(self, limit: float, delta: float, method: Method, counts: Counter[Mechanism]):
        self.limit = limit
        self.delta = delta
        self.method = method
        self.orders = tuple(float(a) for a in DEFAULT_RDP_ORDERS)
        self.counts: Counter[Mechanism] = Counter()
        self.rdp = np.zeros(len(self.orders))
        self.headroom: dict[Mechanism, int] = {}
        self.exact_checks = 0
        self._commit(counts)

    def epsilon(self) -> float:
        """The certified ε of everything admitted, as the gate computes it."""
        return account(self.counts, self.delta, self.method).epsilon

    def fits(self, added: Counter[Mechanism]) -> tuple[bool, float | None]:
        """Whether ``added`` fits; the exact ε when it was computed. Admits nothing."""
        if not added:
            return True, None
        if len(added) == 1:
            [(base, times)] = added.items()
            if self.headroom.get(base, 0) >= times:
                return True, None
        tentative = self.rdp + self._rdp(added)
        rdp_epsilon = float(rdp_engine.epsilon_from_rdp(tentative, self.orders, self.delta)[0])
        if rdp_epsilon <= REFRESH_AT * self.limit:
            return True, None
        exact = self._exact(self.counts + added)
        return exact <= self.limit, exact

    def admit(self, added: Counter[Mechanism], searched: bool) -> None:
        """Record ``added`` (which :meth:`fits` accepted)."""
        if len(added) == 1:
            [(base, times)] = added.items()
            if self.headroom.get(base, 0) >= times:
                self.headroom[base] -= times
                self._commit(added)
                return
        self._commit(added)
        self.headroom.clear()
        if searched and len(added) == 1:
            [base] = added
            self.headroom[base] = self._search(base)

    def _commit(self, added: Counter[Mechanism]) -> None:
        if added:
            self.rdp = self.rdp + self._rdp(added)
            self.counts.update(added)

    def _rdp(self, added: Counter[Mechanism]) -> np.ndarray:
        return sum(
            (
                rdp_of(base, times, NeighbouringRelation.ADD_OR_REMOVE_ONE, self.orders)
                for base, times in added.items()
            ),
            np.zeros(len(self.orders)),
        )

    def _exact(self, counts: Counter[Mechanism]) -> float:
        self.exact_checks += 1
        return account(counts, self.delta, self.method).epsilon

    def _search(self, base: Mechanism) -> int:
        """Largest k with ε(counts + k·base) ≤ limit: doubling, then bisection (ε grows with
        k, so every count up to k fits too)."""
        good, bad = 0, 1
        while self._exact(self.counts + Counter({base: bad})) <= self.limit:
            good, bad = bad, bad * 2
        while bad - good > 1:
            middle = (good + bad) // 2
            if self._exact(self.counts + Counter({base: middle})) <= self.limit:
                good = middle
            else:
                bad = middle
        return good


class BudgetGuard:
    """Admits or refuses releases on one dataset against its policy limits.

    ``history`` is what the ledger already holds for the dataset; :meth:`from_ledger` reads it.
    ``run_history`` is the part of it made by the same run (for a tier's per-run cap).
    """

    def __init__(
        self,
        limits: BudgetLimits,
        history: Iterable[Mechanism] = (),
        run_history: Iterable[Mechanism] = (),
        *,
        source: str = "<ledger>",
    ) -> None:
        self.limits = limits
        self.source = source
        counts = _counts(history)
        if required_relation(counts) is not NeighbouringRelation.ADD_OR_REMOVE_ONE:
            raise InputError(
                source,
                None,
                f"dataset {limits.dataset!r} holds replace-one releases (fixed-size batches or"
                " randomized response); the live guard composes add-or-remove-one releases only",
            )
        self._dataset = _Cap(limits.epsilon, limits.delta, limits.method, counts)
        self._run = (
            None
            if limits.per_run_epsilon is None
            else _Cap(
                min(limits.per_run_epsilon, limits.epsilon),
                limits.delta,
                limits.method,
                _counts(run_history),
            )
        )
        before = self._dataset.epsilon()
        if before > limits.epsilon:
            raise BudgetExceededError(
                f"{source}: dataset {limits.dataset!r} has already spent ε = {up(before)}"
                f" > {limits.describe()}; no step was taken"
            )

    @classmethod
    def from_ledger(
        cls, ledger: str | Path, limits: BudgetLimits, run: str | None = None
    ) -> BudgetGuard:
        """A guard over everything ``ledger`` (which may not exist yet) holds for the dataset."""
        return cls.from_entries(
            read_ledger(ledger, allow_missing=True).entries, limits, run, source=str(ledger)
        )

    @classmethod
    def from_entries(
        cls,
        entries: Iterable[LedgerEntry],
        limits: BudgetLimits,
        run: str | None = None,
        *,
        source: str = "<ledger>",
    ) -> BudgetGuard:
        """A guard over the dataset's part of ``entries`` (a verified ledger a store is about
        to append to: its admission asks the guard under the append's lock)."""
        entries = [e for e in entries if e.dataset == limits.dataset]
        return cls(
            limits,
            [e.mechanism for e in entries],
            [e.mechanism for e in entries if run is not None and e.run == run],
            source=source,
        )

    @property
    def exact_checks(self) -> int:
        """How many exact (PLD or RDP) compositions the guard has run: the amortisation."""
        return self._dataset.exact_checks + (self._run.exact_checks if self._run else 0)

    def epsilon(self) -> float:
        """The dataset's certified ε with everything admitted so far (an exact composition)."""
        return self._dataset.epsilon()

    def count_others(
        self, history: Iterable[Mechanism], run_history: Iterable[Mechanism] = ()
    ) -> None:
        """Count releases other writers appended to the ledger since the guard read it (they
        happened: nothing is refused); every later :meth:`charge` is judged with them."""
        for cap, added in ((self._dataset, _counts(history)), (self._run, _counts(run_history))):
            if cap is not None and added:
                cap._commit(added)
                cap.headroom.clear()  # searched without them

    def charge(self, released: Mechanism | Counter[Mechanism], what: str = "this release") -> None:
        """Admit ``released`` (a mechanism, or base releases with counts), or raise
        :class:`BudgetExceededError` naming the dataset, what was spent and the limit; a refused
        release is not recorded."""
        added = released if isinstance(released, Counter) else _counts([released])
        if required_relation(added) is not NeighbouringRelation.ADD_OR_REMOVE_ONE:
            raise InputError(
                "<argument>", "mechanism", "the live guard composes add-or-remove-one releases"
            )
        caps = [(self._dataset, "dataset")] + ([(self._run, "run")] if self._run else [])
        verdicts = []
        for cap, scope in caps:
            ok, exact = cap.fits(added)
            if not ok:
                self._refuse(cap, scope, exact, what)
            verdicts.append((cap, exact is not None))
        for cap, searched in verdicts:
            cap.admit(added, searched)

    def _refuse(self, cap: _Cap, scope: str, exact: float | None, what: str) -> None:
        spent = cap.epsilon()
        after = f" to {up(exact)}" if exact is not None else ""
        limit = (
            self.limits.describe()
            if scope == "dataset"
            else f"the tier's per-run cap ε ≤ {cap.limit:g}"
        )
        raise BudgetExceededError(
            f"{self.source}: dataset {self.limits.dataset!r} has spent ε = {up(spent)}; {what}"
            f" would take it{after}, over {limit}; it was not taken"
        )


def _counts(mechanisms: Iterable[Mechanism]) -> Counter[Mechanism]:
    return flatten(list(mechanisms))
