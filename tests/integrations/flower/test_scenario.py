"""``privaudit scenario bank-fraud --engine flower`` from the command line as a federation across
machines is run (README): ``--silos-out`` writes each bank's data file and the SuperNode command
it runs; SuperNodes started on those files; the scenario joins them with ``--superlink``. With a
policy limit below the run's planned ε the federation stops at the last round that fits, the
exit code is 1, and the ledger's last entry says why. On the real credit-card data (skipped,
saying why, without ../shared/data)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from privaudit.accounting.accountant import account
from privaudit.integrations.flower.processes import LocalFederation, silo_nodes
from privaudit.ledger import read_ledger
from tests.integrations.flower.federation import WITHOUT_FLOWER
from tests.scenarios.conftest import DATA, needs_creditcard

pytest.importorskip("flwr", reason=WITHOUT_FLOWER)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SHIPPED = Path(__file__).resolve().parents[3] / "policies" / "examples" / "bank-fraud.yaml"
BANKS = ("bank-a", "bank-b", "bank-c")
LIMIT = 0.4


def _privaudit(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privaudit", *arguments],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


@needs_creditcard
def test_a_limit_below_the_plan_stops_the_federation_with_exit_code_1(tmp_path: Path) -> None:
    common = ["scenario", "bank-fraud", "--engine", "flower", "--data-dir", str(DATA)]
    exported = _privaudit(*common, "--silos-out", str(tmp_path / "silos"))
    assert exported.returncode == 0, exported.stderr[-2000:]
    files = {i: tmp_path / "silos" / f"{bank}.npz" for i, bank in enumerate(BANKS)}
    for i, bank in enumerate(BANKS):
        assert f"partition-id={i} data-file=" in exported.stdout.split(bank, 1)[1]
    with np.load(files[0]) as first:
        assert set(first.files) == {"x", "y"} and first["x"].shape[1] == 31

    policy = tmp_path / "tight.yaml"
    policy.write_text(SHIPPED.read_text().replace("epsilon: 1.0", f"epsilon: {LIMIT}"))
    out = tmp_path / "bank"
    with LocalFederation(tmp_path / "silo-machines", silo_nodes(files)) as federation:
        done = _privaudit(
            *common,
            "--superlink",
            federation.address,
            "--epsilon",
            "1",
            "--policy",
            str(policy),
            "--out",
            str(out),
            "--formats",
            "html",
            "--format",
            "json",
        )
    assert done.returncode == 1, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert "budget" in summary["deployment"]["stopped"]
    entries = read_ledger(out / "ledger.jsonl").entries
    assert 1 <= len(entries) < 12
    assert entries[-1].meta["stopped"] == "budget"
    assert entries[-1].meta["last_round_that_fits"] == len(entries)
    assert account([e.mechanism for e in entries], delta=1e-6).pld.epsilon <= LIMIT
