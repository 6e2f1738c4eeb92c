"""A shared ledger in PostgreSQL: one budget for many machines, charged atomically.

The store holds exactly the lines a JSON Lines ledger file holds (the same canonical JSON, the
same hash chain; :func:`privaudit.ledger.chain_entries` builds both), one row per entry, and
verifies them exactly as a file is verified. Needs the ``[postgres]`` extra (psycopg 3).

URL
---
``postgresql://[user[:password]@]host[:port]/dbname[?ledger=NAME&libpq parameters]``

``ledger`` (default ``default``; letters, digits, ``.``, ``_``, ``-``) names the ledger inside
the table, so one database holds many ledgers. Every other parameter goes to libpq. The password
comes from the URL, ``PGPASSWORD`` or ``~/.pgpass``, as libpq finds it; :attr:`PostgresStore.name`
and every message show the URL without it.

Schema
------
One table, created on first append if absent (in one transaction, under an advisory lock, so
concurrent first uses do not race)::

    CREATE TABLE privaudit_ledger (
        ledger text   NOT NULL,
        seq    bigint NOT NULL CHECK (seq >= 1),
        prev   char(64) NOT NULL,
        hash   char(64) NOT NULL,
        line   text   NOT NULL,          -- the entry's canonical JSON, without the line break
        PRIMARY KEY (ledger, seq), UNIQUE (ledger, prev), UNIQUE (ledger, hash));

and a trigger that raises on UPDATE, DELETE and TRUNCATE: the table is append-only.

Least privilege
---------------
Let the table's owner create it (one append as the owner, or :meth:`PostgresStore.ensure_schema`)
and give the role privaudit's jobs use only what an append needs::

    CREATE ROLE privaudit_app LOGIN PASSWORD '...';
    GRANT CONNECT ON DATABASE budgets TO privaudit_app;
    GRANT USAGE ON SCHEMA public TO privaudit_app;
    GRANT SELECT, INSERT ON privaudit_ledger TO privaudit_app;

That role cannot update, delete or truncate entries (nor disable the trigger); an owner or
superuser who does is caught by the hash chain when the ledger is next read.

Concurrency
-----------
An append is one transaction: ``pg_advisory_xact_lock`` on a key derived from the ledger's name
serialises the writers of one ledger on every machine; under it the head (or, to ask ``admit``,
the whole verified ledger) is read, the new entries are chained onto it and inserted, and the
transaction commits. A writer that dies before its commit leaves nothing behind; the unique
constraints are the last line of defence against a writer that skips the lock.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import psycopg
from psycopg import sql

from privaudit.errors import BudgetExceededError, InputError, LedgerIntegrityError
from privaudit.ledger import (
    GENESIS,
    Admit,
    Ledger,
    LedgerEntry,
    NewEntry,
    chain_entries,
    entry_bodies,
    entry_hash,
    parse_ledger,
)
from privaudit.stores import SECRET_PARAMETERS, redacted_url, verbatim_lines

__all__ = ["TABLE", "PostgresStore", "open_postgres_store"]

TABLE = "privaudit_ledger"
DEFAULT_LEDGER = "default"
_LEDGER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SCHEMES = ("postgresql", "postgres")
# URL parameters whose values are secrets: never shown.
_SCHEMA_LOCK = "privaudit_ledger schema"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    ledger text NOT NULL,
    seq bigint NOT NULL CHECK (seq >= 1),
    prev char(64) NOT NULL,
    hash char(64) NOT NULL,
    line text NOT NULL,
    PRIMARY KEY (ledger, seq),
    UNIQUE (ledger, prev),
    UNIQUE (ledger, hash)
);
CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{TABLE} is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER {TABLE}_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only();
CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only();
"""


