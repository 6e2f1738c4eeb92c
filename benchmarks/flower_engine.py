"""Wall time per federated round: Flower's Deployment Engine beside the in-process simulator,
the same scenario, the same seed, one run each.

Both runs are ``privaudit scenario NAME`` through :func:`privaudit.scenarios.run_scenario` with
an engine, so the deployment uses the scenario's engine settings (e.g. bank-fraud: 12 rounds of
distributed DP-SGD over secure aggregation, 3 banks, bank-c gone from round 7) on both:

- ``simulator``: :class:`~privaudit.federated.engine.InProcessEngine`, every party in this
  process, the same secure-aggregation protocol between them;
- ``flower``: :class:`~privaudit.integrations.flower.engine.FlowerEngine`, a SuperLink and one
  SuperNode per silo on 127.0.0.1, the absent silo's SuperNode killed (SIGKILL) mid-round.

Per engine it prints the deployment's rounds, its wall time (training only, from the first
round's start to the result; the SuperLink and SuperNodes start before it), the seconds a round
and the Flower ÷ simulator ratio, then the model's test metrics and the ledger's certified ε,
which should agree within the noise of the run (the simulator drops an absent silo before its
round; Flower loses it mid-round, so its survivors' noise is σ·√(2/3) that round, not σ).
The comparison variants and the report are produced as in any scenario run but not timed.

Usage: ``python benchmarks/flower_engine.py [--scenario bank-fraud] [--data-dir ../shared/data]
[--epsilon 1] [--seed 0]``. Needs the ``[flower]`` extra and the scenario's data set. Progress
to stderr, the table to stdout. Not a test: nothing is asserted; exit 0 whatever is measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from privaudit.federated.engine import Engine, InProcessEngine
from privaudit.integrations.flower.engine import FlowerEngine
from privaudit.rounding import up
from privaudit.scenarios import run_scenario

METRICS = ("test_accuracy", "roc_auc", "auprc", "macro_f1")


def _measure(name: str, engine: Engine, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    began = time.perf_counter()
    result = run_scenario(
        args.scenario,
        data_dir=args.data_dir,
        out=out,
        epsilon=args.epsilon,
        seed=args.seed,
        formats=("html",),
        progress=lambda line: print(f"[{name}] {line}", file=sys.stderr),
        engine=engine,
    )
    deployment = result.deployment
    return {
        "engine": name,
        "rounds": len(deployment.rounds),
        "deployment_seconds": deployment.wall_seconds,
        "scenario_seconds": time.perf_counter() - began,
        "metrics": {k: v for k, v in deployment.metrics.items() if k in METRICS},
        "epsilon": result.epsilon,
        "survivors": [r["survivors"] for r in deployment.rounds],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="bank-fraud")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--epsilon", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="privaudit-bench-") as scratch:
        for name, engine in (
            ("simulator", InProcessEngine()),
            ("flower", FlowerEngine(say=lambda line: print(line, file=sys.stderr))),
        ):
            rows.append(_measure(name, engine, args, Path(scratch) / name))
    print(f"# {args.scenario}, seed {args.seed}; {platform.node()} ({platform.machine()})")
    base = rows[0]["deployment_seconds"] / max(rows[0]["rounds"], 1)
    print("engine     rounds  deployment s  s/round  ÷ simulator  ε (ledger)  metrics")
    for row in rows:
        per_round = row["deployment_seconds"] / max(row["rounds"], 1)
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in row["metrics"].items())
        print(
            f"{row['engine']:<10} {row['rounds']:>6}  {row['deployment_seconds']:>12.1f}"
            f"  {per_round:>7.2f}  {per_round / base:>11.1f}  {up(row['epsilon']):>10}  {metrics}"
        )
    print(json.dumps(rows, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
