"""Time the two ledger stores side by side: the JSON Lines file and PostgreSQL.

In one run, for each store:

* sequential appends: N single-entry appends, one after the other, from one process;
* concurrent appends: 8 processes appending single entries at once (each its own interpreter,
  as jobs on separate machines would be; the file store's processes share one host);
* the gate on a 10,000-entry ledger (``benchmarks/gate.py``'s mix of mechanisms and datasets,
  the same entries in both stores): ``read()`` alone, and ``read()`` + ``privaudit.assess.assess``
  against the gate benchmark's policy, what ``privaudit check`` does after start-up. Each is
  timed in a fresh process (nothing cached from an earlier run), in-process, without
  interpreter start-up.

PostgreSQL: a throwaway cluster on 127.0.0.1 (``tests/integrations/postgres_server.py``, with
``fsync`` on, as the file store ``fsync``\\ s every append), or ``--url`` (a database where the
role may create the table; ledgers are named ``bench-<random>``). Needs the ``[postgres]`` extra.

Usage: ``python benchmarks/ledger_stores.py [--appends 500] [--concurrent 8x100]
[--entries 10000] [--runs 3] [--url postgresql://...]``. Progress goes to stderr, the table to
stdout. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from gate import MIX, POLICY, _coprime  # noqa: E402

from privaudit.ledger import NewEntry  # noqa: E402
from privaudit.stores import FileStore, LedgerStore  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def open_store(spec: str) -> LedgerStore:
    if spec.startswith("postgresql://"):
        from privaudit.integrations.postgres import open_postgres_store

        return open_postgres_store(spec)
    return FileStore(Path(spec))


def gate_entries(count: int) -> list[NewEntry]:
    """``count`` releases in gate.py's proportions, interleaved, one minute apart."""
    schedule = [index for index, row in enumerate(MIX) for _ in range(row[4])]
    stride = next(s for s in range(7, len(schedule)) if _coprime(s, len(schedule)))
    order = [schedule[(i * stride) % len(schedule)] for i in range(len(schedule))]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    counters: Counter[int] = Counter()
    entries = []
    for seq, index in enumerate(itertools.islice(itertools.cycle(order), count)):
        dataset, partitions, unit, run, _, mechanism = MIX[index]
        nth = counters[index]
        counters[index] += 1
        entries.append(
            NewEntry(
                dataset=dataset,
                mechanism=mechanism,
                partition=None if partitions is None else partitions[nth % len(partitions)],
                privacy_unit=unit,
                run=f"{run}-{nth // 250}",
                meta={"step_block": nth},
                time=start + timedelta(minutes=seq),
            )
        )
    return entries


def one_entry(process: int, i: int) -> NewEntry:
    return NewEntry(
        dataset="bench",
        mechanism={"type": "gaussian", "noise_multiplier": 2.0},
        meta={"process": process, "i": i},
    )


# --- worker modes (the script runs itself in child processes) ----------------------------------


def worker_append(spec: str, process: int, count: int) -> None:
    store = open_store(spec)
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(count):
        store.append([one_entry(process, i)])


def worker_check(spec: str, policy: str) -> None:
    from privaudit.assess import assess
    from privaudit.policy import load_policy

    store = open_store(spec)
    began = time.perf_counter()
    ledger = store.read()
    read_seconds = time.perf_counter() - began
    assessment = assess(ledger, load_policy(policy))
    check_seconds = time.perf_counter() - began
    print(
        json.dumps(
            {
                "read": read_seconds,
                "check": check_seconds,
                "entries": len(ledger.entries),
                "head": ledger.head,
                "datasets": len(assessment.datasets),
            }
        )
    )


