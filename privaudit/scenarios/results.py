"""What a scenario run returns and writes as scenario.json: its variants, the ledger's verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADLINE_METRICS = ("test_accuracy", "macro_f1", "roc_auc", "auprc")
"""The deployment's metrics scenario.json lifts to its top level (absent ones are null)."""


@dataclass(frozen=True)
class VariantResult:
    """One trained model of a scenario."""

    name: str
    description: str
    in_ledger: bool
    metrics: dict[str, float]
    epsilon: float | None
    """Certified ε of this run alone at the scenario's δ (None: not private)."""
    noise_multiplier: float | None
    rounds: tuple[dict[str, Any], ...]
    """Per round: round, clients, survivors (and bytes)."""
    wall_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "in_ledger": self.in_ledger,
            "epsilon": self.epsilon,
            "noise_multiplier": self.noise_multiplier,
            "metrics": {k: _finite_or_none(v) for k, v in self.metrics.items()},
            "wall_seconds": round(self.wall_seconds, 1),
            "survivors_by_round": sorted({r["survivors"] for r in self.rounds}),
            **self.extra,
        }


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    title: str
    dataset: str
    epsilon_target: float
    delta: float
    deployment: VariantResult
    comparisons: tuple[VariantResult, ...]
    status: str
    epsilon: float
    """The deployment ledger's ε (certified) for the dataset."""
    epsilon_limit: float | None
    out: Path
    files: tuple[str, ...]
    data_summary: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        deployment = self.deployment
        return {
            "scenario": self.scenario,
            "title": self.title,
            "dataset": self.dataset,
            "status": self.status,
            "epsilon": _finite_or_none(self.epsilon),
            "epsilon_target": self.epsilon_target,
            "epsilon_limit": self.epsilon_limit,
            "delta": self.delta,
            **{k: deployment.metrics.get(k) for k in HEADLINE_METRICS},
            "rounds": list(deployment.rounds),
            "deployment": deployment.to_json(),
            "comparisons": [v.to_json() for v in self.comparisons],
            "data": self.data_summary,
            "files": list(self.files),
        }


def _finite_or_none(value: float | None) -> float | None:
    # JSON has no NaN or infinity: a metric that could not be computed is null.
    return None if value is None or not math.isfinite(value) else value
