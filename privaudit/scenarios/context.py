"""What a scenario is (its registry entry) and what its training is handed (the run's context)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from privaudit.federated.engine import Engine
    from privaudit.scenarios.results import VariantResult

Progress = Callable[[str], None]

Trained: TypeAlias = "tuple[VariantResult, list[VariantResult], dict[str, Any]]"
"""What a scenario's training returns: the deployment, the comparisons beside it, and the
summary of the data for scenario.json."""


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    policy: str
    """File name of the shipped policy (privaudit/policies/examples/)."""
    dataset: str
    """Dataset id in the policy and ledger."""
    default_epsilon: float
    data: str
    """Sub-folder of the data folder it reads."""
    train: Callable[[Context], Trained] = field(repr=False, compare=False)
    """Trains the deployment and its comparisons, charging the deployment to the ledger."""
    on_engines: bool = True
    """Whether the deployment (secure aggregation between silos) can run on another engine
    than this process; a cross-device simulation of many devices cannot."""

    def policy_file(self) -> Traversable:
        return files("privaudit").joinpath(f"policies/examples/{self.policy}")

    def policy_delta(self) -> float:
        """δ of the scenario's dataset tier in its shipped policy."""
        from privaudit.policy import load_policy

        with as_file(self.policy_file()) as path:
            tier = load_policy(path).tier_of(self.dataset)
        assert tier is not None, "shipped scenario policies cover their datasets"
        return tier.delta


@dataclass(frozen=True)
class Context:
    scenario: Scenario
    data_dir: Path
    scratch: Path
    """The results folder being built; moved into place once every step has succeeded."""
    ledger: Path
    epsilon: float
    delta: float
    seed: int
    quick: bool
    say: Progress
    engine: Engine | None = None
    """Where the deployment's rounds run: None for the in-process simulator with the
    scenario's usual recipe; an engine of real processes (Flower) gets the recipe of fewer,
    larger rounds (each round there costs seconds of messaging)."""
    policy: Path | None = None
    """The policy the deployment is checked against (and the engine's guard keeps)."""
