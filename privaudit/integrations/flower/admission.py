"""The budget guard of a Flower run: before a round starts, does its release still fit the
dataset's limit after everything the ledger holds for the dataset?

Both Flower entry points use it: privaudit's own ServerApp (distributed noise over secure
aggregation) and :class:`~privaudit.integrations.flower.strategy.GuardedStrategy` around a
Flower strategy. The decision is :class:`~privaudit.budget.guard.BudgetGuard`'s, the verdict
``privaudit check`` reaches; the ledger is read afresh each time, so releases other runs wrote
meanwhile count too.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from privaudit.budget.guard import BudgetGuard, BudgetLimits, policy_limits
from privaudit.errors import BudgetExceededError, InputError
from privaudit.ledger import Admit, Ledger, LedgerEntry
from privaudit.mechanisms import Mechanism
from privaudit.policy import load_policy


class Admission:
    """Admits a run's rounds against ``policy``'s limit for ``dataset`` (tightened, never
    loosened, by ``epsilon_limit``); without a policy every round is admitted."""

    def __init__(
        self,
        ledger: str | Path,
        dataset: str,
        run: str,
        *,
        policy: str | Path | None = None,
        epsilon_limit: float | None = None,
        privacy_unit: str | None = None,
    ) -> None:
        self.ledger = str(ledger)
        self.dataset = dataset
        self.run = run
        self.limits: BudgetLimits | None = None
        if policy is not None:
            self.limits = policy_limits(
                load_policy(Path(policy)),
                dataset,
                epsilon_limit=epsilon_limit,
                privacy_unit=privacy_unit,
                source=str(policy),
            )
        elif epsilon_limit is not None:
            raise InputError(
                "<argument>",
                "epsilon_limit",
                "expected a policy with it: a limit is tightened from a tier's, never set alone",
            )

    def describe(self) -> str:
        return "no policy: every round admitted" if self.limits is None else self.limits.describe()

    def refusal(
        self, release: Mechanism, what: str, pending: Iterable[Mechanism] = ()
    ) -> str | None:
        """None when ``release`` fits after the ledger and the ``pending`` releases not yet
        written; otherwise why it does not (one line)."""
        if self.limits is None:
            return None
        try:
            guard = BudgetGuard.from_ledger(self.ledger, self.limits, self.run)
            for written_soon in pending:
                guard.charge(written_soon, what="a release not yet written")
            guard.charge(release, what=what)
        except BudgetExceededError as error:
            return str(error)
        return None

    def admit(self, what: str) -> Admit | None:
        """The question the ledger's append asks under its lock: do the entries being written
        still fit after everything the ledger holds at that moment? Checking first and
        appending later would let another run's rounds slip in between; None without a
        policy."""
        limits = self.limits
        if limits is None:
            return None

        def admit(ledger: Ledger, new: tuple[LedgerEntry, ...]) -> str | None:
            try:
                guard = BudgetGuard.from_entries(
                    ledger.entries, limits, self.run, source=self.ledger
                )
                for entry in new:
                    if entry.dataset == limits.dataset:
                        guard.charge(entry.mechanism, what=what)
            except BudgetExceededError as error:
                return str(error)
            return None

        return admit