def advisory_key(text: str) -> int:
    """A signed 64-bit ``pg_advisory_xact_lock`` key derived from ``text``."""
    digest = hashlib.sha256(f"privaudit:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class PostgresStore:
    """One ledger (rows with ``ledger = NAME``) in the ``privaudit_ledger`` table.

    ``name`` is the URL without its password. The ledgers :meth:`read` returns carry
    ``Path(ledger)`` (the ledger's name inside the table) as their ``path``.
    """

    url: str = field(repr=False)
    """The URL as given, password included: never shown."""
    ledger: str
    display: str
    """The URL without any password: what messages show."""
    conninfo: str = field(repr=False)
    """The URL handed to libpq: ``url`` without the ``ledger`` parameter."""
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def name(self) -> str:
        return self.display

    # --- the store interface ------------------------------------------------------------------

    def read(self, *, allow_missing: bool = False) -> Ledger:
        with self._connect() as conn:
            try:
                with conn.transaction():
                    exists = self._table_exists(conn)
                    rows = self._select_rows(conn) if exists else []
            except psycopg.Error as error:
                raise self._database_error(error) from None
        return self._verify_rows(rows, allow_missing=allow_missing)

    def append(
        self, new: Sequence[NewEntry], *, admit: Admit | None = None
    ) -> tuple[LedgerEntry, ...]:
        bodies = entry_bodies(new)  # every entry validated before the database is touched
        if not bodies:
            return ()
        seq = 0
        with self._connect() as conn:
            try:
                with self._locked(conn):
                    if admit is None:
                        head, seq = self._head(conn)
                        ledger = None
                    else:
                        ledger = self._verify_rows(self._select_rows(conn), allow_missing=True)
                        head, seq = ledger.head, len(ledger.entries) + 1
                    lines, written = chain_entries(bodies, head, seq, self.name)
                    if admit is not None:
                        assert ledger is not None
                        refusal = admit(ledger, written)
                        if refusal is not None:
                            raise BudgetExceededError(
                                f"{self.name}: {refusal}; nothing was written"
                            )
                    self._insert(conn, lines, written)
            except psycopg.errors.UniqueViolation:
                raise LedgerIntegrityError(
                    self.name,
                    seq,
                    "another writer appended this entry at the same time without the ledger's "
                    "lock; nothing was written",
                ) from None
            except psycopg.Error as error:
                raise self._database_error(error) from None
        return written

    def append_verbatim(self, entries: Sequence[LedgerEntry]) -> None:
        """Write another store's verified chain row for row (see the protocol): into an empty
        ledger only, in one transaction under the ledger's lock, so a first writer racing the
        copy either lands before it (and the copy is refused) or after it."""
        lines = verbatim_lines(entries, self.name)  # a broken chain is refused before connecting
        if not lines:
            return
        with self._connect() as conn:
            try:
                with self._locked(conn):
                    head, _ = self._head(conn)
                    if head != GENESIS:
                        raise InputError(
                            self.name,
                            None,
                            "is not empty; a copy goes only into a new or empty ledger",
                        )
                    self._insert(conn, [line.rstrip(b"\n") for line in lines], entries)
            except psycopg.Error as error:
                raise self._database_error(error) from None

    def ensure_schema(self) -> None:
        """Create the table and its append-only trigger if they are absent (as their owner)."""
        with self._connect() as conn:
            try:
                self._create_schema(conn)
            except psycopg.Error as error:
                raise self._database_error(error) from None

    # --- database steps (one method each, so a test can interpose between them) -------------

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            # Autocommit: every transaction is an explicit ``conn.transaction()`` block.
            conn = psycopg.connect(self.conninfo, autocommit=True)
        except psycopg.Error as error:
            raise InputError(
                self.name, None, f"cannot connect to the database: {self._clean(error)}"
            ) from None
        conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        return conn

    @contextmanager
    def _locked(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        """A transaction holding the ledger's advisory lock (the table created first if absent):
        writers of one ledger, on any machine, take turns; the lock ends with the transaction."""
        if not self._table_exists(conn):
            self._create_schema(conn)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(self.ledger),))
            yield

    def _table_exists(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()
        return bool(row and row[0])

    def _create_schema(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(_SCHEMA_LOCK),))
            if not self._table_exists(conn):
                conn.execute(sql.SQL(_SCHEMA))

    def _select_rows(self, conn: psycopg.Connection[Any]) -> list[tuple[int, str, str, str]]:
        cursor = conn.execute(
            sql.SQL("SELECT seq, prev, hash, line FROM {} WHERE ledger = %s ORDER BY seq").format(
                sql.Identifier(TABLE)
            ),
            (self.ledger,),
        )
        return cursor.fetchall()

    def _head(self, conn: psycopg.Connection[Any]) -> tuple[str, int]:
        """The last entry's hash and the next seq; the last row's columns checked against its
        line (the whole chain is verified by every read)."""
        row = conn.execute(
            sql.SQL(
                "SELECT seq, prev, hash, line FROM {} WHERE ledger = %s ORDER BY seq DESC LIMIT 1"
            ).format(sql.Identifier(TABLE)),
            (self.ledger,),
        ).fetchone()
        if row is None:
            return GENESIS, 1
        seq, prev, hash_, line = row
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if (
            not isinstance(obj, dict)
            or obj.get("seq") != seq
            or obj.get("prev") != prev
            or obj.get("hash") != hash_
            or entry_hash(obj) != hash_
        ):
            raise LedgerIntegrityError(
                self.name,
                seq,
                "the last entry's line does not match its seq, prev or hash (the row was "
                "edited); nothing was written",
            )
        return str(hash_), int(seq) + 1

    def _insert(
        self,
        conn: psycopg.Connection[Any],
        lines: Sequence[bytes],
        entries: Sequence[LedgerEntry],
    ) -> None:
        with conn.cursor() as cursor:
            cursor.executemany(
                sql.SQL(
                    "INSERT INTO {} (ledger, seq, prev, hash, line) VALUES (%s, %s, %s, %s, %s)"
                ).format(sql.Identifier(TABLE)),
                [
                    (self.ledger, entry.seq, entry.prev, entry.hash, line.decode("utf-8"))
                    for line, entry in zip(lines, entries, strict=True)
                ],
            )

    # --- verification -------------------------------------------------------------------------

    def _verify_rows(
        self, rows: Sequence[tuple[int, str, str, str]], *, allow_missing: bool
    ) -> Ledger:
        path = Path(self.ledger)
        if not rows:
            if allow_missing:
                return Ledger(path, (), GENESIS, hashlib.sha256(b"").hexdigest())
            raise InputError(
                self.name,
                None,
                "no such ledger in the database (no entries); its first append creates it",
            )
        for number, (_, _, _, line) in enumerate(rows, start=1):
            if "\n" in line or "\r" in line:
                raise LedgerIntegrityError(
                    self.name, number, "the entry's line holds a line break (the row was edited)"
                )
        data = "".join(line + "\n" for _, _, _, line in rows).encode("utf-8")
        ledger = replace(parse_ledger(data, self.name), path=path)
        for number, ((seq, prev, hash_, _), entry) in enumerate(
            zip(rows, ledger.entries, strict=True), start=1
        ):
            if (seq, prev, hash_) != (entry.seq, entry.prev, entry.hash):
                columns = [
                    name
                    for name, column, value in (
                        ("seq", seq, entry.seq),
                        ("prev", prev, entry.prev),
                        ("hash", hash_, entry.hash),
                    )
                    if column != value
                ]
                raise LedgerIntegrityError(
                    self.name,
                    number,
                    f"the row's {', '.join(columns)} column does not match the entry's line "
                    f"(seq {seq}; the row was edited)",
                )
        return ledger

    # --- messages -----------------------------------------------------------------------------

    def _clean(self, error: BaseException) -> str:
        """An error's text on one line, every secret of the URL blanked out."""
        text = " ".join(str(error).split()) or type(error).__name__
        text = text.replace(self.url, self.display).replace(self.conninfo, self.display)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def _database_error(self, error: psycopg.Error) -> InputError:
        return InputError(self.name, None, f"database error: {self._clean(error)}")


