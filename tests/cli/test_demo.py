"""``privaudit demo``: the whole workflow on the bundled digits, and a rerun that replaces it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privaudit.cli import main
from privaudit.ledger import read_ledger


def test_demo_runs_the_whole_workflow_and_a_rerun_replaces_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--formats", "html", "--format", "json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    entries = read_ledger(out / "ledger.jsonl").entries
    assert {e.run for e in entries} == {"dpsgd-eps0.5", "dpsgd-eps1", "dpsgd-eps2"}
    # The three runs compose to more than the largest and at most their sum.
    assert 2.0 <= result["epsilon"] <= 3.5
    assert result["epsilon"] <= result["epsilon_limit"]
    baseline = next(r for r in result["runs"] if r["target_epsilon"] is None)
    assert baseline["in_ledger"] is False
    assert (out / "report.html").exists() and (out / "runs" / "baseline-non-private.json").exists()
    head = read_ledger(out / "ledger.jsonl").head

    assert main(["demo", "--out", str(out), "--formats", "html"]) == 0
    assert read_ledger(out / "ledger.jsonl").head != head  # a new ledger, not an extended one
    assert len(read_ledger(out / "ledger.jsonl").entries) == len(entries)
    assert not list(out.glob(".demo-*"))  # no scratch folder left behind
