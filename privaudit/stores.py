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

import fcntl
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from privaudit.errors import InputError
from privaudit.ledger import (
    GENESIS,
    Admit,
    Ledger,
    LedgerEntry,
    NewEntry,
    append_entries,
    entry_line,
    read_ledger,
)

DATABASE_SCHEMES = ("postgresql://", "postgres://")
SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
"""Connection parameters whose values are secrets: never shown."""


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

    def append_verbatim(self, entries: Sequence[LedgerEntry]) -> None:
        """Write already-chained ``entries`` (another store's, verified) exactly as they are:
        the same seq, prev and hash, and the canonical line of each
        (:func:`~privaudit.ledger.entry_line`) byte for byte, so a copy verifies and hashes
        like its source. All or nothing, and only into an empty store: when it already holds
        an entry, raise :class:`~privaudit.errors.InputError` (exit 2) and write nothing. The
        entries must form a whole chain from the first (seq 1, prev 64 zeros); a gap or a
        broken link is an InputError too, raised before anything is written."""
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

    def append_verbatim(self, entries: Sequence[LedgerEntry]) -> None:
        data = b"".join(verbatim_lines(entries, self.name))
        if not data:
            return
        source = self.name
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise InputError(source, None, f"cannot open the ledger: {error.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InputError(source, None, "is not a regular file; expected a ledger file")
            # Under the append lock: no writer can add a first entry between the check and ours.
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size:
                raise InputError(
                    source, None, "is not empty; a copy goes only into a new or empty ledger"
                )
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(0, f"only {written} of {len(data)} bytes were written")
                os.fsync(fd)
            except OSError as error:
                os.ftruncate(fd, 0)  # it was empty: leave it so, never half a copy
                raise InputError(
                    source, None, f"could not write the copy: {error.strerror}; nothing was kept"
                ) from None
        finally:
            os.close(fd)  # closing releases the lock


def verbatim_lines(entries: Sequence[LedgerEntry], source: str) -> list[bytes]:
    """The canonical lines of ``entries`` after checking that they are one whole chain from the
    first entry; what every store's ``append_verbatim`` writes."""
    lines: list[bytes] = []
    head = GENESIS
    for number, entry in enumerate(entries, start=1):
        if entry.seq != number or entry.prev != head:
            raise InputError(
                source,
                None,
                f"the entries to copy are not one chain: entry {entry.seq} at position {number}"
                " does not follow the one before it; nothing was written",
            )
        lines.append(entry_line(entry))
        head = entry.hash
    return lines


def redacted_url(url: str) -> str:
    """``url`` with the password of its user part and of its query parameters removed."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url if "@" not in url else "<a URL with credentials>"
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        userinfo, _, hostport = authority.rpartition("@")
        user = userinfo.split(":", 1)[0]
        authority = f"{user}@{hostport}" if user else hostport
    path, question, query = tail.partition("?")
    if question:
        kept = [item for item in query.split("&") if item.split("=", 1)[0] not in SECRET_PARAMETERS]
        query = "&".join(kept)
        question = "?" if query else ""
    return f"{scheme}{sep}{authority}{slash}{path}{question}{query}"