def open_postgres_store(url: str) -> PostgresStore:
    """The ledger a ``postgresql://`` URL names (see the module docstring for the form).

    Raises :class:`InputError` (exit 2), without the password, when the URL is malformed or its
    ``ledger`` parameter is not an identifier. Nothing is connected until the first read or
    append."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        shown = redacted_url(url)
        raise InputError(shown, None, f"is not a valid PostgreSQL URL: {error}") from None
    shown = redacted_url(url)
    if parts.scheme not in _SCHEMES:
        raise InputError(shown, None, "expected a URL starting with postgresql://")
    if parts.fragment:
        raise InputError(shown, None, "a PostgreSQL URL has no #fragment")
    parameters = parse_qsl(parts.query, keep_blank_values=True)
    names = [value for key, value in parameters if key == "ledger"]
    if len(names) > 1:
        raise InputError(shown, "ledger", "appears more than once; give one ledger name")
    ledger = names[0] if names else DEFAULT_LEDGER
    if not _LEDGER_NAME.fullmatch(ledger):
        raise InputError(
            shown,
            "ledger",
            "expected letters, digits, '.', '_' or '-', starting with a letter or digit; "
            f"found {ledger!r}",
        )
    rest = [(key, value) for key, value in parameters if key != "ledger"]
    conninfo = parts._replace(query=urlencode(rest, quote_via=quote)).geturl()
    secrets = [value for key, value in parameters if key in SECRET_PARAMETERS and value]
    if parts.password:
        secrets += [parts.password, unquote(parts.password)]
    if not names:
        shown = _with_ledger(shown, ledger)
    try:
        psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error as error:
        problem = " ".join(str(error).split())
        for secret in secrets:
            problem = problem.replace(secret, "***")
        raise InputError(shown, None, f"is not a valid PostgreSQL URL: {problem}") from None
    return PostgresStore(
        url=url,
        ledger=ledger,
        display=shown,
        conninfo=conninfo,
        secrets=tuple(sorted({s for s in secrets if s}, key=len, reverse=True)),
    )


def _with_ledger(shown: str, ledger: str) -> str:
    return f"{shown}{'&' if '?' in shown else '?'}ledger={ledger}"
