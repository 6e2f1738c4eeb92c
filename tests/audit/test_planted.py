"""Planted bugs need the environment's consent, come only as the enum, and cannot reach the
training APIs."""

from __future__ import annotations

import inspect

import pytest

from privaudit import federated
from privaudit.audit.planted import (
    PLANTED_BUGS_CONSENT,
    PLANTED_BUGS_VARIABLE,
    PlantedBug,
    PlantedBugRefusedError,
    TrainerAsRun,
    as_run,
    planted_bug_named,
)
from privaudit.errors import InputError, PrivauditError
from privaudit.train import runs
from privaudit.train.dpsgd import train_dpsgd
from tests.audit.blobs import Blobs, dpsgd_audit, fedavg_audit


def test_planted_bugs_refuse_without_consent(blobs: Blobs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PLANTED_BUGS_VARIABLE, raising=False)
    for bug in PlantedBug:
        with pytest.raises(PlantedBugRefusedError, match=PLANTED_BUGS_VARIABLE):
            dpsgd_audit(blobs, planted_bug=bug)
        with pytest.raises(PlantedBugRefusedError):
            fedavg_audit(blobs, planted_bug=bug)
    monkeypatch.setenv(PLANTED_BUGS_VARIABLE, "yes")
    with pytest.raises(PrivauditError, match="refused"):
        dpsgd_audit(blobs, planted_bug=PlantedBug.NO_CLIPPING)


@pytest.mark.usefixtures("allow_bugs")
def test_planted_bugs_only_as_the_enum(blobs: Blobs) -> None:
    with pytest.raises(InputError, match="PlantedBug"):
        dpsgd_audit(blobs, planted_bug="no_clipping")


def test_training_apis_cannot_plant_bugs() -> None:
    for function in (
        train_dpsgd,
        runs.run_dpsgd,
        federated.run_dp_fedavg,
        federated.run_local_dpsgd,
        federated.run_distributed_dpsgd,
        federated.simulate,
    ):
        assert "planted_bug" not in inspect.signature(function).parameters


def test_a_bug_named_on_the_command_line_needs_a_known_name_and_consent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PLANTED_BUGS_VARIABLE, raising=False)
    assert planted_bug_named(None) is None
    with pytest.raises(PlantedBugRefusedError):
        planted_bug_named("no_clipping")
    monkeypatch.setenv(PLANTED_BUGS_VARIABLE, PLANTED_BUGS_CONSENT)
    assert planted_bug_named("sampling_x4") is PlantedBug.SAMPLING_X4
    with pytest.raises(InputError, match="--plant-bug"):
        planted_bug_named("typo")


def test_each_bug_breaks_the_trainer_its_own_way() -> None:
    told = {"sampling_rate": 0.3, "noise_multiplier": 2.0}
    assert as_run(None, **told) == TrainerAsRun(0.3, 2.0, clips=True)
    assert as_run(PlantedBug.SAMPLING_X4, **told) == TrainerAsRun(1.0, 2.0, clips=True)
    assert as_run(PlantedBug.NOISE_DIV_10, **told) == TrainerAsRun(0.3, 0.2, clips=True)
    assert as_run(PlantedBug.NO_CLIPPING, **told) == TrainerAsRun(0.3, 2.0, clips=False)
