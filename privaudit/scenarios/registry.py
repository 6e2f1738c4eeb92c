"""Which scenarios exist: one entry each, in the order they are listed to users."""

from __future__ import annotations

from typing import Final

from privaudit.scenarios.bank_fraud import SCENARIO as BANK_FRAUD
from privaudit.scenarios.context import Scenario
from privaudit.scenarios.hospital_notes import SCENARIO as HOSPITAL_NOTES
from privaudit.scenarios.mnist import CROSS_DEVICE, NONIID

SCENARIOS: Final[dict[str, Scenario]] = {
    s.name: s for s in (NONIID, CROSS_DEVICE, HOSPITAL_NOTES, BANK_FRAUD)
}


def scenario_delta(name: str) -> float:
    """δ of the scenario's dataset tier in its shipped policy."""
    return SCENARIOS[name].policy_delta()
