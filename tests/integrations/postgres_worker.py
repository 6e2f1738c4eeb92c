"""Writer processes of the shared-ledger tests: each is its own interpreter and connection, as a
job on another machine would be.

    python -m tests.integrations.postgres_worker append URL PROCESS COUNT
    python -m tests.integrations.postgres_worker charge URL PROCESS ATTEMPTS SIGMA LIMIT DELTA
    python -m tests.integrations.postgres_worker hang URL PROCESS

Each imports everything first, prints ``ready``, and waits for a line on stdin before writing,
so the test can start all writers at once. ``append`` appends COUNT entries one at a time;
``charge`` tries ATTEMPTS Gaussian releases, each admitted only if the dataset's certified ε at
DELTA stays within LIMIT (prints ``charged`` or ``refused`` per attempt); ``hang`` commits one
entry, then inserts a second and, before committing it, prints ``inserted`` and sleeps until it
is killed.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence

from privaudit.errors import BudgetExceededError
from privaudit.integrations.postgres import PostgresStore, open_postgres_store
from privaudit.ledger import Ledger, LedgerEntry, NewEntry

DATASET = "shared"


def gaussian(sigma: float) -> dict[str, object]:
    return {"type": "gaussian", "noise_multiplier": sigma}


class HangingStore(PostgresStore):
    """Inserts, then holds the transaction open (uncommitted) until the process is killed."""

    def _insert(self, conn: object, lines: Sequence[bytes], entries: Sequence[LedgerEntry]) -> None:
        super()._insert(conn, lines, entries)  # type: ignore[arg-type]
        print("inserted", flush=True)
        time.sleep(300)


def main(argv: list[str]) -> int:
    command, url, process = argv[0], argv[1], int(argv[2])
    store = open_postgres_store(url)
    if command == "charge":
        from privaudit.accounting.accountant import account
    print("ready", flush=True)
    sys.stdin.readline()
    if command == "append":
        for i in range(int(argv[3])):
            store.append([NewEntry(DATASET, gaussian(1.0), meta={"process": process, "i": i})])
    elif command == "charge":
        attempts, sigma, limit, delta = int(argv[3]), float(argv[4]), float(argv[5]), float(argv[6])

        def admit(ledger: Ledger, new: tuple[LedgerEntry, ...]) -> str | None:
            mechanisms = [e.mechanism for e in (*ledger.entries, *new) if e.dataset == DATASET]
            epsilon = account(mechanisms, delta).epsilon
            return None if epsilon <= limit else f"ε would be {epsilon:.4f} > {limit}"

        for i in range(attempts):
            try:
                store.append(
                    [NewEntry(DATASET, gaussian(sigma), meta={"process": process, "i": i})],
                    admit=admit,
                )
                print("charged", flush=True)
            except BudgetExceededError:
                print("refused", flush=True)
    elif command == "hang":
        store.append([NewEntry(DATASET, gaussian(1.0), meta={"process": process, "kind": "kept"})])
        print("committed", flush=True)
        hanging = HangingStore(**dataclasses.asdict(store))
        hanging.append(
            [NewEntry(DATASET, gaussian(1.0), meta={"process": process, "kind": "killed"})]
        )
        return 3  # never reached: the test kills this process first
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
