"""Where a ledger lives: one interface over the JSON Lines file and a database, the same
entries, canonical JSON and hash chain in both.

A store is named by the ledger argument a user types: a path is the file (the embedded
default), a ``postgresql://`` URL a table in PostgreSQL (``privaudit.integrations.postgres``,
opened by the CLI, which alone may load an integration). Every store reads a fully verified
:class:`~privaudit.ledger.Ledger` and appends all or nothing; with ``admit`` the question
"does it fit?" is asked under the same lock or in the same transaction as the append, so
concurrent writers on any number of machines cannot together overrun a budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from privaudit.ledger import Admit, Ledger, LedgerEntry, NewEntry, append_entries, read_ledger

DATABASE_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(text: str) -> bool:
    """Whether a ledger argument names a database rather than a file."""
    return text.startswith(DATABASE_SCHEMES)


class LedgerStore(Protocol):
    """A ledger's home. ``name`` is what messages show (a database URL without credentials)."""

    @property
    def name(self) -> str: ...

    def read(self, *, allow_missing: bool = False) -> Ledger:
        """The whole ledger, every entry and link verified (errors as
        :func:`~privaudit.ledger.read_ledger`: InputError exit 2, LedgerIntegrityError exit 1)."""
        ...

    def append(
        self, new: Sequence[NewEntry], *, admit: Admit | None = None
    ) -> tuple[LedgerEntry, ...]:
        """Append ``new`` all or none, chained onto the current head; with ``admit``, only if it
        returns None for the verified ledger and the would-be entries (else
        BudgetExceededError, nothing written)."""
        ...


@dataclass(frozen=True)
class FileStore:
    """The JSON Lines file: a file lock serialises appends on one machine."""

    path: Path

    @property
    def name(self) -> str:
        return str(self.path)

    def read(self, *, allow_missing: bool = False) -> Ledger:
        return read_ledger(self.path, allow_missing=allow_missing)

    def append(
        self, new: Sequence[NewEntry], *, admit: Admit | None = None
    ) -> tuple[LedgerEntry, ...]:
        return append_entries(self.path, new, admit=admit)
