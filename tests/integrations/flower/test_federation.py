"""privaudit's Flower app on real processes: a SuperLink and three SuperNodes on 127.0.0.1,
one SuperNode killed (SIGKILL) in the middle of a round's secure sum. The round completes with
the survivors, the ledger holds one entry per round with them, ``privaudit check`` passes, the
budget guard stops the federation at the last round that fits, and no process outlives the
federation, even when the code inside it fails."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from privaudit.accounting.accountant import account
from privaudit.federated.evaluation import evaluate
from privaudit.integrations.flower.processes import LocalFederation, group_alive, silo_nodes
from privaudit.integrations.flower.spec import load_arrays
from privaudit.ledger import read_ledger
from privaudit.mechanisms import DistributedGaussian
from tests.integrations.flower.federation import (
    WITHOUT_FLOWER,
    make_silos,
    make_spec,
    privaudit_check,
    run_federation,
    write_policy,
)

pytest.importorskip("flwr", reason=WITHOUT_FLOWER)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
KILLED = 2


def _environment(pid: int) -> list[bytes]:
    # Popen returns once the child's exec is past its point of no return, but the kernel fills
    # in the new program's environment a moment later: until then /proc reads it as empty.
    deadline = time.time() + 30
    while True:
        found = Path(f"/proc/{pid}/environ").read_bytes()
        if found or time.time() > deadline:
            return found.split(b"\0")
        time.sleep(0.01)


def _gone(pid: int) -> bool:
    return not group_alive(pid)


@pytest.fixture(scope="module")
def dropout_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three rounds; site-2's SuperNode is killed once round 2's masked inputs are asked for."""
    folder = tmp_path_factory.mktemp("flower")
    silos = make_silos(folder)
    policy = write_policy(folder, 10.0)
    spec, spec_path = make_spec(folder, silos, rounds=3, policy=policy)

    def kill_in_round_2(event: dict[str, Any], federation: LocalFederation) -> None:
        if event.get("round") == 2 and event.get("stage") == "masked":
            federation.kill_node(KILLED)

    summary = run_federation(folder, spec, spec_path, silos, kill_in_round_2)
    return {"summary": summary, "folder": folder, "spec": spec, "silos": silos, "policy": policy}


def test_the_round_with_the_killed_node_completes_with_the_survivors(
    dropout_run: dict[str, Any],
) -> None:
    rounds = dropout_run["summary"]["rounds"]
    assert dropout_run["summary"]["status"] == "completed"
    assert [len(r["survivors"]) for r in rounds] == [3, 2, 2]
    assert rounds[1]["dropped"] == [KILLED]


def test_the_ledger_holds_one_entry_a_round_with_its_survivors(
    dropout_run: dict[str, Any],
) -> None:
    entries = read_ledger(dropout_run["folder"] / "ledger.jsonl").entries
    config = dropout_run["spec"].config
    rounds = dropout_run["summary"]["rounds"]
    assert [e.meta["round"] for e in entries] == [1, 2, 3]
    for entry, record in zip(entries, rounds, strict=True):
        assert entry.mechanism == DistributedGaussian(
            noise_multiplier=config.noise_multiplier,
            clients=len(record["selected"]),
            survivors=len(record["survivors"]),
            sampling_rate=config.sampling_rate,
            steps=1,
        )
        assert entry.meta["survived"] == [f"site-{s}" for s in record["survivors"]]


def test_privaudit_check_passes_on_the_federation_ledger(dropout_run: dict[str, Any]) -> None:
    done = privaudit_check(dropout_run["folder"] / "ledger.jsonl", dropout_run["policy"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_federated_model_learned(dropout_run: dict[str, Any]) -> None:
    spec, silos = dropout_run["spec"], dropout_run["silos"]
    (params,) = load_arrays(Path(spec.folder) / "result.npz", "params")
    model = spec.config.model.build(5, 2)
    assert evaluate(model, params, silos.x_test, silos.y_test)["roc_auc"] > 0.9


def test_no_flower_process_outlives_the_federation(dropout_run: dict[str, Any]) -> None:
    assert all(_gone(pid) for pid in dropout_run["summary"]["pids"])


def test_every_process_is_stopped_when_the_code_inside_fails(tmp_path: Path) -> None:
    silos = make_silos(tmp_path)
    pids: list[int] = []
    environments: list[list[bytes]] = []
    with (
        pytest.raises(RuntimeError, match="inside"),
        LocalFederation(tmp_path / "processes", silo_nodes(silos.files)) as federation,
    ):
        pids = [p.pid for p in federation.processes.values()]
        environments = [_environment(pid) for pid in pids]
        raise RuntimeError("a failure inside the federation")
    assert len(pids) == 4
    assert all(_gone(pid) for pid in pids)
    # Flower's telemetry and update check would reach the internet; the federation stays local.
    for environment in environments:
        assert b"FLWR_TELEMETRY_ENABLED=0" in environment
        assert b"FLWR_DISABLE_UPDATE_CHECK=1" in environment


def test_the_guard_stops_the_federation_at_the_last_round_that_fits(tmp_path: Path) -> None:
    silos = make_silos(tmp_path)
    rounds, sigma, q = 6, 2.0, 0.3
    # A round is admitted only if it fits even when just 2 of the 3 silos survive it.
    worst = DistributedGaussian(noise_multiplier=sigma, clients=3, survivors=2, sampling_rate=q)
    two = account([worst, worst], delta=1e-5).pld.epsilon
    three = account([worst] * 3, delta=1e-5).pld.epsilon
    limit = (two + three) / 2
    policy = write_policy(tmp_path, limit)
    spec, spec_path = make_spec(tmp_path, silos, rounds=rounds, policy=policy, sigma=sigma)

    summary = run_federation(tmp_path, spec, spec_path, silos)

    entries = read_ledger(tmp_path / "ledger.jsonl").entries
    spent = [e.mechanism for e in entries]
    assert summary["status"] == "budget"
    assert 2 <= len(entries) == len(summary["rounds"]) < rounds
    assert entries[-1].meta["stopped"] == "budget"
    assert entries[-1].meta["last_round_that_fits"] == len(entries)
    assert all("stopped" not in e.meta for e in entries[:-1])
    assert account(spent, delta=1e-5).pld.epsilon <= limit
    assert account([*spent, worst], delta=1e-5).pld.epsilon > limit
