"""The crash journal: a run killed mid-epoch leaves its steps beside the ledger; recovery writes
them once, leaves live runs alone, and never drops a journal it cannot read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from privaudit.budget.journal import journal_folder, pending_runs, recover
from privaudit.budget.recorder import StepRecorder
from privaudit.errors import InputError
from privaudit.ledger import read_ledger
from privaudit.mechanisms import DpSgd, Sampling
from tests.budget.helpers import killed_run


def test_steps_of_a_killed_run_are_recovered(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    killed_run(ledger, flushed=5, pending=3)

    written = recover(ledger)

    entries = read_ledger(ledger).entries
    assert [e.mechanism.steps for e in entries] == [5, 3]  # type: ignore[union-attr]
    assert [e.seq for e in written] == [2]
    assert entries[-1].meta["journal"]["recovered"] is True


def test_a_killed_runs_journal_is_listed_as_not_live(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    killed_run(ledger, flushed=1, pending=4)

    [found] = pending_runs(ledger)

    assert not found.live
    assert (found.run, found.dataset, found.steps) == ("r", "ds", 4)


def test_recovery_is_done_once(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    killed_run(ledger, flushed=2, pending=2)
    recover(ledger)

    again = recover(ledger)

    assert again == []
    assert len(read_ledger(ledger).entries) == 2


def test_a_block_already_in_the_ledger_is_not_written_twice(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    steps = StepRecorder(ledger, dataset="ds", sampling=Sampling.POISSON, run="r")
    steps.step(1.1, 0.01, {})
    journal = steps.journal_path
    assert journal is not None
    stale = journal.read_bytes()
    steps.flush()
    # A crash between the ledger write and the journal update: the journal still lists it.
    journal.write_bytes(stale)
    os.close(steps._journal._fd)  # type: ignore[union-attr]  # the writer dies
    steps._journal._fd = -1  # type: ignore[union-attr]

    written = recover(ledger)

    assert written == []
    assert [e.mechanism for e in read_ledger(ledger).entries] == [
        DpSgd(noise_multiplier=1.1, sampling_rate=0.01, steps=1)
    ]


def test_a_live_runs_journal_is_left_alone(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    steps = StepRecorder(ledger, dataset="ds", sampling=Sampling.POISSON, run="r")
    steps.step(1.1, 0.01, {})

    written = recover(ledger)

    assert written == []
    assert [run.live for run in pending_runs(ledger)] == [True]
    steps.close()


def test_an_unreadable_journal_is_an_error_and_is_kept(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    folder = journal_folder(ledger)
    folder.mkdir()
    broken = folder / "0123.json"
    broken.write_text('{"journal": 1, "id": "0123", "pending": [{"block": 0}]}', encoding="utf-8")

    with pytest.raises(InputError, match="cannot recover this crash journal"):
        recover(ledger)

    assert broken.exists()
    assert not ledger.exists()
