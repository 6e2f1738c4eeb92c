"""Time the CI gate on a realistic 1,000-entry ledger.

Builds, in a temporary folder, a ledger of 1,000 releases drawn from 10 distinct mechanisms
(DP-SGD with Poisson sampling at several q/σ/steps, DP-FedAvg, distributed Gaussian under secure
aggregation, Gaussian and Laplace queries) over three datasets, two of them split into
partitions, and a policy that covers them. Then runs, as a subprocess, what a CI job runs::

    privaudit check LEDGER --policy POLICY --format json

and compares its wall time with the interpreter's start-up (``python -c pass``) and with the
start-up plus import of the CLI (``python -c "import privaudit.cli"``), the floor any command
pays. The target is a gate decision within 1.0 s (it was 3 s before the start-up work).

Usage: ``python benchmarks/gate.py [--runs 5] [--entries 1000]``. Progress goes to stderr, the
table to stdout. Not a test: nothing is asserted; the exit code is 1 only if the gate itself
fails to run (exit 2 or output that is not JSON).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from privaudit.ledger import append_entry

TARGET_SECONDS = 1.0

# (dataset, partitions, privacy unit, run prefix, weight, mechanism). Partitions None: the release
# touches the whole dataset; a list: each entry lands in one of them (FL silos hold disjoint data).
MNIST_SILOS = [f"silo-{i}" for i in range(10)]
MNIST_N = 60_000
NOTES_N = 4_999
MIX: list[tuple[str, list[str] | None, str, str, int, dict[str, Any]]] = [
    # Cross-silo FL: each silo runs local DP-SGD epochs on its own 6,000 images.
    (
        "mnist",
        MNIST_SILOS,
        "example",
        "silo-dpsgd",
        200,
        {
            "type": "dpsgd",
            "noise_multiplier": 1.1,
            "sampling_rate": 64 / 6000,
            "steps": 94,
            "sampling": "poisson",
        },
    ),
    (
        "mnist",
        MNIST_SILOS,
        "example",
        "silo-dpsgd-large-batch",
        100,
        {
            "type": "dpsgd",
            "noise_multiplier": 1.5,
            "sampling_rate": 256 / 6000,
            "steps": 24,
            "sampling": "poisson",
        },
    ),
    # Distributed DP-SGD under secure aggregation, with a dropout now and then.
    (
        "mnist",
        MNIST_SILOS,
        "example",
        "secagg",
        150,
        {
            "type": "distributed_gaussian",
            "noise_multiplier": 1.2,
            "clients": 10,
            "survivors": 9,
            "sampling_rate": 0.01,
            "steps": 20,
        },
    ),
    (
        "mnist",
        None,
        "example",
        "secagg-eval",
        50,
        {"type": "distributed_gaussian", "noise_multiplier": 8.0, "clients": 10, "survivors": 10},
    ),
    # Central DP-SGD fine-tuning passes over all of MNIST.
    (
        "mnist",
        None,
        "example",
        "central-finetune",
        20,
        {
            "type": "dpsgd",
            "noise_multiplier": 2.0,
            "sampling_rate": 256 / MNIST_N,
            "steps": 10,
            "sampling": "poisson",
        },
    ),
    # Cross-device FL: client-level DP-FedAvg rounds, logged in blocks.
    (
        "mnist-clients",
        None,
        "client",
        "fedavg",
        200,
        {
            "type": "dpfedavg",
            "noise_multiplier": 1.0,
            "client_sampling_rate": 0.01,
            "rounds": 5,
        },
    ),
    (
        "mnist-clients",
        None,
        "client",
        "fedavg-large-cohort",
        80,
        {
            "type": "dpfedavg",
            "noise_multiplier": 1.4,
            "client_sampling_rate": 0.05,
            "rounds": 2,
        },
    ),
    # Clinical notes: DP-SGD runs plus DP statistics for the data-quality dashboard.
    (
        "notes",
        ["ward-a", "ward-b", "ward-c"],
        "example",
        "notes-dpsgd",
        80,
        {
            "type": "dpsgd",
            "noise_multiplier": 3.0,
            "sampling_rate": 32 / 1666,
            "steps": 5,
            "sampling": "poisson",
        },
    ),
    ("notes", None, "example", "notes-stats", 60, {"type": "gaussian", "noise_multiplier": 60.0}),
    ("notes", None, "example", "notes-counts", 60, {"type": "laplace", "scale": 500.0}),
]

POLICY = f"""\
# Benchmark policy for benchmarks/gate.py: the shipped tiers' limits (policies/tiers.yaml)
# with a per-run cap on the FL tier; every dataset the ledger names is covered.
version: 1
organisation: Benchmark Org
system: privaudit-gate-benchmark
tiers:
  internal:
    epsilon: 8.0
    delta: 1.0e-6
    per_run_epsilon: 4.0
    warn_at: 0.8
    privacy_unit: example
    accountant: pld
  internal-client:
    epsilon: 8.0
    delta: 1.0e-5
    warn_at: 0.8
    privacy_unit: client
    accountant: pld
  medical:
    epsilon: 1.0
    delta: 1.0e-6
    warn_at: 0.8
    privacy_unit: example
    accountant: pld