def child(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


def child_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


# --- measurements ------------------------------------------------------------------------------


def sequential(spec: str, count: int) -> float:
    store = open_store(spec)
    store.append([one_entry(-1, -1)])  # create the file / table outside the timing
    began = time.perf_counter()
    for i in range(count):
        store.append([one_entry(0, i)])
    return count / (time.perf_counter() - began)


def concurrent(spec: str, processes: int, count: int) -> float:
    open_store(spec).append([one_entry(-1, -1)])
    children = [
        subprocess.Popen(
            [*child("--worker-append", spec, str(p), str(count))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        for p in range(processes)
    ]
    for process in children:
        assert process.stdout is not None
        process.stdout.readline()  # ready: imported and connected
    began = time.perf_counter()
    for process in children:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in children:
        process.wait()
        if process.returncode != 0:
            raise SystemExit(f"an append worker failed on {spec}")
    seconds = time.perf_counter() - began
    entries = len(open_store(spec).read().entries)
    if entries != processes * count + 1:
        raise SystemExit(f"{spec}: {entries} entries; expected {processes * count + 1}")
    return processes * count / seconds


def check(spec: str, policy: Path, runs: int) -> tuple[list[float], list[float], str]:
    reads, checks, head = [], [], ""
    for _ in range(runs):
        done = subprocess.run(
            child("--worker-check", spec, str(policy)),
            capture_output=True,
            text=True,
            check=False,
            env=child_env(),
        )
        if done.returncode != 0:
            raise SystemExit(f"check on {spec} failed: {done.stderr.strip()}")
        result = json.loads(done.stdout)
        reads.append(result["read"])
        checks.append(result["check"])
        head = result["head"]
    return reads, checks, head


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker-append"]:
        worker_append(argv[1], int(argv[2]), int(argv[3]))
        return 0
    if argv[:1] == ["--worker-check"]:
        worker_check(argv[1], argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--appends", type=int, default=500, help="sequential appends (500)")
    parser.add_argument(
        "--concurrent", default="8x100", help="PROCESSESxAPPENDS concurrent appends (8x100)"
    )
    parser.add_argument("--entries", type=int, default=10_000, help="gate ledger size (10000)")
    parser.add_argument("--runs", type=int, default=3, help="timed gate runs per store (3)")
    parser.add_argument("--url", help="a PostgreSQL URL to use instead of a throwaway cluster")
    args = parser.parse_args(argv)
    processes, per_process = (int(part) for part in args.concurrent.split("x"))

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="privaudit-stores-")))
        if args.url:
            base = args.url
        else:
            from tests.integrations.postgres_server import throwaway_server

            log("starting a throwaway PostgreSQL cluster (fsync on)")
            base = stack.enter_context(throwaway_server(fsync=True)).superuser_url
        separator = "&" if "?" in base else "?"

        def database(kind: str) -> str:
            return f"{base}{separator}ledger=bench-{kind}-{uuid.uuid4().hex[:8]}"

        specs = {"file": lambda kind: str(folder / f"{kind}.jsonl"), "postgresql": database}
        rows: dict[str, dict[str, object]] = {}
        policy = folder / "policy.yaml"
        policy.write_text(POLICY, encoding="utf-8")
        gate = gate_entries(args.entries)
        for store, spec_of in specs.items():
            log(f"{store}: {args.appends} sequential appends")
            seq_rate = sequential(spec_of("sequential"), args.appends)
            log(f"{store}: {processes} processes x {per_process} concurrent appends")
            con_rate = concurrent(spec_of("concurrent"), processes, per_process)
            log(f"{store}: a {args.entries}-entry ledger, then {args.runs} gate runs")
            spec = spec_of("gate")
            open_store(spec).append(gate)
            reads, checks, head = check(spec, policy, args.runs)
            rows[store] = {
                "sequential": seq_rate,
                "concurrent": con_rate,
                "read": statistics.median(reads),
                "check": statistics.median(checks),
                "head": head,
            }

    print(
        f"appends: {args.appends} sequential from one process; {processes} processes x "
        f"{per_process} concurrent. Gate: a {args.entries}-entry ledger, median of {args.runs} "
        "fresh processes, in-process (no interpreter start-up)."
    )
    print(
        f"{'store':<11} {'seq. appends/s':>15} {'conc. appends/s':>16} "
        f"{'read()':>9} {'read+assess':>12}"
    )
    for store, row in rows.items():
        print(
            f"{store:<11} {row['sequential']:>15.0f} {row['concurrent']:>16.0f} "
            f"{row['read']:>8.3f}s {row['check']:>11.3f}s"
        )
    same = rows["file"]["head"] == rows["postgresql"]["head"]
    print(f"same head hash in both stores: {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
