"""privaudit.integrations.opacus against real Opacus training runs: the ledger holds exactly the
steps Opacus took, the guard stops a run on the last step that fits the policy, a second run on a
spent dataset is refused at its first step, and a run killed mid-epoch is recovered."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from privaudit.accounting.accountant import account
from privaudit.assess import assess
from privaudit.errors import BudgetExceededError, InputError
from privaudit.ledger import read_ledger
from privaudit.mechanisms import DpSgd, Sampling
from privaudit.policy import load_policy
from tests.integrations.opacus_training import (
    DELTA,
    Training,
    train,
    write_policy,
)

opacus_guard = pytest.importorskip("privaudit.integrations.opacus")
torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]
ROOT = Path(__file__).resolve().parents[2]
MakeTraining = Callable[..., Training]


def attach(training: Training, tmp_path: Path, epsilon: float = 50.0, run: str = "r1"):  # type: ignore[no-untyped-def]
    policy = write_policy(tmp_path, epsilon, training.dataset_size)
    return opacus_guard.attach(
        training.engine,
        data_loader=training.loader,
        ledger=tmp_path / "ledger.jsonl",
        dataset="digits",
        policy=policy,
        run=run,
    )


def steps_in(ledger: Path) -> list[DpSgd]:
    found = [e.mechanism for e in read_ledger(ledger).entries]
    assert all(isinstance(m, DpSgd) for m in found)
    return found  # type: ignore[return-value]


def poisson_steps(training: Training, count: int) -> DpSgd:
    return DpSgd(
        noise_multiplier=training.optimizer.noise_multiplier,
        sampling_rate=1 / len(training.loader),
        steps=count,
    )


def test_the_ledger_holds_the_steps_opacus_took(
    make_training: MakeTraining, tmp_path: Path
) -> None:
    training = make_training()
    with attach(training, tmp_path):
        taken, stopped = train(training, epochs=3)

    [(z, q, opacus_steps)] = training.engine.accountant.history
    recorded = steps_in(tmp_path / "ledger.jsonl")
    assert not stopped
    assert opacus_steps == taken == sum(m.steps for m in recorded)
    assert {(m.noise_multiplier, m.sampling_rate, m.sampling) for m in recorded} == {
        (z, q, Sampling.POISSON)
    }


def test_one_entry_is_written_per_epoch(make_training: MakeTraining, tmp_path: Path) -> None:
    training = make_training()
    with attach(training, tmp_path):
        train(training, epochs=3)

    assert len(steps_in(tmp_path / "ledger.jsonl")) == 3


def test_the_ledger_pld_epsilon_equals_reaccounting_the_steps(
    make_training: MakeTraining, tmp_path: Path
) -> None:
    training = make_training()
    with attach(training, tmp_path) as guard:
        taken, _ = train(training, epochs=2)
    policy = load_policy(tmp_path / "policy.yaml")

    [dataset] = assess(read_ledger(tmp_path / "ledger.jsonl"), policy).datasets

    assert dataset.epsilon_pld == account([poisson_steps(training, taken)], DELTA).pld.epsilon
    assert guard.epsilon() == dataset.epsilon


def test_opacus_own_epsilon_is_recorded_beside_each_entry(
    make_training: MakeTraining, tmp_path: Path
) -> None:
    training = make_training()
    with attach(training, tmp_path):
        train(training, epochs=2)

    last = read_ledger(tmp_path / "ledger.jsonl").entries[-1]
    figure = last.meta["framework"]
    assert (figure["name"], figure["accountant"], figure["via"]) == ("opacus", "rdp", "guard")
    assert figure["epsilon"] == training.engine.get_epsilon(DELTA)
    assert figure["delta"] == DELTA


def test_the_guard_stops_on_the_last_step_that_fits(
    make_training: MakeTraining, tmp_path: Path
) -> None:
    training = make_training()
    with attach(training, tmp_path, epsilon=1.0) as guard:
        taken, stopped = train(training, epochs=20)

    assert stopped and guard.stopped is not None
    assert account([poisson_steps(training, taken)], DELTA).epsilon <= 1.0
    assert account([poisson_steps(training, taken + 1)], DELTA).epsilon > 1.0
    assert sum(m.steps for m in steps_in(tmp_path / "ledger.jsonl")) == taken


def test_check_passes_after_the_guard_stopped_a_run(
    make_training: MakeTraining, tmp_path: Path
) -> None:
    from privaudit.cli import main

    training = make_training()
    with attach(training, tmp_path, epsilon=1.0):
        train(training, epochs=20)

    code = main(
        ["check", str(tmp_path / "ledger.jsonl"), "--policy", str(tmp_path / "policy.yaml")]
    )

    assert code == 0


def test_check_shows_opacus_own_epsilon_beside_privaudits(
    make_training: MakeTraining, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from privaudit.cli import main
    from privaudit.rounding import up

    training = make_training()
    with attach(training, tmp_path):
        train(training, epochs=2)
    opacus_epsilon = training.engine.get_epsilon(DELTA)
    [dataset] = assess(
        read_ledger(tmp_path / "ledger.jsonl"), load_policy(tmp_path / "policy.yaml")
    ).datasets
    capsys.readouterr()

    main(["check", str(tmp_path / "ledger.jsonl"), "--policy", str(tmp_path / "policy.yaml")])

    row = next(line for line in capsys.readouterr().out.splitlines() if "Opacus rdp" in line)
    assert up(opacus_epsilon) in row
    assert dataset.epsilon_pld is not None and up(dataset.epsilon_pld) in row


def test_a_refused_step_is_not_applied_nor_counted_by_opacus(
    make_training: MakeTraining, tmp_path: Path
) -> None:
    training = make_training()
    with attach(training, tmp_path, epsilon=1.0):
        taken, _ = train(training, epochs=20)
        before = [p.detach().clone() for p in training.model.parameters()]
        x, y = next(iter(training.loader))
        training.optimizer.zero_grad()
        torch.nn.functional.cross_entropy(training.model(x), y).backward()
        with pytest.raises(BudgetExceededError):
            training.optimizer.step()

    after = list(training.model.parameters())
    assert all(torch.equal(b, a) for b, a in zip(before, after, strict=True))
    assert training.engine.accountant.history[-1][2] == taken


def test_a_second_run_on_a_spent_dataset_is_refused_at_its_first_step(
    make_training: MakeTraining, tmp_path: Path
) -> None:
    first = make_training()
    with attach(first, tmp_path, epsilon=1.0):
        train(first, epochs=20)
    entries = len(read_ledger(tmp_path / "ledger.jsonl").entries)

    second = make_training(seed=1)
    with attach(second, tmp_path, epsilon=1.0, run="r2") as guard:
        taken, stopped = train(second, epochs=1)

    assert (taken, stopped) == (0, True)
    assert "dataset 'digits' has spent" in str(guard.stopped)
    assert len(read_ledger(tmp_path / "ledger.jsonl").entries) == entries


def test_a_shuffled_loader_is_recorded_without_amplification(
    make_training: MakeTraining, tmp_path: Path
) -> None:
    training = make_training(noise_multiplier=3.0, poisson_sampling=False)
    with attach(training, tmp_path) as guard:
        train(training, epochs=2)

    recorded = steps_in(tmp_path / "ledger.jsonl")
    assert [m.sampling for m in recorded] == [Sampling.SHUFFLE] * 2
    assert [m.steps for m in recorded] == [len(training.loader)] * 2
    assert "no amplification" in guard.sampling_note


def test_a_loader_that_samples_with_replacement_is_refused(
    make_training: MakeTraining, tmp_path: Path
) -> None:
    training = make_training()
    dataset = training.loader.dataset
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True)
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, sampler=sampler)

    with pytest.raises(InputError, match="cannot tell how this loader forms batches"):
        opacus_guard.attach(
            training.engine,
            data_loader=loader,
            ledger=tmp_path / "ledger.jsonl",
            dataset="digits",
            policy=write_policy(tmp_path, 10.0, training.dataset_size),
        )


def test_the_optimizer_can_be_guarded_directly(make_training: MakeTraining, tmp_path: Path) -> None:
    training = make_training()
    guard = opacus_guard.attach(
        training.optimizer,
        accountant=training.engine.accountant,
        data_loader=training.loader,
        ledger=tmp_path / "ledger.jsonl",
        dataset="digits",
        policy=write_policy(tmp_path, 50.0, training.dataset_size),
    )
    with guard:
        taken, _ = train(training, epochs=1, most_steps=10)

    assert sum(m.steps for m in steps_in(tmp_path / "ledger.jsonl")) == taken == 10


def test_a_run_killed_mid_epoch_is_recovered_by_the_next_run(
    make_training: MakeTraining, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path, 50.0, 1438)
    ledger = tmp_path / "ledger.jsonl"
    script = textwrap.dedent(
        f"""
        import os, signal, warnings
        warnings.simplefilter("ignore")
        from tests.integrations.opacus_training import digits_dataset
        import torch
        from torch import nn
        from torch.utils.data import DataLoader
        from opacus import PrivacyEngine
        from privaudit.integrations import opacus as guard_opacus
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        engine = PrivacyEngine(accountant="rdp")
        model, optimizer, loader = engine.make_private(
            module=model, optimizer=optimizer,
            data_loader=DataLoader(digits_dataset(), batch_size=64),
            noise_multiplier=1.5, max_grad_norm=1.0)
        guard_opacus.attach(engine, data_loader=loader, ledger={str(ledger)!r}, dataset="digits",
                            policy={str(policy)!r}, run="killed")
        taken = 0
        for epoch in range(3):
            for x, y in loader:
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
                taken += 1
                if taken == 30:
                    os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False)
    assert done.returncode == -signal.SIGKILL

    training = make_training()
    with attach(training, tmp_path, epsilon=50.0, run="next"):
        pass

    killed = [e for e in read_ledger(ledger).entries if e.run == "killed"]
    assert sum(e.mechanism.steps for e in killed) == 30  # type: ignore[union-attr]