datasets:
  mnist: {{tier: internal, size: {MNIST_N}}}
  mnist-clients: {{tier: internal-client, size: 1000}}
  notes: {{tier: medical, size: {NOTES_N}}}
"""


@dataclass(frozen=True)
class Timing:
    label: str
    seconds: list[float]

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_ledger(path: Path, entries: int) -> Counter[str]:
    """Append ``entries`` releases, interleaved in proportion to the MIX weights."""
    schedule = [index for index, row in enumerate(MIX) for _ in range(row[4])]
    # Interleave deterministically (a stride coprime to the length) so kinds alternate in time.
    stride = next(s for s in range(7, len(schedule)) if _coprime(s, len(schedule)))
    order = [schedule[(i * stride) % len(schedule)] for i in range(len(schedule))]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    kinds: Counter[str] = Counter()
    counters: Counter[int] = Counter()
    for seq, index in enumerate(itertools.islice(itertools.cycle(order), entries)):
        dataset, partitions, unit, run, _, mechanism = MIX[index]
        nth = counters[index]
        counters[index] += 1
        append_entry(
            path,
            dataset=dataset,
            mechanism=mechanism,
            partition=None if partitions is None else partitions[nth % len(partitions)],
            privacy_unit=unit,
            run=f"{run}-{nth // 25}",  # a run logs 25 releases
            meta={"step_block": nth},
            time=start + timedelta(minutes=seq),
        )
        kinds[json.dumps(mechanism, sort_keys=True)] += 1
        if (seq + 1) % 250 == 0:
            log(f"  {seq + 1} entries written")
    return kinds


def _coprime(a: int, b: int) -> bool:
    while b:
        a, b = b, a % b
    return a == 1


def gate_command(ledger: Path, policy: Path) -> list[str]:
    script = Path(sys.executable).parent / "privaudit"
    prefix = [str(script)] if script.is_file() else [sys.executable, "-m", "privaudit.cli"]
    return [*prefix, "check", str(ledger), "--policy", str(policy), "--format", "json"]


def time_command(
    label: str, argv: list[str], runs: int, cwd: Path
) -> tuple[Timing, subprocess.CompletedProcess[str]]:
    """Wall time of ``argv`` over ``runs`` runs, after one untimed warm-up run."""
    env = {key: value for key, value in os.environ.items() if key != "PRIVAUDIT_DEBUG"}
    log(f"timing {label} ({runs} runs + 1 warm-up)")
    last = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        last = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        seconds.append(time.perf_counter() - began)
    return Timing(label, seconds), last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (default 5)")
    parser.add_argument(
        "--entries", type=int, default=1000, help="ledger entries to build (default 1000)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.entries < 1:
        parser.error("--runs and --entries must be at least 1")

    folder = Path(tempfile.mkdtemp(prefix="privaudit-gate-bench-"))
    try:
        ledger = folder / "ledger.jsonl"
        policy = folder / "policy.yaml"
        policy.write_text(POLICY, encoding="utf-8")
        log(f"building a {args.entries}-entry ledger in {folder}")
        began = time.perf_counter()
        kinds = build_ledger(ledger, args.entries)
        build_seconds = time.perf_counter() - began

        bare, _ = time_command("python -c pass", [sys.executable, "-c", "pass"], args.runs, folder)
        floor, _ = time_command(
            "python -c 'import privaudit.cli'",
            [sys.executable, "-c", "import privaudit.cli"],
            args.runs,
            folder,
        )
        check, done = time_command(
            "privaudit check --format json", gate_command(ledger, policy), args.runs, folder
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    if done.returncode not in (0, 1):
        log(f"the gate did not run: exit {done.returncode}: {done.stderr.strip()}")
        return 1
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError as error:
        log(f"the gate's output is not JSON: {error}")
        return 1

    print(
        f"ledger: {result['ledger_entries']} entries, {len(kinds)} distinct mechanisms,"
        f" {len(result['datasets'])} datasets; built in {build_seconds:.1f} s"
    )
    for dataset in result["datasets"]:
        epsilon = dataset["epsilon"]
        shown = "unbounded" if epsilon is None else f"{epsilon:.3f}"
        print(
            f"  {dataset['dataset']:<14} {dataset['entries']:>4} entries"
            f" {len(dataset['partitions']):>3} partitions  ε = {shown} at δ = {dataset['delta']:g}"
            f" (limit {dataset['limit_epsilon']:g}): {dataset['status']}"
        )
    print(f"gate verdict: {result['status']} (exit {done.returncode})")
    print()
    width = max(len(t.label) for t in (bare, floor, check))
    print(f"{'command':<{width}}  {'best':>8}  {'median':>8}   ({args.runs} runs)")
    for timing in (bare, floor, check):
        print(f"{timing.label:<{width}}  {timing.best:>7.3f}s  {timing.median:>7.3f}s")
    print()
    ratio = check.median / floor.median
    print(f"check / import start-up (median):      {ratio:.2f}x")
    print(f"check minus import start-up (median):  {check.median - floor.median:.3f}s")
    met = "met" if check.median <= TARGET_SECONDS else "NOT met"
    print(f"target: gate decision within {TARGET_SECONDS:g} s (median wall time): {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
