"""The question a training plan answers: a target (ε, δ) and a grid of DP-SGD or federated
configurations, checked as a whole before anything is accounted.

DP-SGD gives the dataset size n, batch sizes b and epochs E (privacy unit: one example);
federated planning gives the total clients N, clients per round m and rounds R (privacy unit: one
client). Either may give noise multipliers σ; what the plan solves for (:class:`Solve`) follows
from what is given. :mod:`privaudit.accounting.planner` computes the answer.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from privaudit.accounting.calibrate import CALIBRATION_DISCRETISATION, DEFAULT_TOLERANCE
from privaudit.checks import ARGUMENT
from privaudit.errors import InputError

__all__ = ["PlanRequest", "Solve"]


class Solve(StrEnum):
    """What the plan computes for each configuration."""

    NOISE_MULTIPLIER = "noise_multiplier"
    """The smallest noise multiplier that meets the target (no noise given)."""
    EPSILON = "epsilon"
    """ε of each given configuration, and whether it fits."""
    STEPS = "steps"
    """The largest number of steps that fits (noise given, no epochs or rounds)."""


PositiveInt = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0)]


class PlanRequest(BaseModel):
    """The target and the grid of configurations to plan over.

    Give ``dataset_size`` and ``batch_sizes`` (DP-SGD, privacy unit: one example) or ``clients``
    and ``clients_per_round`` (federated, privacy unit: one client), and at least one of
    ``epochs``/``rounds`` and ``noise_multipliers``. Single values and lists are accepted;
    repeated values are dropped, order is kept. Problems that involve several fields raise
    :class:`~privaudit.errors.InputError` naming the field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    target_epsilon: float = Field(gt=0, description="Target ε: every fitting row is ≤ this.")
    delta: float = Field(gt=0, lt=1, description="δ at which ε is computed.")
    dataset_size: PositiveInt | None = Field(default=None, description="DP-SGD: records n.")
    batch_sizes: tuple[PositiveInt, ...] = Field(default=(), description="DP-SGD: batch sizes.")
    epochs: tuple[PositiveFloat, ...] = Field(default=(), description="DP-SGD: epochs.")
    clients: PositiveInt | None = Field(default=None, description="Federated: total clients N.")
    clients_per_round: PositiveInt | None = Field(
        default=None, description="Federated: clients sampled per round."
    )
    rounds: tuple[PositiveInt, ...] = Field(default=(), description="Federated: rounds.")
    noise_multipliers: tuple[PositiveFloat, ...] = Field(
        default=(), description="Noise multipliers to account (none: calibrate one)."
    )
    discretisation: float = Field(
        default=CALIBRATION_DISCRETISATION, gt=0, lt=1, description="PLD discretisation interval."
    )
    tolerance: float = Field(
        default=DEFAULT_TOLERANCE, gt=0, lt=0.1, description="Relative precision of a calibrated σ."
    )
    checkpoints: int = Field(default=200, ge=2, le=10_000, description="Points on the ε curve.")
    rdp_grid_above: int = Field(
        default=50, ge=0, description="Grids with more configurations are accounted with RDP."
    )

    @field_validator("batch_sizes", "epochs", "rounds", "noise_multipliers", mode="before")
    @classmethod
    def _as_unique_tuple(cls, value: object) -> object:
        if value is None:
            return ()
        if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool
        ):
            value = (value,)
        if isinstance(value, list | tuple):
            return tuple(dict.fromkeys(value))
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PlanRequest:
        sgd = {
            "dataset_size": self.dataset_size is not None,
            "batch_sizes": bool(self.batch_sizes),
            "epochs": bool(self.epochs),
        }
        fl = {
            "clients": self.clients is not None,
            "clients_per_round": self.clients_per_round is not None,
            "rounds": bool(self.rounds),
        }
        if any(sgd.values()) and any(fl.values()):
            given = [name for name, present in {**sgd, **fl}.items() if present]
            raise InputError(
                ARGUMENT,
                None,
                "expected DP-SGD (dataset_size, batch_sizes, epochs) or federated (clients, "
                f"clients_per_round, rounds) settings, not both; found {', '.join(given)}",
            )
        if self.federated:
            for name in ("clients", "clients_per_round"):
                if not fl[name]:
                    raise InputError(
                        ARGUMENT, name, "expected a value for a federated plan; found none"
                    )
            assert self.clients is not None and self.clients_per_round is not None
            if self.clients_per_round > self.clients:
                raise InputError(
                    ARGUMENT,
                    "clients_per_round",
                    f"expected at most clients ({self.clients}); found {self.clients_per_round}",
                )
            if not self.rounds and not self.noise_multipliers:
                raise InputError(
                    ARGUMENT,
                    "rounds",
                    "expected rounds, or noise_multipliers to find the largest number of rounds"
                    " that fits; found neither",
                )
            return self
        if not any(sgd.values()):
            raise InputError(
                ARGUMENT,
                None,
                "expected dataset_size and batch_sizes (DP-SGD) or clients and "
                "clients_per_round (federated); found neither",
            )
        if self.dataset_size is None:
            raise InputError(ARGUMENT, "dataset_size", "expected a value; found none")
        if not self.batch_sizes:
            raise InputError(ARGUMENT, "batch_sizes", "expected at least one; found none")
        for index, batch in enumerate(self.batch_sizes):
            if batch > self.dataset_size:
                raise InputError(
                    ARGUMENT,
                    f"batch_sizes[{index}]",
                    f"expected at most dataset_size ({self.dataset_size}); found {batch}",
                )
        if not self.epochs and not self.noise_multipliers:
            raise InputError(
                ARGUMENT,
                "epochs",
                "expected epochs, or noise_multipliers to find the largest number of steps"
                " that fits; found neither",
            )
        return self

    @property
    def federated(self) -> bool:
        return self.clients is not None or self.clients_per_round is not None or bool(self.rounds)

    @property
    def population(self) -> int:
        """n: the number of privacy units (records, or clients)."""
        size = self.clients if self.federated else self.dataset_size
        assert size is not None
        return size

    @property
    def solve_for(self) -> Solve:
        if not self.noise_multipliers:
            return Solve.NOISE_MULTIPLIER
        return Solve.EPSILON if (self.rounds or self.epochs) else Solve.STEPS

    @property
    def configurations(self) -> int:
        """How many rows the plan has."""
        lots = 1 if self.federated else len(self.batch_sizes)
        lengths = len(self.rounds if self.federated else self.epochs)
        if self.solve_for is Solve.NOISE_MULTIPLIER:
            return lots * lengths
        if self.solve_for is Solve.STEPS:
            return len(self.noise_multipliers) * lots
        return len(self.noise_multipliers) * lots * lengths
