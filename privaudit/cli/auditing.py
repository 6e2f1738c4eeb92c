"""One empirical audit from the command line: its options checked before any work, the runner
called, the audit record written and shown, and the exit code of its verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from privaudit.cli.app import SummaryFormat, TrainData
from privaudit.cli.inputs import check_delta, check_positive, make_parent, options_named
from privaudit.cli.present import emit, emit_json, progress_line
from privaudit.errors import EXIT_FAIL, EXIT_OK, InputError
from privaudit.rounding import down_fixed, up_fixed

if TYPE_CHECKING:
    from privaudit.cli.audit import AuditMethod
    from privaudit.records.audit import AuditRecord

AuditRunner = Callable[..., "AuditRecord"]
"""``run_dpsgd_audit`` or ``run_fedavg_audit``."""


@dataclass(frozen=True)
class Audit:
    """The options of one audit (``clients``: FedAvg only), checked on construction, before
    any work."""

    data: TrainData
    data_dir: Path | None
    epsilon: float
    delta: float
    canaries: int
    seed: int
    method: AuditMethod
    plant_bug: str | None
    clients: int | None = None

    def __post_init__(self) -> None:
        check_positive("--epsilon", self.epsilon)
        check_delta(self.delta)
        for option, count in (("--canaries", self.canaries), ("--clients", self.clients)):
            if count is not None and count < 2:
                raise InputError(option, None, f"expected a whole number >= 2; found {count}")

    def run(
        self,
        target: str,
        runner: AuditRunner,
        out: Path | None,
        output_format: SummaryFormat,
        binding: Binding | None = None,
    ) -> NoReturn:
        """Audit with ``runner``, write the record (to ``out`` or its default; bound to a
        ledger's run when ``binding`` is given), show it, and exit 1 on a violation."""
        path = out or Path("runs") / f"audit-{target}-{self.data.value}-eps{self.epsilon:g}.json"
        clients = {} if self.clients is None else {"clients": self.clients}
        with options_named():
            record = runner(
                self.data.value,
                self.data_dir,
                epsilon=self.epsilon,
                delta=self.delta,
                canaries=self.canaries,
                **clients,
                seed=self.seed,
                method=self.method.value,
                planted_bug=self.plant_bug,
                progress=progress_line,
            )
        if binding is not None:
            record = record.model_copy(
                update={
                    "ledger_head": binding.ledger_head,
                    "dataset_id": binding.dataset_id,
                    "run": binding.run,
                }
            )
        _write_record(record, path)
        if output_format is SummaryFormat.JSON:
            emit_json({**record.model_dump(mode="json"), "record": str(path)})
        else:
            _summary(record, path)
        raise typer.Exit(EXIT_FAIL if record.verdict == "violation" else EXIT_OK)


@dataclass(frozen=True)
class Binding:
    """The ledger run an audit record belongs to: the ledger's head when the audit ran, the
    dataset and the run (a report attaches the record only to that ledger, run and dataset)."""

    ledger_head: str
    dataset_id: str
    run: str


def bind_to(ledger: str | None, run: str | None, dataset_id: str | None) -> Binding | None:
    """The binding ``--ledger``, ``--run`` and ``--dataset-id`` name (all three or none), checked
    before any work: the ledger must verify and hold entries of that run on that dataset."""
    given = {"--ledger": ledger, "--run": run, "--dataset-id": dataset_id}
    if all(value is None for value in given.values()):
        return None
    missing = [name for name, value in given.items() if value is None]
    if missing or ledger is None or run is None or dataset_id is None:
        raise InputError(
            missing[0] if missing else "--ledger",
            None,
            "binds the audit to a ledger run together with --ledger, --run and --dataset-id;"
            f" missing {', '.join(missing)}",
        )
    from privaudit.cli.stores import open_store

    store = open_store(ledger)
    verified = store.read()
    if not any(e.run == run and e.dataset == dataset_id for e in verified.entries):
        raise InputError(
            store.name,
            None,
            f"has no entries of run {run!r} on dataset {dataset_id!r}; expected the run the"
            " audit is bound to",
        )
    return Binding(verified.head, dataset_id, run)


def _write_record(record: AuditRecord, path: Path) -> None:
    from privaudit.records.audit import write_audit_record

    make_parent(path)
    write_audit_record(record, path)


def _summary(record: AuditRecord, path: Path) -> None:
    checks = record.direct_checks
    emit(
        f"{record.name}: ε claimed {up_fixed(record.epsilon_claimed)}, lower bound"
        f" {down_fixed(record.epsilon_lower_bound)} at {100 * record.confidence:g}% confidence"
        f" ({record.method}, {record.correct}/{record.guesses} correct of"
        f" {record.canaries} canaries): {record.verdict.upper()}"
    )
    emit(
        f"  noise std {checks.noise_std.observed:.4g} (claimed {checks.noise_std.claimed:.4g}):"
        f" {'ok' if checks.noise_std.ok else 'FAILED'}; sampling rate"
        f" {checks.sampling_rate.observed:.4g} (claimed {checks.sampling_rate.claimed:.4g}):"
        f" {'ok' if checks.sampling_rate.ok else 'FAILED'}"
    )
    if record.ceiling is not None:
        strength = (
            ""
            if record.efficiency is None
            else f" ({record.efficiency:.2f} of it; the ceiling is what an ideal auditor"
            " certifies against exactly the claimed Gaussian mechanism)"
        )
        emit(f"  ceiling {down_fixed(record.ceiling)}{strength}")
    if record.method_requested == "auto" and record.method_reason:
        emit(f"  method {record.method}: {record.method_reason}")
    for reason in record.reasons:
        emit(f"  {reason}")
    if record.planted_bug:
        emit(f"  planted bug: {record.planted_bug} (a test of the audit; not a real run)")
    emit(f"  audit record: {path}")
