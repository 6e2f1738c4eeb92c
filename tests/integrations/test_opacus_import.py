"""`ledger import --from opacus` against Opacus itself: the figure privaudit recomputes from an
exported accountant is the one Opacus' own accountant gives for the same history, and a real
run's exported state imports to the entries the live guard writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from privaudit.imports.opacus import read_opacus
from privaudit.mechanisms import Sampling
from tests.integrations.opacus_training import (
    DELTA,
    Training,
    train,
)

accountants = pytest.importorskip("opacus.accountants")

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning")]
HISTORY = [(1.1, 0.01, 500), (0.9, 0.01, 200)]


def exported(tmp_path: Path, accountant: object) -> Path:
    path = tmp_path / "accountant.json"
    path.write_text(json.dumps(accountant.state_dict()), encoding="utf-8")  # type: ignore[attr-defined]
    return path


@pytest.mark.parametrize(
    ("make", "history"),
    [
        (accountants.RDPAccountant, HISTORY),
        # Opacus' GDP accountant refuses a change of noise or sampling rate.
        (accountants.GaussianAccountant, HISTORY[:1]),
    ],
    ids=["rdp", "gdp"],
)
def test_the_recomputed_figure_is_opacus_own(
    tmp_path: Path, make: Callable[[], object], history: list[tuple[float, float, int]]
) -> None:
    accountant = make()
    for z, q, steps in history:
        for _ in range(steps):
            accountant.step(noise_multiplier=z, sample_rate=q)  # type: ignore[attr-defined]

    run = read_opacus(exported(tmp_path, accountant), sampling=Sampling.POISSON, delta=DELTA)

    assert run.framework.epsilon == pytest.approx(
        accountant.get_epsilon(DELTA),  # type: ignore[attr-defined]
        rel=1e-9,
    )


def test_a_real_runs_exported_state_imports_its_steps(
    make_training: Callable[..., Training], tmp_path: Path
) -> None:
    training = make_training()
    taken, _ = train(training, epochs=2)

    run = read_opacus(
        exported(tmp_path, training.engine.accountant), sampling=Sampling.POISSON, delta=DELTA
    )

    assert sum(m.steps for m in run.mechanisms) == taken  # type: ignore[union-attr]
    assert run.framework.epsilon == pytest.approx(training.engine.get_epsilon(DELTA), rel=1e-9)
