"""Time what a CI job and a person wait for: each command as a whole process, beside the bare
interpreter measured in the same run.

Commands (the targets of the start-up issue, 2-core machine):

- ``privaudit --help``: ≤ 0.3 s beyond ``python -c pass``;
- ``privaudit policy schema``: computes nothing (no target; shows the floor of a command);
- ``privaudit check LEDGER --policy POLICY --format json`` on the 1,000-entry ledger of
  ``benchmarks/gate.py``: ≤ 1.0 s wall;
- ``privaudit plan --epsilon 1 --delta 1e-5 --dataset-size 60000 --batch-size 256 --epochs 60``
  (the standard plan, with its ε-curve chart): ≤ 1.5 s wall.

privaudit's own modules are byte-compiled first, as ``pip install`` does for a regular install:
an editable install run under ``PYTHONDONTWRITEBYTECODE=1`` (as on this workplace's machines)
would otherwise compile every module from source in every run (~0.1 s), which no user's
installed copy does. The benchmark says when it compiled them.

Every command runs ``--runs`` times after one warm-up run (which fills the OS file cache, as a CI
job's second command would find it); the table shows best and median wall time, the median
minus the interpreter's and the median as a multiple of it, then one PASS/MISS line per target.
Not a test: nothing is asserted, and the exit code is 1 only if a command itself fails.

Usage: ``python benchmarks/startup.py [--runs 7] [--entries 1000]``.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gate import POLICY, Timing, build_ledger  # the gate benchmark's 1,000-entry ledger


@dataclass(frozen=True)
class Command:
    label: str
    argv: list[str]
    target: float | None = None
    """Seconds of median wall time the issue allows."""
    beyond_interpreter: bool = False
    """The target counts the time beyond ``python -c pass``."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def privaudit() -> list[str]:
    found = Path(sys.executable).parent / "privaudit"
    return [str(found)] if found.exists() else [sys.executable, "-m", "privaudit.cli"]


def commands(folder: Path, entries: int) -> list[Command]:
    ledger, policy = folder / "ledger.jsonl", folder / "policy.yaml"
    log(f"building a {entries}-entry ledger ...")
    build_ledger(ledger, entries)
    policy.write_text(POLICY, encoding="utf-8")
    cli = privaudit()
    return [
        Command("python -c pass", [sys.executable, "-c", "pass"]),
        Command("privaudit --help", [*cli, "--help"], 0.3, beyond_interpreter=True),
        Command("privaudit policy schema", [*cli, "policy", "schema"]),
        Command(
            f"privaudit check ({entries} entries)",
            [*cli, "check", str(ledger), "--policy", str(policy), "--format", "json"],
            1.0,
        ),
        Command(
            "privaudit plan (standard)",
            [
                *cli,
                "plan",
                "--epsilon",
                "1",
                "--delta",
                "1e-5",
                "--dataset-size",
                "60000",
                "--batch-size",
                "256",
                "--epochs",
                "60",
                "--out",
                str(folder / "plan"),
            ],
            1.5,
        ),
    ]


def byte_compile_privaudit() -> None:
    """Write the bytecode caches of privaudit's modules where an install would have them."""
    spec = importlib.util.find_spec("privaudit")
    if spec is None or spec.origin is None:
        raise SystemExit("privaudit is not importable from this interpreter")
    package = Path(spec.origin).parent
    missing = [
        source
        for source in package.rglob("*.py")
        if not Path(importlib.util.cache_from_source(str(source))).exists()
    ]
    if missing:
        compileall.compile_dir(package, quiet=1)
        log(f"byte-compiled privaudit ({len(missing)} modules had no cache), as pip install does")


def time_command(command: Command, runs: int, folder: Path) -> tuple[Command, Timing]:
    seconds = []
    for run in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(command.argv, capture_output=True, cwd=folder, check=False)
        elapsed = time.perf_counter() - start
        # check exits 0 or 1 by the budget; 2 or more means the command could not run.
        if done.returncode >= 2:
            log(done.stderr.decode(errors="replace"))
            raise SystemExit(f"{command.label} failed with exit code {done.returncode}")
        if run > 0:
            seconds.append(elapsed)
    log(f"  {command.label}: median {statistics.median(seconds):.3f} s")
    return command, Timing(command.label, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--entries", type=int, default=1000)
    args = parser.parse_args(argv)
    byte_compile_privaudit()
    folder = Path(tempfile.mkdtemp(prefix="privaudit-startup-bench-"))
    try:
        timings = [time_command(c, args.runs, folder) for c in commands(folder, args.entries)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    floor = timings[0][1].median
    print(f"\ncommand{'':30}best     median   beyond python   × python   ({args.runs} runs)")
    for _, t in timings:
        print(
            f"{t.label:37}{t.best:6.3f}s  {t.median:6.3f}s  {t.median - floor:+8.3f}s"
            f"     {t.median / floor:7.1f}x"
        )
    print()
    for command, t in timings:
        if command.target is None:
            continue
        measured = t.median - floor if command.beyond_interpreter else t.median
        what = "beyond the interpreter" if command.beyond_interpreter else "wall"
        verdict = "PASS" if measured <= command.target else "MISS"
        print(
            f"{verdict}  {command.label}: {measured:.3f} s {what} (median)"
            f" against ≤ {command.target:g} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
