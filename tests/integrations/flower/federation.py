"""A small real federation for the tests: synthetic silos, a run spec, the processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privaudit.federated.config import DistributedDpSgdConfig
from privaudit.integrations.flower.processes import (
    LocalFederation,
    run_log,
    run_status,
    silo_nodes,
    submit,
)
from privaudit.integrations.flower.spec import (
    LedgerSpec,
    RunSpec,
    SecAggSpec,
    SiloSpec,
    write_spec,
)

WITHOUT_FLOWER = "the [flower] extra is not installed (pip install -e '.[flower]')"
"""Why the Flower tests skip: each module asks for Flower before it uses it."""
SILOS = 3
DATASET = "synthetic"
POLICY = """\
version: 1
tiers:
  research:
    epsilon: {epsilon}
    delta: 1e-5
    privacy_unit: example
    accountant: pld
datasets:
  synthetic:
    tier: research
    size: 3000
"""


@dataclass
class Silos:
    files: dict[int, Path]
    sizes: list[int]
    x_test: Any
    y_test: Any


def make_silos(folder: Path, n: int = 3000) -> Silos:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    parts = np.array_split(np.arange(n), SILOS)
    files = {}
    for i, rows in enumerate(parts):
        files[i] = folder / f"silo-{i}.npz"
        np.savez(files[i], x=x[rows], y=y[rows])
    x_test = rng.normal(size=(600, 5)).astype(np.float32)
    y_test = (x_test[:, 0] - 0.5 * x_test[:, 1] > 0).astype(np.int64)
    return Silos(files, [len(p) for p in parts], x_test, y_test)


def make_spec(
    folder: Path, silos: Silos, rounds: int, policy: Path | None, sigma: float = 2.0
) -> tuple[RunSpec, Path]:
    config = DistributedDpSgdConfig(
        rounds=rounds,
        noise_multiplier=sigma,
        clip_norm=1.0,
        sampling_rate=0.3,
        learning_rate=2.0,
        momentum=0.5,
    )
    spec = RunSpec(
        config=config,
        silos=tuple(SiloSpec(i, f"site-{i}", size) for i, size in enumerate(silos.sizes)),
        secagg=SecAggSpec(threshold=2, value_bound=2000.0),
        ledger=LedgerSpec(
            path=str(folder / "ledger.jsonl"),
            dataset=DATASET,
            run="flower-e2e",
            privacy_unit="example",
            policy=None if policy is None else str(policy),
        ),
        folder=str(folder / "run"),
        n_features=5,
        n_classes=2,
        stage_timeout=30.0,
        join_timeout=60.0,
    )
    params = config.model.build(5, 2).init(np.random.default_rng(0), np.float32)
    return spec, write_spec(spec, params, silos.x_test, silos.y_test)


def write_policy(folder: Path, epsilon: float) -> Path:
    path = folder / "policy.yaml"
    path.write_text(POLICY.format(epsilon=epsilon))
    return path


def run_federation(
    folder: Path,
    spec: RunSpec,
    spec_path: Path,
    silos: Silos,
    on_event: Callable[[dict[str, Any], LocalFederation], None] = lambda _e, _f: None,
    limit: float = 600.0,
) -> dict[str, Any]:
    """Start the processes, submit, call ``on_event`` with each progress event; the summary."""
    result = Path(spec.folder) / "rounds.json"
    progress = Path(spec.folder) / "progress.jsonl"
    with LocalFederation(folder / "processes", silo_nodes(silos.files)) as federation:
        submission = submit(folder / "submit", federation.address, spec_path)
        seen, began = 0, time.time()
        while not result.exists():
            assert time.time() - began < limit, run_log(submission)[-2000:]
            time.sleep(0.5)
            lines = progress.read_text().splitlines() if progress.exists() else []
            for line in lines[seen:]:
                on_event(json.loads(line), federation)
            seen = len(lines)
        for _ in range(60):
            if run_status(submission).startswith("finished"):
                break
            time.sleep(1)
        summary: dict[str, Any] = json.loads(result.read_text())
        summary["flower_status"] = run_status(submission)
        summary["pids"] = [p.pid for p in federation.processes.values()]
    return summary


def privaudit_check(ledger: Path, policy: Path) -> subprocess.CompletedProcess[str]:
    """``privaudit check LEDGER --policy POLICY`` as a CI job runs it: a new process."""
    return subprocess.run(
        [sys.executable, "-m", "privaudit", "check", str(ledger), "--policy", str(policy)],
        capture_output=True,
        text=True,
        check=False,
    )
