"""Steps → ledger entries: a live run's DP-SGD steps, as blocks of identical steps.

Consecutive steps with the same noise multiplier and sampling rate form one block; a flush (per
epoch, and at close) writes one ``dpsgd`` entry per block. Until then the blocks are in the
run's crash journal (:mod:`privaudit.budget.journal`), rewritten before each step is applied.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privaudit.accounting.dp_events import flatten
from privaudit.budget.journal import Journal
from privaudit.ledger import Admit, LedgerEntry, NewEntry, append_entries
from privaudit.mechanisms import DpSgd, Mechanism, Sampling, mechanism_to_json


@dataclass
class _Block:
    index: int
    noise_multiplier: float
    sampling_rate: float
    steps: int

    def mechanism(self, sampling: Sampling, steps: int | None = None) -> DpSgd:
        return DpSgd(
            noise_multiplier=self.noise_multiplier,
            sampling_rate=self.sampling_rate,
            steps=self.steps if steps is None else steps,
            sampling=sampling,
        )


class StepRecorder:
    """Records one run's steps on one dataset and writes them to the ledger in blocks."""

    def __init__(
        self,
        ledger: str | Path,
        *,
        dataset: str,
        sampling: Sampling,
        run: str | None = None,
        partition: str | None = None,
        privacy_unit: str | None = None,
        journal: bool = True,
    ) -> None:
        if sampling is Sampling.FIXED_BATCH:
            raise ValueError("fixed-size batches need the replace-one relation; not recorded live")
        self.ledger = Path(ledger)
        self.dataset = dataset
        self.sampling = sampling
        self.run = run
        self.partition = partition
        self.privacy_unit = privacy_unit
        self._blocks: list[_Block] = []
        self._next_block = 0
        self.steps = 0
        """Steps recorded so far (flushed or not)."""
        self.entries: list[LedgerEntry] = []
        """Entries this recorder wrote."""
        self._meta: dict[str, Any] = {}
        self._journal = (
            Journal(
                self.ledger,
                {
                    "ledger": self.ledger.name,
                    "dataset": dataset,
                    "run": run,
                    "partition": partition,
                    "privacy_unit": privacy_unit,
                },
            )
            if journal
            else None
        )

    @property
    def journal_path(self) -> Path | None:
        return None if self._journal is None else self._journal.path

    @property
    def pending_steps(self) -> int:
        return sum(block.steps for block in self._blocks)

    def cost_of_step(self, noise_multiplier: float, sampling_rate: float) -> Counter[Mechanism]:
        """The base releases one more step adds to what is recorded. Under shuffled batches only
        the first step of each epoch of a block costs (one Gaussian per example per epoch)."""
        block = self._current(noise_multiplier, sampling_rate)
        if block is None:
            fresh = _Block(-1, noise_multiplier, sampling_rate, 1)
            return flatten([fresh.mechanism(self.sampling)])
        after = flatten([block.mechanism(self.sampling, block.steps + 1)])
        after.subtract(flatten([block.mechanism(self.sampling)]))
        return Counter({base: times for base, times in after.items() if times > 0})

    def step(self, noise_multiplier: float, sampling_rate: float, meta: dict[str, Any]) -> None:
        """Record one step; the journal holds it before this returns. ``meta`` is stored with
        the block's entry (the latest one given wins)."""
        block = self._current(noise_multiplier, sampling_rate)
        if block is None:
            block = _Block(self._next_block, noise_multiplier, sampling_rate, 0)
            self._next_block += 1
            self._blocks.append(block)
        block.steps += 1
        self.steps += 1
        self._meta = meta
        self._write_journal()

    def flush(
        self, meta: dict[str, Any] | None = None, *, admit: Admit | None = None
    ) -> list[LedgerEntry]:
        """Write every pending block as one entry; ``meta`` (e.g. the framework's ε now) is
        merged into each entry's meta. ``admit`` is asked under the ledger's lock (see
        :func:`~privaudit.ledger.append_entries`)."""
        if meta is not None:
            self._meta = {**self._meta, **meta}
        new = []
        for block in self._blocks:
            entry_meta = dict(self._meta)
            if self._journal is not None:
                entry_meta["journal"] = {"id": self._journal.id, "block": block.index}
            new.append(
                NewEntry(
                    dataset=self.dataset,
                    mechanism=block.mechanism(self.sampling),
                    partition=self.partition,
                    privacy_unit=self.privacy_unit,
                    run=self.run,
                    meta=entry_meta,
                )
            )
        # All blocks in one write; the journal is emptied only after they are in the ledger.
        written = list(append_entries(self.ledger, new, admit=admit))
        self._blocks.clear()
        self._write_journal()
        self.entries += written
        return written

    def close(
        self, meta: dict[str, Any] | None = None, *, admit: Admit | None = None
    ) -> list[LedgerEntry]:
        """Flush, then remove the journal. Idempotent."""
        written = self.flush(meta, admit=admit)
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        return written

    def _current(self, noise_multiplier: float, sampling_rate: float) -> _Block | None:
        if self._blocks:
            last = self._blocks[-1]
            if (last.noise_multiplier, last.sampling_rate) == (noise_multiplier, sampling_rate):
                return last
        return None

    def _write_journal(self) -> None:
        if self._journal is None:
            return
        self._journal.write(
            [
                {
                    "block": block.index,
                    "steps": block.steps,
                    "mechanism": mechanism_to_json(block.mechanism(self.sampling)),
                    "meta": self._meta,
                }
                for block in self._blocks
            ]
        )
