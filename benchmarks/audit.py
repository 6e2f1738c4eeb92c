"""One-run audits of the correct trainers on MNIST: lower bounds, ceilings, efficiencies, time
per audit, false alarms over seeds, planted bugs, and the lower bound against the canary count.

Parts (``--only``, comma-separated; all by default):

- ``seeds``: ``privaudit audit dpsgd --data mnist`` with the defaults (ε = 2, δ = 1e-5,
  m = 1,000,000, ``--method auto``) over ``--seeds`` (default 11–30): each seed's lower bound,
  ceiling, efficiency, wall time and verdict; the mean over the first three (the issue's bar:
  mean ≥ 1.5 over seeds 11, 12, 13) and the number of violations (false alarms; the bar is 0).
- ``bugs``: each planted bug (no clipping, noise ÷ 10, sampling × 4) at ε = 2; each must be a
  violation (needs PRIVAUDIT_ALLOW_PLANTED_BUGS=yes-break-privacy, set here for this process).
- ``epsilons``: both trainers (DP-SGD, DP-FedAvg over 100 clients) at ε = 1, 2, 4, 8, three
  seeds each: mean fraction of the claim and mean efficiency (the README table).
- ``canaries``: DP-SGD at ε = 2 with m = 1,000, 10,000, 50,000 and 1,000,000 (three seeds
  each) beside the ceiling; with ``--plot PATH`` the chart is written there (PNG).

Usage: ``python benchmarks/audit.py [--only seeds,bugs,epsilons,canaries] [--seeds 11-30]
[--data-dir ../shared/data] [--plot docs/images/audit-lower-bound-vs-canaries.png]``.
Runs one audit at a time (each about 30 s on 2 cores). Not a test: exit 0 whatever it measures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DELTA = 1e-5


def log(message: str) -> None:
    print(f"[audit] {message}", file=sys.stderr, flush=True)


def audit(target: str, data_dir: Path, **request: Any) -> tuple[Any, float]:
    from privaudit.audit.runner import run_dpsgd_audit, run_fedavg_audit

    started = time.perf_counter()
    request = {"delta": DELTA, "method": "auto", **request}
    if target == "dpsgd":
        record = run_dpsgd_audit("mnist", data_dir, **request)
    else:
        record = run_fedavg_audit("mnist", data_dir, clients=100, **request)
    return record, time.perf_counter() - started


def line(record: Any, seconds: float) -> str:
    efficiency = "—" if record.efficiency is None else f"{record.efficiency:.2f}"
    return (
        f"m {record.canaries:>9,}  seed {record.seed:>3}  ε claimed {record.epsilon_claimed:.3f}"
        f"  lower bound {record.epsilon_lower_bound:.3f}  ceiling {record.ceiling:.3f}"
        f"  efficiency {efficiency}  {record.correct}/{record.guesses} correct  {record.method}"
        f"  {record.verdict}  {seconds:.1f} s"
    )


def seeds_part(data_dir: Path, seeds: list[int], canaries: int) -> None:
    print("## correct DP-SGD trainer, ε = 2, defaults")
    bounds, efficiencies, times, violations = [], [], [], 0
    for seed in seeds:
        record, seconds = audit("dpsgd", data_dir, epsilon=2.0, canaries=canaries, seed=seed)
        print(line(record, seconds), flush=True)
        bounds.append(record.epsilon_lower_bound)
        efficiencies.append(record.efficiency or 0.0)
        times.append(seconds)
        violations += record.verdict == "violation"
    first = bounds[:3]
    print(f"mean lower bound over seeds {seeds[:3]}: {statistics.mean(first):.3f}")
    print(
        f"over {len(seeds)} seeds: mean lower bound {statistics.mean(bounds):.3f}"
        f" (min {min(bounds):.3f}, max {max(bounds):.3f}), mean efficiency"
        f" {statistics.mean(efficiencies):.3f}, median time {statistics.median(times):.1f} s,"
        f" false alarms {violations}/{len(seeds)}"
    )


def bugs_part(data_dir: Path, canaries: int) -> None:
    from privaudit.audit.planted import PLANTED_BUGS_CONSENT, PLANTED_BUGS_VARIABLE, PlantedBug

    os.environ[PLANTED_BUGS_VARIABLE] = PLANTED_BUGS_CONSENT
    print("## planted bugs, DP-SGD, ε = 2")
    for bug in PlantedBug:
        record, seconds = audit(
            "dpsgd", data_dir, epsilon=2.0, canaries=canaries, seed=0, planted_bug=bug.value
        )
        print(f"{bug.value:>13}: {line(record, seconds)}; {'; '.join(record.reasons)}")


def epsilons_part(data_dir: Path, canaries: int) -> None:
    print("## fraction of the claim and efficiency, seeds 11-13")
    for target in ("dpsgd", "fedavg"):
        for epsilon in (1.0, 2.0, 4.0, 8.0):
            records = []
            for seed in (11, 12, 13):
                record, seconds = audit(
                    target, data_dir, epsilon=epsilon, canaries=canaries, seed=seed
                )
                log(line(record, seconds))
                records.append((record, seconds))
            fractions = [r.epsilon_lower_bound / r.epsilon_claimed for r, _ in records]
            efficiencies = [r.efficiency or 0.0 for r, _ in records]
            print(
                f"{target} ε = {epsilon:g}: lower bounds"
                f" {', '.join(f'{r.epsilon_lower_bound:.2f}' for r, _ in records)};"
                f" fraction {statistics.mean(fractions):.2f}, efficiency"
                f" {statistics.mean(efficiencies):.2f}, ceiling {records[0][0].ceiling:.2f},"
                f" {statistics.mean(s for _, s in records):.0f} s an audit,"
                f" verdicts {', '.join(r.verdict for r, _ in records)}",
                flush=True,
            )


def canaries_part(data_dir: Path, plot: Path | None) -> None:
    print("## lower bound against m, DP-SGD, ε = 2, seeds 11-13")
    sizes = (1_000, 10_000, 50_000, 1_000_000)
    rows = []
    for m in sizes:
        records = [audit("dpsgd", data_dir, epsilon=2.0, canaries=m, seed=s) for s in (11, 12, 13)]
        for record, seconds in records:
            log(line(record, seconds))
        bounds = [r.epsilon_lower_bound for r, _ in records]
        rows.append((m, bounds, records[0][0].ceiling, records[0][0].epsilon_claimed))
        print(
            f"m {m:>9,}: lower bounds {', '.join(f'{b:.3f}' for b in bounds)}, mean"
            f" {statistics.mean(bounds):.3f}, ceiling {rows[-1][2]:.3f},"
            f" {statistics.mean(s for _, s in records):.1f} s an audit",
            flush=True,
        )
    if plot is not None:
        draw(rows, plot)
        print(f"chart: {plot}")


def draw(rows: list[tuple[int, list[float], float, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    sizes = [m for m, *_ in rows]
    for m, bounds, _, _ in rows:
        axes.scatter([m] * len(bounds), bounds, color="tab:blue", s=18, zorder=3)
    axes.plot(
        sizes,
        [statistics.mean(b) for _, b, _, _ in rows],
        color="tab:blue",
        label="lower bound (mean of seeds 11–13; dots: each seed)",
    )
    axes.plot(
        sizes,
        [c for *_, c, _ in rows],
        "--",
        color="tab:orange",
        label="ceiling (ideal auditor, exactly the claimed Gaussian)",
    )
    axes.axhline(rows[0][3], color="tab:red", linewidth=1, label="claimed ε")
    axes.set_xscale("log")
    axes.set_xlabel("canaries m")
    axes.set_ylabel("ε lower bound (95%)")
    axes.set_title("One-run audit of DP-SGD on MNIST, claimed ε = 2 at δ = 1e-5", fontsize=10)
    axes.set_ylim(0, rows[0][3] * 1.1)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Software": None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="seeds,bugs,epsilons,canaries")
    parser.add_argument("--seeds", default="11-30", help="first-last or a comma list")
    parser.add_argument("--canaries", type=int, default=None, help="default: the CLI's")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    from privaudit.cli.audit import DEFAULT_CANARIES

    if not (args.data_dir / "mnist").is_dir():
        log(f"MNIST not found under {args.data_dir}; nothing measured")
        return
    canaries = args.canaries or DEFAULT_CANARIES
    first, _, last = args.seeds.partition("-")
    seeds = (
        list(range(int(first), int(last) + 1)) if last else [int(s) for s in args.seeds.split(",")]
    )
    parts = set(args.only.split(","))
    if "seeds" in parts:
        seeds_part(args.data_dir, seeds, canaries)
    if "bugs" in parts:
        bugs_part(args.data_dir, canaries)
    if "epsilons" in parts:
        epsilons_part(args.data_dir, canaries)
    if "canaries" in parts:
        canaries_part(args.data_dir, args.plot)


if __name__ == "__main__":
    main()
