"""privaudit.integrations.postgres against a real PostgreSQL server: the same lines and chain as a
file, concurrent writers on separate processes, atomic charge-if-it-fits, writers killed in the
middle of their transaction, the app role's least privilege, edits by a superuser, URLs."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (the [postgres] extra)")

from privaudit.accounting.accountant import account  # noqa: E402
from privaudit.errors import BudgetExceededError, InputError, LedgerIntegrityError  # noqa: E402
from privaudit.integrations.postgres import TABLE, PostgresStore, open_postgres_store  # noqa: E402
from privaudit.ledger import NewEntry, append_entries, read_ledger  # noqa: E402
from privaudit.mechanisms import Gaussian  # noqa: E402
from privaudit.stores import FileStore  # noqa: E402
from tests.integrations.postgres_server import Server, with_ledger  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DELTA = 1e-6
LIMIT = 1.0
SIGMA = 13.0  # one Gaussian release at σ = 13 costs ε ≈ 0.30 at δ = 1e-6


@pytest.fixture
def ledger_name() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def app(postgres_server: Server, ledger_name: str) -> PostgresStore:
    return open_postgres_store(with_ledger(postgres_server.app_url, ledger_name))


def rows(server: Server, ledger: str) -> list[tuple[int, str, str, str]]:
    with psycopg.connect(server.superuser_url) as conn:
        return conn.execute(
            f"SELECT seq, prev, hash, line FROM {TABLE} WHERE ledger = %s ORDER BY seq", (ledger,)
        ).fetchall()


def superuser_edit(server: Server, statement: str, *params: object) -> None:
    """Run ``statement`` as the superuser with the table's triggers off (for this session
    only, so concurrent tests are not affected)."""
    with psycopg.connect(server.superuser_url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(statement, params)


def sample_entries() -> list[NewEntry]:
    return [
        NewEntry(
            dataset="mnist",
            mechanism={
                "type": "dpsgd",
                "noise_multiplier": 1.1,
                "sampling_rate": 0.01,
                "steps": 100,
            },
            partition="silo-1",
            privacy_unit="example",
            run="run-1",
            meta={"note": "naïve ε", "n": [1, 2.5, None]},
            time="2026-01-01T00:00:00.000001Z",
        ),
        NewEntry(
            dataset="census",
            mechanism={"type": "laplace", "scale": 2.0},
            time="2026-01-01T00:01:00Z",
        ),
        NewEntry(
            dataset="mnist",
            mechanism={"type": "gaussian", "noise_multiplier": 3.0},
            meta={"k": {"nested": True}},
            time="2026-01-01T00:02:00.5Z",
        ),
    ]


def worker(command: str, url: str, process: int, *args: object) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integrations.postgres_worker", command, url, str(process)]
        + [str(arg) for arg in args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line == "ready\n", (line, child.stderr.read() if child.stderr else "")
    return child


def go(children: list[subprocess.Popen[str]], timeout: float = 120) -> list[str]:
    """Start every waiting worker at once; wait for all; their outputs."""
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=timeout)
        assert child.returncode == 0, err
        outputs.append(out)
    return outputs


# --- the same lines and chain as a file --------------------------------------------------------


def test_the_store_writes_the_bytes_a_file_store_writes(
    app: PostgresStore, postgres_server: Server, ledger_name: str, tmp_path: Path
) -> None:
    file = FileStore(tmp_path / "ledger.jsonl")
    new = sample_entries()
    for batch in (new[:1], new[1:]):
        assert app.append(batch) == file.append(batch)

    stored = "".join(line + "\n" for *_, line in rows(postgres_server, ledger_name))
    ledger = app.read()
    assert stored.encode("utf-8") == file.path.read_bytes()
    assert (ledger.entries, ledger.head, ledger.sha256) == (
        file.read().entries,
        file.read().head,
        file.read().sha256,
    )
    assert ledger.path == Path(ledger_name)


def test_a_file_ledger_copied_into_the_store_is_the_same_chain(
    app: PostgresStore, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.jsonl"
    append_entries(path, sample_entries() * 3)
    source = read_ledger(path)

    app.append(
        [
            NewEntry(e.dataset, e.mechanism, e.partition, e.privacy_unit, e.run, e.meta, e.time)
            for e in source.entries
        ]
    )

    copied = app.read()
    assert copied.entries == source.entries
    assert (copied.head, copied.sha256) == (source.head, source.sha256)


def test_an_empty_ledger_is_missing_unless_allowed(app: PostgresStore) -> None:
    empty = app.read(allow_missing=True)
    assert (empty.entries, empty.head) == ((), "0" * 64)
    with pytest.raises(InputError, match="no such ledger"):
        app.read()


# --- concurrency -------------------------------------------------------------------------------


def test_concurrent_writers_on_8_processes_lose_and_duplicate_nothing(app: PostgresStore) -> None:
    processes, appends = 8, 200
    children = [worker("append", app.url, p, appends) for p in range(processes)]
    go(children)

    ledger = app.read()  # the whole chain verifies
    markers = Counter((e.meta["process"], e.meta["i"]) for e in ledger.entries)
    assert len(ledger.entries) == processes * appends
    assert set(markers) == {(p, i) for p in range(processes) for i in range(appends)}
    assert max(markers.values()) == 1


def test_concurrent_charges_admit_exactly_what_fits(app: PostgresStore) -> None:
    release = Gaussian(noise_multiplier=SIGMA)
    assert 0.25 < account([release], DELTA).epsilon < 0.35
    # The oracle: the largest k whose composition fits while k + 1 releases do not.
    fits = next(k for k in range(1, 100) if account([release] * (k + 1), DELTA).epsilon > LIMIT)
    processes, attempts = 8, 2
    assert fits < processes * attempts  # more is asked than fits: the budget must bind

    outputs = go(
        [worker("charge", app.url, p, attempts, SIGMA, LIMIT, DELTA) for p in range(processes)]
    )

    ledger = app.read()
    said = Counter(line for out in outputs for line in out.split() if line != "done")
    assert len(ledger.entries) == fits
    assert said == {"charged": fits, "refused": processes * attempts - fits}
    assert account([e.mechanism for e in ledger.entries], DELTA).epsilon <= LIMIT


def test_a_refused_charge_writes_nothing(app: PostgresStore, postgres_server: Server) -> None:
    app.append(sample_entries()[:1])

    with pytest.raises(BudgetExceededError, match=r"over budget; nothing was written$"):
        app.append(sample_entries()[1:], admit=lambda ledger, new: "over budget")

    assert len(rows(postgres_server, app.ledger)) == 1


def test_writers_killed_inside_their_transaction_leave_only_what_they_committed(
    app: PostgresStore,
) -> None:
    kills, parallel = 50, 5

    def kill_one(process: int) -> None:
        child = worker("hang", app.url, process)
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "committed\n"
        assert child.stdout.readline() == "inserted\n"  # uncommitted, inside the transaction
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL

    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        list(pool.map(kill_one, range(kills)))

    ledger = app.read()  # the chain verifies
    kinds = Counter(e.meta["kind"] for e in ledger.entries)
    assert kinds == {"kept": kills}
    assert sorted(e.meta["process"] for e in ledger.entries) == list(range(kills))
    app.append(sample_entries()[:1])  # the next writer chains on where the last commit ended
    assert app.read().entries[-1].seq == kills + 1


# --- least privilege and edits -----------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {TABLE} SET line = line || ' ' WHERE ledger = %s",
        f"DELETE FROM {TABLE} WHERE ledger = %s",
        f"TRUNCATE {TABLE}",
        f"ALTER TABLE {TABLE} DISABLE TRIGGER ALL",
    ],
    ids=["update", "delete", "truncate", "disable-trigger"],
)
def test_the_app_role_can_only_read_and_append(
    app: PostgresStore, postgres_server: Server, statement: str
) -> None:
    app.append(sample_entries())
    params = (app.ledger,) if "%s" in statement else ()

    with (
        psycopg.connect(postgres_server.app_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement, params)

    assert len(app.read().entries) == 3


@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {TABLE} SET line = line WHERE ledger = %s",
        f"DELETE FROM {TABLE} WHERE ledger = %s",
        f"TRUNCATE {TABLE}",
    ],
    ids=["update", "delete", "truncate"],
)
def test_the_trigger_refuses_even_the_owner(
    app: PostgresStore, postgres_server: Server, statement: str
) -> None:
    app.append(sample_entries())
    params = (app.ledger,) if "%s" in statement else ()

    with (
        psycopg.connect(postgres_server.superuser_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(statement, params)

    assert len(app.read().entries) == 3


def test_a_superuser_edit_of_a_line_is_detected(
    app: PostgresStore, postgres_server: Server
) -> None:
    app.append(sample_entries())
    [(line,)] = [(r[3],) for r in rows(postgres_server, app.ledger) if r[0] == 2]
    edited = json.loads(line)
    edited["mechanism"]["scale"] = 20.0  # ten times the noise: a smaller ε on record
    superuser_edit(
        postgres_server,
        f"UPDATE {TABLE} SET line = %s WHERE ledger = %s AND seq = 2",
        json.dumps(edited, sort_keys=True, separators=(",", ":")),
        app.ledger,
    )

    with pytest.raises(LedgerIntegrityError, match=r": line 2: hash does not match") as caught:
        app.read()
    assert caught.value.line == 2
    assert app.name in str(caught.value)


@pytest.mark.parametrize(("column", "value"), [("hash", "f" * 64), ("prev", "e" * 64), ("seq", 7)])
def test_a_superuser_edit_of_only_a_column_is_detected(
    app: PostgresStore, postgres_server: Server, column: str, value: object
) -> None:
    app.append(sample_entries())
    superuser_edit(
        postgres_server,
        f"UPDATE {TABLE} SET {column} = %s WHERE ledger = %s AND seq = 3",
        value,
        app.ledger,
    )

    with pytest.raises(LedgerIntegrityError, match=rf"line 3: the row's {column} column") as caught:
        app.read()
    assert caught.value.line == 3
    # An append does not chain onto an edited head either.
    with pytest.raises(LedgerIntegrityError):
        app.append(sample_entries()[:1])


def test_a_deleted_row_in_the_middle_is_detected(
    app: PostgresStore, postgres_server: Server
) -> None:
    app.append(sample_entries())
    superuser_edit(
        postgres_server, f"DELETE FROM {TABLE} WHERE ledger = %s AND seq = 2", app.ledger
    )

    with pytest.raises(LedgerIntegrityError, match=r"line 2: prev does not match line 1"):
        app.read()


# --- URLs and credentials ----------------------------------------------------------------------


def test_the_name_never_shows_a_password() -> None:
    store = open_postgres_store(
        "postgresql://alice:s3cr%40t-pw@db.example:5433/budgets?ledger=team-a&sslmode=prefer"
        "&password=other-s3cret"
    )
    assert store.name == "postgresql://alice@db.example:5433/budgets?ledger=team-a&sslmode=prefer"
    assert store.ledger == "team-a"
    assert "s3cr" not in repr(store)
    assert "ledger=" not in store.conninfo
    assert "sslmode=prefer" in store.conninfo


def test_the_default_ledger_is_named_default() -> None:
    store = open_postgres_store("postgresql://alice@db.example/budgets")
    assert (store.ledger, store.name) == (
        "default",
        "postgresql://alice@db.example/budgets?ledger=default",
    )


@pytest.mark.parametrize("ledger", ["", "-x", "a b", "a;drop", "é"])
def test_a_bad_ledger_name_is_input_error(ledger: str) -> None:
    with pytest.raises(InputError, match="ledger") as caught:
        open_postgres_store(f"postgresql://alice:pw-9f8e@db.example/budgets?ledger={ledger}")
    assert caught.value.exit_code == 2
    assert "pw-9f8e" not in str(caught.value)


def test_a_wrong_password_is_one_line_without_it(postgres_server: Server, ledger_name: str) -> None:
    url = postgres_server.app_url
    user, _, rest = url.removeprefix("postgresql://").partition("@")
    wrong = f"postgresql://{user.split(':')[0]}:Wr0ng-pa55word@{rest}?ledger={ledger_name}"

    with pytest.raises(InputError, match="cannot connect to the database") as caught:
        open_postgres_store(wrong).read()

    message = str(caught.value)
    assert "Wr0ng-pa55word" not in message
    assert "password authentication failed" in message
    assert "\n" not in message
    assert caught.value.exit_code == 2


def test_an_unreachable_server_is_input_error_without_the_password() -> None:
    from tests.integrations.postgres_server import free_port

    url = f"postgresql://alice:Unre4chable-pw@127.0.0.1:{free_port()}/budgets?connect_timeout=5"
    with pytest.raises(InputError, match="cannot connect to the database") as caught:
        open_postgres_store(url).append(sample_entries()[:1])
    assert "Unre4chable-pw" not in str(caught.value)
    assert str(caught.value).startswith("postgresql://alice@127.0.0.1:")


def test_entries_read_back_equal_what_the_append_returned(app: PostgresStore) -> None:
    # Plain JSON values, as the file store returns them, not database types.
    [entry] = app.append(sample_entries()[:1])
    stored: Any = app.read().entries[0]
    assert stored == entry
    assert stored.meta == {"note": "naïve ε", "n": [1, 2.5, None]}
