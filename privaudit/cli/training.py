"""One validation training run from the command line: a live line per epoch on stderr, the
library's argument errors named by the options, and the run record written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from privaudit.cli.inputs import make_parent, options_named
from privaudit.cli.present import end_status_line, progress_line, status_line
from privaudit.rounding import up_fixed

if TYPE_CHECKING:
    from privaudit.records.run import RunRecord
    from privaudit.train.dpsgd import EpochStats
    from privaudit.train.runs import RunSettings


def train_and_write(settings: RunSettings, path: Path) -> RunRecord:
    """Train as ``settings`` say and write the run record to ``path``."""
    from privaudit.records.run import write_record

    make_parent(path)
    record = _train(settings)
    write_record(record, path)
    return record


def _train(settings: RunSettings) -> RunRecord:
    """Run ``settings`` with a live line per epoch on stderr."""
    from privaudit.train.runs import default_recipe, run_dpsgd

    epochs_total = settings.epochs or default_recipe(settings.data, settings.target_epsilon).epochs

    def progress(stats: EpochStats) -> None:
        # The live figure is the streaming accountant's bound (RDP far from the cap, PLD near
        # it, earlier ledger entries included); the record has the tight per-epoch PLD values.
        eps = "" if stats.epsilon is None else f"  ε ≤ {up_fixed(stats.epsilon)}"
        total = f"/{epochs_total}" if epochs_total else ""
        # One line rewritten in place on a terminal; one line per epoch in a CI log.
        status_line(
            f"{settings.run_name}: epoch {stats.epoch}{total}  test accuracy"
            f" {100 * stats.test_accuracy:.2f}%{eps}  {stats.seconds:.0f}s",
            log=True,
        )

    with options_named():
        record = run_dpsgd(settings, on_epoch=progress, on_status=progress_line)
    end_status_line()
    return record
