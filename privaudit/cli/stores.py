"""The ledger a user names: a file path opens the JSON Lines file, a ``postgresql://`` URL the
shared ledger in PostgreSQL (loaded only then, so the file commands never pay for a driver).
Passwords never reach a message: a database is shown by :func:`display_name`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from privaudit.errors import InputError, PrivauditError
from privaudit.stores import FileStore, LedgerStore, is_database_url, redacted_url

POSTGRES_EXTRA = "pip install 'privaudit[postgres]'"


def open_store(text: str) -> LedgerStore:
    """The store ``text`` names; InputError (exit 2, one line) when a database URL cannot be
    opened: the [postgres] extra is missing, or the server refuses or cannot be reached."""
    if not is_database_url(text):
        return FileStore(Path(text))
    name = display_name(text)
    try:
        # Inside the function: the adapter (and psycopg) is an optional extra, loaded only for
        # a database URL.
        from privaudit.integrations.postgres import open_postgres_store

        opener: Callable[[str], LedgerStore] = open_postgres_store
    except ImportError:
        raise InputError(
            name, None, f"a PostgreSQL ledger needs the [postgres] extra: {POSTGRES_EXTRA}"
        ) from None
    try:
        return opener(text)
    except PrivauditError as error:
        raise _scrubbed(error, text, name) from None
    except Exception as error:  # the driver's own errors: unreachable, refused, bad database
        problem = _scrub(str(error), text)
        raise InputError(name, None, f"cannot open the ledger: {problem}") from None


def local_path(text: str) -> Path | None:
    """The file a ledger argument names, None for a database URL (nothing is opened)."""
    return None if is_database_url(text) else Path(text)


def file_path(store: LedgerStore) -> Path | None:
    """The file of a file store, None for a database."""
    return store.path if isinstance(store, FileStore) else None


def require_file(store: LedgerStore, why: str) -> Path:
    """The file of ``store``; exit 2 naming ``why`` when it is a database."""
    path = file_path(store)
    if path is None:
        raise InputError(store.name, None, f"is a database ledger; {why}")
    return path


def file_only(text: str, why: str) -> Path:
    """A ledger argument that must be a file (a command that writes beside it): a database URL
    is refused before anything happens rather than taken for a file named ``postgresql:``."""
    if is_database_url(text):
        raise InputError(display_name(text), None, f"is a database ledger; {why}")
    return Path(text)


def display_name(url: str) -> str:
    """``url`` without its password and query (which may hold one): what messages show."""
    return redacted_url(url).partition("?")[0]


def _password(url: str) -> str | None:
    location = url.partition("://")[2].partition("/")[0]
    user_info = location.rpartition("@")[0]
    password = user_info.partition(":")[2]
    return password or None


def _scrub(text: str, url: str) -> str:
    """``text`` with the URL and its password replaced, in case a driver repeats them."""
    text = text.replace(url, display_name(url))
    password = _password(url)
    return text.replace(password, "***") if password else text


def _scrubbed(error: PrivauditError, url: str, name: str) -> PrivauditError:
    password = _password(url)
    if password is None or password not in str(error):
        return error
    scrubbed = InputError(name, None, _scrub(str(error), url))
    scrubbed.exit_code = error.exit_code
    return scrubbed
