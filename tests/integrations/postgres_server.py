"""A throwaway PostgreSQL cluster on 127.0.0.1 for the shared-ledger tests, the benchmark and CI.

``start(folder)`` runs ``initdb`` and ``pg_ctl start`` in ``folder`` (as the ``postgres`` system
user when run as root: PostgreSQL refuses to run as root), on a free loopback port, with password
(SCRAM) authentication over TCP and the socket inside the folder; then it creates the ledger
table as the superuser and an application role ``privaudit_app`` with only SELECT and INSERT on
it. ``stop(folder)`` stops the cluster (``-m fast``, then ``-m immediate``).

As a script, for CI (``.ci/run``)::

    python -m tests.integrations.postgres_server start FOLDER   # prints `export ...=...` lines
    python -m tests.integrations.postgres_server stop FOLDER

psycopg is imported only inside the functions that connect, so importing this module needs no
``[postgres]`` extra.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

APP_ROLE = "privaudit_app"
SUPERUSER = "postgres"
DATABASE = "privaudit_test"
URL_ENV = "PRIVAUDIT_TEST_POSTGRES_URL"
SUPERUSER_URL_ENV = "PRIVAUDIT_TEST_POSTGRES_SUPERUSER_URL"
NO_SERVER = (
    "no PostgreSQL server binary (initdb, pg_ctl) found; install Debian's postgresql package"
)
RUNUSER = "/usr/sbin/runuser"


@dataclass(frozen=True)
class Server:
    """Where the tests connect: as the application role and as the superuser."""

    app_url: str
    superuser_url: str


def find_binaries() -> tuple[str, str] | None:
    """``initdb`` and ``pg_ctl`` from PATH, else the newest /usr/lib/postgresql/*/bin."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl

    def version(folder: str) -> int:
        name = Path(folder).parent.name
        return int(name) if name.isdigit() else 0

    folders = sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin")), key=version, reverse=True)
    for folder in folders:
        initdb, pg_ctl = f"{folder}/initdb", f"{folder}/pg_ctl"
        if Path(initdb).is_file() and Path(pg_ctl).is_file():
            return initdb, pg_ctl
    return None


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return [RUNUSER, "-u", "postgres", "--", *argv]
    return argv


def _run(argv: list[str]) -> None:
    done = subprocess.run(
        _as_server_user(argv), capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{Path(argv[0]).name} failed (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-2000:]}"
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(folder: Path, *, fsync: bool = False) -> Server:
    """Create and start a cluster in ``folder`` (which must exist and be empty); return its
    URLs. On failure the cluster is stopped before the error propagates. ``fsync`` off (the
    default) is for tests; a benchmark of durable appends turns it on."""
    binaries = find_binaries()
    if binaries is None:
        raise FileNotFoundError(NO_SERVER)
    initdb, pg_ctl = binaries
    folder = folder.resolve()
    data = folder / "data"
    password = secrets.token_hex(16)
    app_password = secrets.token_hex(16)
    password_file = folder / "superuser.password"
    password_file.write_text(password + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        shutil.chown(password_file, "postgres", "postgres")
    _run(
        [
            initdb,
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
    )
    password_file.unlink()
    for attempt in range(3):
        port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} "
            f"-c fsync={'on' if fsync else 'off'} "
            "-c max_connections=100"
        )
        try:
            _run(
                [
                    pg_ctl,
                    "-D",
                    str(data),
                    "-l",
                    str(folder / "server.log"),
                    "-w",
                    "-o",
                    options,
                    "start",
                ]
            )
            break
        except RuntimeError:
            if attempt == 2:
                raise
    (folder / "port").write_text(str(port), encoding="utf-8")
    base = f"127.0.0.1:{port}"
    superuser_url = f"postgresql://{SUPERUSER}:{password}@{base}/{DATABASE}"
    app_url = f"postgresql://{APP_ROLE}:{app_password}@{base}/{DATABASE}"
    try:
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            f"postgresql://{SUPERUSER}:{password}@{base}/postgres", autocommit=True
        ) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(APP_ROLE), sql.Literal(app_password)
                )
            )
        prepare(superuser_url, APP_ROLE)
    except BaseException:
        stop(folder)
        raise
    return Server(app_url=app_url, superuser_url=superuser_url)


def prepare(superuser_url: str, role: str) -> None:
    """As the table's owner: create the ledger table (the store's own schema) and grant
    ``role`` only SELECT and INSERT on it."""
    import psycopg
    from psycopg import sql

    from privaudit.integrations.postgres import TABLE, open_postgres_store

    open_postgres_store(superuser_url).ensure_schema()
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(
                sql.Identifier(TABLE), sql.Identifier(role)
            )
        )


def stop(folder: Path) -> None:
    """Stop the cluster in ``folder`` (fast, then immediate); never raises."""
    binaries = find_binaries()
    data = folder.resolve() / "data"
    if binaries is None or not (data / "postmaster.pid").exists():
        return
    _, pg_ctl = binaries
    for mode in ("fast", "immediate"):
        try:
            _run([pg_ctl, "-D", str(data), "-m", mode, "-w", "-t", "30", "stop"])
            return
        except (RuntimeError, subprocess.TimeoutExpired):
            continue


@contextlib.contextmanager
def throwaway_server(prefix: str = "privaudit-pg-", *, fsync: bool = False) -> Iterator[Server]:
    """A cluster in a fresh folder under /tmp (readable by the postgres user), stopped and
    removed on exit, also when the body fails."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        server = start(folder, fsync=fsync)
        try:
            yield server
        finally:
            stop(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def role_of(url: str) -> str:
    """The user a ``postgresql://user[:password]@host/...`` URL connects as."""
    from urllib.parse import unquote, urlsplit

    user = urlsplit(url).username
    if not user:
        raise ValueError(f"{URL_ENV} must name its role (postgresql://ROLE:PASSWORD@HOST/DB)")
    return unquote(user)


def with_ledger(url: str, ledger: str) -> str:
    """``url`` naming the ledger ``ledger``."""
    return f"{url}{'&' if '?' in url else '?'}ledger={ledger}"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"start", "stop"}:
        print(__doc__, file=sys.stderr)
        return 2
    command, folder = argv[0], Path(argv[1])
    if command == "stop":
        stop(folder)
        return 0
    server = start(folder)
    print(f"export {URL_ENV}={shlex.quote(server.app_url)}")
    print(f"export {SUPERUSER_URL_ENV}={shlex.quote(server.superuser_url)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
