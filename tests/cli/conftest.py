"""Fixtures of the command-line tests: a passing ledger and policy, and a ledger to tamper with."""

from __future__ import annotations

from pathlib import Path

import pytest

from privaudit.ledger import append_entry
from tests.cli.helpers import GAUSSIAN_2, write_policy
from tests.cli.tampering import TAMPER_ENTRIES


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A valid ledger: one Gaussian release (σ = 2) on dataset ``ds``."""
    path = tmp_path / "ledger.jsonl"
    append_entry(path, dataset="ds", mechanism=GAUSSIAN_2, privacy_unit="example")
    return path


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """A policy with ``ds`` under a tier of ε ≤ 10, δ = 1e-6: the ledger above passes."""
    return write_policy(tmp_path / "policy.yaml", 10.0)


@pytest.fixture
def five(tmp_path: Path) -> Path:
    """Five Gaussian releases on ``ds`` (σ = 3..7); well within the policy fixture's ε ≤ 10."""
    path = tmp_path / "five.jsonl"
    for i in range(TAMPER_ENTRIES):
        append_entry(path, dataset="ds", mechanism={"type": "gaussian", "noise_multiplier": 3 + i})
    return path
