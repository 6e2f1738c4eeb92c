"""``privaudit scenario bank-fraud --engine flower`` from the command line, on the real
credit-card data (skipped, saying why, without ../shared/data): with a policy limit below the
run's planned ε the federation stops at the last round that fits, the exit code is 1, and the
ledger's last entry says why; what was spent stays within the limit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from privaudit.accounting.accountant import account
from privaudit.ledger import read_ledger
from tests.scenarios.conftest import DATA, needs_creditcard

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SHIPPED = Path(__file__).resolve().parents[3] / "policies" / "examples" / "bank-fraud.yaml"
LIMIT = 0.4


@needs_creditcard
def test_a_limit_below_the_plan_stops_the_federation_with_exit_code_1(tmp_path: Path) -> None:
    policy = tmp_path / "tight.yaml"
    policy.write_text(SHIPPED.read_text().replace("epsilon: 1.0", f"epsilon: {LIMIT}"))
    out = tmp_path / "bank"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "privaudit",
            "scenario",
            "bank-fraud",
            "--engine",
            "flower",
            "--epsilon",
            "1",
            "--policy",
            str(policy),
            "--data-dir",
            str(DATA),
            "--out",
            str(out),
            "--formats",
            "html",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert "budget" in summary["deployment"]["stopped"]
    entries = read_ledger(out / "ledger.jsonl").entries
    assert 1 <= len(entries) < 12
    assert entries[-1].meta["stopped"] == "budget"
    assert entries[-1].meta["last_round_that_fits"] == len(entries)
    assert account([e.mechanism for e in entries], delta=1e-6).pld.epsilon <= LIMIT
    assert "STOPPED" not in done.stdout  # JSON only on stdout
