"""The Flower engine against the in-process simulator, and joining a federation someone else
started: the same seeded run gives the same model and the same ledger on both engines (the
parties draw from the same streams; secure aggregation's masks cancel exactly in the ring), and
``FlowerEngine(superlink=...)`` runs the app on SuperNodes it did not start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privaudit.errors import InputError
from privaudit.federated.config import DistributedDpSgdConfig
from privaudit.federated.engine import InProcessEngine, LedgerTarget, SecureDpSgdRun
from privaudit.federated.results import FederatedResult
from privaudit.integrations.flower.engine import FlowerEngine, SiloExport, SilosExported
from privaudit.integrations.flower.processes import LocalFederation, silo_nodes
from privaudit.ledger import read_ledger
from privaudit.mechanisms import DistributedGaussian
from tests.integrations.flower.federation import WITHOUT_FLOWER

pytest.importorskip("flwr", reason=WITHOUT_FLOWER)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SILOS = 3
ROUNDS = 3


def _run(folder: Path, ledger: LedgerTarget | None = None) -> SecureDpSgdRun:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(1500, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 2] > 0).astype(np.int64)
    x_test = rng.normal(size=(400, 6)).astype(np.float32)
    y_test = (x_test[:, 0] + 0.5 * x_test[:, 2] > 0).astype(np.int64)
    return SecureDpSgdRun(
        x=x,
        y=y,
        parts=np.array_split(np.arange(len(x)), SILOS),
        config=DistributedDpSgdConfig(
            rounds=ROUNDS,
            noise_multiplier=1.5,
            clip_norm=1.0,
            sampling_rate=0.2,
            learning_rate=2.0,
            momentum=0.5,
            seed=5,
        ),
        threshold=2,
        value_bound=1000.0,
        silo_names=[f"silo-{i}" for i in range(SILOS)],
        x_test=x_test,
        y_test=y_test,
        n_classes=2,
        ledger=ledger,
        logs=folder / "logs",
    )


def _target(folder: Path) -> LedgerTarget:
    return LedgerTarget(
        path=folder / "ledger.jsonl", dataset="synthetic", run="engine", privacy_unit="example"
    )


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("engines")
    simulated = InProcessEngine().run_secure_dpsgd(_run(folder))
    on_flower = FlowerEngine(stage_timeout=60.0).run_secure_dpsgd(_run(folder, _target(folder)))
    return {"simulator": simulated, "flower": on_flower, "folder": folder}


def test_the_seeded_run_trains_the_same_model_on_both_engines(both: dict[str, Any]) -> None:
    simulated: FederatedResult = both["simulator"]
    on_flower: FederatedResult = both["flower"]
    assert on_flower.engine == "flower" and simulated.engine != "flower"
    np.testing.assert_allclose(on_flower.params, simulated.params, rtol=0, atol=1e-6)


def test_both_engines_release_the_same_mechanisms(both: dict[str, Any]) -> None:
    simulated = [item.mechanism for item in both["simulator"].ledger_entries]
    written = read_ledger(both["folder"] / "ledger.jsonl").entries
    expected = DistributedGaussian(
        noise_multiplier=1.5, clients=SILOS, survivors=SILOS, sampling_rate=0.2, steps=1
    )
    assert [e.mechanism for e in written] == [expected] * ROUNDS
    assert sum(getattr(m, "steps", 1) for m in simulated) == ROUNDS
    assert {m.model_copy(update={"steps": 1}) for m in simulated} == {expected}


def test_the_flower_engine_keeps_its_logs_but_no_data(both: dict[str, Any]) -> None:
    logs = both["folder"] / "logs"
    names = {p.name for p in logs.iterdir()}
    assert "superlink.log" in names and "rounds.json" in names
    assert not any(name.endswith(".npz") for name in names)


def test_the_app_runs_on_a_federation_started_elsewhere(tmp_path: Path) -> None:
    run = _run(tmp_path, _target(tmp_path))
    files = {}
    for i, rows in enumerate(run.parts):
        # Each silo keeps its own records on its own machine, named in its node config.
        files[i] = tmp_path / f"site-{i}.npz"
        np.savez(files[i], x=run.x[rows], y=run.y[rows])
    with LocalFederation(tmp_path / "elsewhere", silo_nodes(files)) as federation:
        result = FlowerEngine(superlink=federation.address, stage_timeout=60.0).run_secure_dpsgd(
            run
        )
    assert [len(r.survivors) for r in result.rounds] == [SILOS] * ROUNDS
    assert len(read_ledger(tmp_path / "ledger.jsonl").entries) == ROUNDS


def test_silo_export_writes_each_silos_records_and_stops(tmp_path: Path) -> None:
    run = _run(tmp_path)
    with pytest.raises(SilosExported) as done:
        SiloExport(tmp_path / "silos").run_secure_dpsgd(run)
    assert list(done.value.files) == list(run.silo_names)
    for path, rows in zip(done.value.files.values(), run.parts, strict=True):
        with np.load(path, allow_pickle=False) as silo:
            np.testing.assert_array_equal(silo["x"], run.x[rows])
            np.testing.assert_array_equal(silo["y"], run.y[rows])


def test_silo_export_never_overwrites_a_file(tmp_path: Path) -> None:
    (tmp_path / "silos").mkdir()
    kept = tmp_path / "silos" / "silo-1.npz"
    kept.write_bytes(b"someone's data")
    with pytest.raises(InputError, match=r"expected no silo-1\.npz"):
        SiloExport(tmp_path / "silos").run_secure_dpsgd(_run(tmp_path))
    assert kept.read_bytes() == b"someone's data"
    assert sorted(p.name for p in (tmp_path / "silos").iterdir()) == ["silo-1.npz"]


def test_silo_export_into_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "silos").write_text("not a folder")
    with pytest.raises(InputError, match="cannot write the silo files"):
        SiloExport(tmp_path / "silos").run_secure_dpsgd(_run(tmp_path))
