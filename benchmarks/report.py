"""Time ``privaudit report`` (HTML + PDF/A-3) on a 10,000-entry ledger; target ≤ 10 s.

Builds, in a temporary folder, a ledger of 10,000 releases with the mix of
``benchmarks/gate.py`` (DP-SGD on FL silos, distributed Gaussian under secure aggregation,
DP-FedAvg, Gaussian and Laplace statistics over three datasets), written straight to disk with
the ledger's own hash chain (appending 10,000 entries one by one re-verifies the chain each time).
Then runs, as a subprocess, what a compliance job runs::

    privaudit report LEDGER --policy POLICY --out DIR

and, in the same run, two anchors:
- ``privaudit check`` on the same ledger (the gate: the accounting alone, no report), and
- dp-accounting composing the ledger's releases itself (its PLD accountant, each distinct
  release once with its count, per dataset and partition), the least any report must compute.

Usage: ``python benchmarks/report.py [--runs 3] [--entries 10000]``. Progress to stderr, the
table to stdout. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gate import MIX, POLICY, _coprime

from privaudit.ledger import GENESIS, canonical_json, entry_hash
from privaudit.mechanisms import mechanism_to_json, parse_mechanism

TARGET_SECONDS = 10.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_ledger(path: Path, entries: int) -> None:
    schedule = [index for index, row in enumerate(MIX) for _ in range(row[4])]
    stride = next(s for s in range(7, len(schedule)) if _coprime(s, len(schedule)))
    order = [schedule[(i * stride) % len(schedule)] for i in range(len(schedule))]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    counters: Counter[int] = Counter()
    previous = GENESIS
    lines = []
    for seq, index in enumerate(itertools.islice(itertools.cycle(order), entries), start=1):
        dataset, partitions, unit, run, _, mechanism = MIX[index]
        nth = counters[index]
        counters[index] += 1
        body = {
            "seq": seq,
            "time": (start + timedelta(minutes=seq)).isoformat().replace("+00:00", "Z"),
            "dataset": dataset,
            "partition": None if partitions is None else partitions[nth % len(partitions)],
            "privacy_unit": unit,
            "run": f"{run}-{nth // 250}",
            "mechanism": mechanism_to_json(parse_mechanism(mechanism, "benchmark", "mechanism")),
            "meta": {"step_block": nth},
            "prev": previous,
        }
        previous = entry_hash(body)
        lines.append(canonical_json({**body, "hash": previous}) + b"\n")
    path.write_bytes(b"".join(lines))


def privaudit(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "privaudit"
    prefix = [str(script)] if script.is_file() else [sys.executable, "-m", "privaudit.cli"]
    return [*prefix, *args]


def timed(label: str, argv: list[str], runs: int) -> tuple[list[float], str]:
    log(f"timing {label} ({runs} runs)")
    seconds, output = [], ""
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        seconds.append(time.perf_counter() - began)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{label} failed: exit {done.returncode}: {done.stderr.strip()}")
        output = done.stdout
    return seconds, output


def dp_accounting_seconds(ledger: Path) -> float:
    """dp-accounting's PLD accountant on the same ledger: per dataset and partition, each
    distinct release composed once with its count (the engine's own caching, done by hand)."""
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    from privaudit.accounting.dp_events import NeighbouringRelation, to_dp_event
    from privaudit.ledger import read_ledger

    began = time.perf_counter()
    groups: dict[tuple[str, str | None], Counter[object]] = defaultdict(Counter)
    for entry in read_ledger(ledger).entries:
        groups[(entry.dataset, entry.partition)][entry.mechanism] += 1
    for counts in groups.values():
        accountant = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
        for mechanism, count in counts.items():
            event = to_dp_event(mechanism, NeighbouringRelation.ADD_OR_REMOVE_ONE)  # type: ignore[arg-type]
            accountant.compose(dp_accounting.SelfComposedDpEvent(event, count))
        accountant.get_epsilon(1e-6)
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--entries", type=int, default=10_000, help="ledger entries")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="privaudit-report-bench-"))
    try:
        ledger, policy, out = folder / "ledger.jsonl", folder / "policy.yaml", folder / "out"
        policy.write_text(POLICY, encoding="utf-8")
        log(f"building a {args.entries}-entry ledger in {folder}")
        build_ledger(ledger, args.entries)
        report, summary = timed(
            "privaudit report (html + pdf)",
            privaudit(
                "report",
                str(ledger),
                "--policy",
                str(policy),
                "--out",
                str(out),
                "--format",
                "json",
            ),
            args.runs,
        )
        html_only, _ = timed(
            "privaudit report --formats html",
            privaudit(
                "report",
                str(ledger),
                "--policy",
                str(policy),
                "--out",
                str(out),
                "--formats",
                "html",
            ),
            args.runs,
        )
        check, _ = timed(
            "privaudit check",
            privaudit("check", str(ledger), "--policy", str(policy), "--format", "json"),
            args.runs,
        )
        log("timing dp-accounting on the same releases")
        anchor = min(dp_accounting_seconds(ledger) for _ in range(args.runs))
        sizes = {p.name: p.stat().st_size for p in out.iterdir()}
        pages = None
        try:
            import pypdf

            pages = len(pypdf.PdfReader(out / "report.pdf").pages)
        except ImportError:
            pass
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    result = json.loads(summary)
    print(f"ledger: {args.entries} entries; verdict {result['status']}")
    for name, size in sorted(sizes.items()):
        print(
            f"  {name}: {size / 1e6:.2f} MB"
            + (f", {pages} pages" if name.endswith(".pdf") and pages else "")
        )
    rows = [
        ("privaudit report (html + pdf)", report),
        ("privaudit report --formats html", html_only),
        ("privaudit check (gate, anchor)", check),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"{'command':<{width}}  {'best':>8}  {'median':>8}   ({args.runs} runs, wall time)")
    for label, seconds in rows:
        print(f"{label:<{width}}  {min(seconds):>7.2f}s  {statistics.median(seconds):>7.2f}s")
    print(f"{'dp-accounting PLD, same releases (anchor)':<{width}}  {anchor:>7.2f}s")
    median = statistics.median(report)
    print()
    print(f"report / check:          {median / statistics.median(check):.2f}x")
    print(f"report / dp-accounting:  {median / anchor:.2f}x")
    met = "met" if median <= TARGET_SECONDS else "NOT met"
    print(f"target: a {args.entries}-entry ledger reported within {TARGET_SECONDS:g} s: {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
