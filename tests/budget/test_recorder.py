"""Steps → ledger entries: identical steps compress into one block, a change of noise starts a
new one, a flush writes them all or none, and under shuffled batches only an epoch's first step
costs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from privaudit.budget.recorder import StepRecorder
from privaudit.ledger import read_ledger
from privaudit.mechanisms import DpSgd, Gaussian, PoissonSampled, Sampling


def recorder(tmp_path: Path, sampling: Sampling = Sampling.POISSON) -> StepRecorder:
    return StepRecorder(tmp_path / "ledger.jsonl", dataset="ds", sampling=sampling, run="r")


def test_identical_steps_become_one_entry(tmp_path: Path) -> None:
    steps = recorder(tmp_path)
    for _ in range(7):
        steps.step(1.1, 0.01, {})

    steps.close()

    [entry] = read_ledger(tmp_path / "ledger.jsonl").entries
    assert entry.mechanism == DpSgd(noise_multiplier=1.1, sampling_rate=0.01, steps=7)


def test_a_change_of_noise_starts_a_new_block(tmp_path: Path) -> None:
    steps = recorder(tmp_path)
    for z in (1.1, 1.1, 0.9, 0.9, 0.9, 1.1):
        steps.step(z, 0.01, {})

    steps.close()

    found = [
        (e.mechanism.noise_multiplier, e.mechanism.steps)  # type: ignore[union-attr]
        for e in read_ledger(tmp_path / "ledger.jsonl").entries
    ]
    assert found == [(1.1, 2), (0.9, 3), (1.1, 1)]


def test_a_poisson_step_costs_one_sampled_gaussian(tmp_path: Path) -> None:
    steps = recorder(tmp_path)
    steps.step(1.1, 0.01, {})

    cost = steps.cost_of_step(1.1, 0.01)

    sampled = PoissonSampled(sampling_rate=0.01, event=Gaussian(noise_multiplier=1.1))
    assert cost == Counter({sampled: 1})


def test_under_shuffled_batches_only_the_first_step_of_an_epoch_costs(tmp_path: Path) -> None:
    steps = recorder(tmp_path, Sampling.SHUFFLE)
    first = steps.cost_of_step(1.1, 0.25)
    steps.step(1.1, 0.25, {})

    later = steps.cost_of_step(1.1, 0.25)

    assert first == Counter({Gaussian(noise_multiplier=1.1): 1})
    assert later == Counter()


def test_flush_carries_the_meta_and_empties_the_pending_steps(tmp_path: Path) -> None:
    steps = recorder(tmp_path)
    steps.step(1.1, 0.01, {"framework": {"name": "x"}})

    [entry] = steps.flush({"extra": 1})

    assert entry.meta["framework"] == {"name": "x"}
    assert entry.meta["extra"] == 1
    assert steps.pending_steps == 0
    assert steps.steps == 1


def test_close_removes_the_journal(tmp_path: Path) -> None:
    steps = recorder(tmp_path)
    steps.step(1.1, 0.01, {})
    journal = steps.journal_path
    assert journal is not None and journal.exists()

    steps.close()

    assert not journal.exists()
