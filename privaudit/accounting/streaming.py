"""A streaming accountant for live training: spend per step or round, refuse before overrunning.

``spend`` costs one vector addition of cached per-release RDP (amortised O(1) per step). While
RDP — an upper bound — says the run is below ``refresh_at`` × the cap, that is all. Near the cap
the tight PLD bound decides, and when a release repeats (the DP-SGD case) the PLD search also
finds how many more repetitions fit, so the following steps cost O(1) again until that headroom is
used up. A step that would take ε over the cap raises :class:`BudgetExceededError` *before*
anything is recorded: the accountant is unchanged and the caller does not run the step.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import numpy as np

from privaudit.accounting import rdp as rdp_engine
from privaudit.accounting.accountant import (
    DEFAULT_PLD_DISCRETISATION,
    DEFAULT_RDP_ORDERS,
    PldAccountant,
    rdp_of,
)
from privaudit.accounting.dp_events import NeighbouringRelation, flatten, required_relation
from privaudit.errors import BudgetExceededError, InputError
from privaudit.mechanisms import Mechanism


class StreamingAccountant:
    """Tracks one dataset's spending against ``epsilon_limit`` at ``delta``."""

    def __init__(
        self,
        epsilon_limit: float,
        delta: float,
        *,
        refresh_at: float = 0.9,
        discretisation: float = DEFAULT_PLD_DISCRETISATION,
        orders: Iterable[float] = DEFAULT_RDP_ORDERS,
    ) -> None:
        if not (isinstance(epsilon_limit, float | int) and 0 < epsilon_limit < math.inf):
            raise InputError(
                "<argument>",
                "epsilon_limit",
                f"must be a finite number > 0; found {epsilon_limit!r}",
            )
        if not (isinstance(delta, float | int) and 0 < delta < 1):
            raise InputError("<argument>", "delta", f"must be in (0, 1); found {delta!r}")
        if not (0 < refresh_at <= 1):
            raise InputError("<argument>", "refresh_at", f"must be in (0, 1]; found {refresh_at!r}")
        self.epsilon_limit = float(epsilon_limit)
        self.delta = float(delta)
        self.refresh_at = refresh_at
        self.discretisation = discretisation
        self.orders = tuple(float(a) for a in orders)
        self._counts: Counter[Mechanism] = Counter()
        self._rdp = np.zeros(len(self.orders))
        self._bound = 0.0
        """A certified ε upper bound for the history (PLD where computed, else RDP)."""
        self._headroom: dict[Mechanism, int] = {}
        self._headroom_bound = math.inf
        self.pld_refreshes = 0

    @property
    def epsilon(self) -> float:
        """A certified upper bound on ε at ``delta`` for everything spent so far."""
        return self._bound

    @property
    def spent(self) -> Counter[Mechanism]:
        """Base releases spent so far with their counts (a copy)."""
        return Counter(self._counts)

    def spend(self, mechanism: Mechanism, count: int = 1) -> float:
        """Record ``count`` repetitions of ``mechanism`` and return the new ε bound, or raise
        :class:`BudgetExceededError` (recording nothing) if they would exceed the limit."""
        if not (isinstance(count, int) and count >= 1):
            raise InputError("<argument>", "count", f"must be an integer >= 1; found {count!r}")
        added = Counter({base: times * count for base, times in flatten([mechanism]).items()})
        if required_relation(added) is not NeighbouringRelation.ADD_OR_REMOVE_ONE:
            raise InputError(
                "<argument>",
                "mechanism",
                "the streaming accountant handles add-or-remove-one releases only; found "
                + mechanism.describe(),
            )
        if len(added) == 1:
            [(base, times)] = added.items()
            if self._headroom.get(base, 0) >= times:
                # PLD has already shown that these repetitions fit: O(1). The bound is the
                # tighter of RDP now and PLD at the end of the headroom (ε grows with steps).
                self._headroom[base] -= times
                self._commit(added)
                self._bound = min(
                    self._headroom_bound, _rdp_epsilon(self.orders, self._rdp, self.delta)
                )
                return self._bound
        tentative_rdp = self._rdp + sum(
            rdp_of(base, times, NeighbouringRelation.ADD_OR_REMOVE_ONE, self.orders)
            for base, times in added.items()
        )
        rdp_epsilon = _rdp_epsilon(self.orders, tentative_rdp, self.delta)
        if rdp_epsilon <= self.refresh_at * self.epsilon_limit:
            self._commit(added, rdp=tentative_rdp)
            self._bound = rdp_epsilon
            return rdp_epsilon
        history = self._counts + added
        pld_epsilon = self._pld(history)
        if pld_epsilon > self.epsilon_limit:
            raise BudgetExceededError(
                f"spending {mechanism.describe()} ×{count} would take ε to {pld_epsilon:.6g}"
                f" > {self.epsilon_limit:g} at δ = {self.delta:g} (PLD); nothing was spent"
            )
        self._commit(added, rdp=tentative_rdp)
        self._bound = min(pld_epsilon, rdp_epsilon)
        self._headroom.clear()
        if len(added) == 1:
            [base] = added
            self._headroom[base], self._headroom_bound = self._search_headroom(base)
        return self._bound

    def remaining(self, mechanism: Mechanism) -> int:
        """How many more repetitions of ``mechanism`` fit under the limit (PLD, exact search)."""
        added = flatten([mechanism])
        if len(added) != 1:
            raise InputError("<argument>", "mechanism", "expected a single repeated release")
        [(base, times)] = added.items()
        return self._search_headroom(base)[0] // times

    def _commit(self, added: Counter[Mechanism], rdp: np.ndarray | None = None) -> None:
        if rdp is None:
            rdp = self._rdp + sum(
                rdp_of(base, times, NeighbouringRelation.ADD_OR_REMOVE_ONE, self.orders)
                for base, times in added.items()
            )
        self._rdp = rdp
        self._counts.update(added)

    def _pld(self, history: Counter[Mechanism]) -> float:
        self.pld_refreshes += 1
        accountant = PldAccountant(discretisation=self.discretisation)
        for base, times in history.items():
            accountant.compose(base, times)
        return accountant.get_epsilon(self.delta)

    def _search_headroom(self, base: Mechanism) -> tuple[int, float]:
        """Largest k with PLD ε(history + k·base) ≤ limit (doubling, then bisection), and that
        ε, which bounds every history in between (ε is monotone in the number of steps)."""

        def fits(k: int) -> tuple[bool, float]:
            eps = self._pld(self._counts + Counter({base: k}))
            return eps <= self.epsilon_limit, eps

        good, good_eps, bad = 0, self._bound, 1
        while True:
            ok, eps = fits(bad)
            if not ok:
                break
            good, good_eps = bad, eps
            bad *= 2
        while bad - good > 1:
            middle = (good + bad) // 2
            ok, eps = fits(middle)
            if ok:
                good, good_eps = middle, eps
            else:
                bad = middle
        return good, good_eps


def _rdp_epsilon(orders: tuple[float, ...], rdp: np.ndarray, delta: float) -> float:
    epsilon, _ = rdp_engine.epsilon_from_rdp(rdp, orders, delta)
    return float(epsilon)
