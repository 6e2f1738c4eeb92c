"""``privaudit audit dpsgd|fedavg``: empirical privacy audits with canaries, their audit records,
and exit 1 when a run is shown not to deliver its ε."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from privaudit.cli.app import DataDirOption, DataOption, FormatOption, SummaryFormat, TrainData
from privaudit.cli.inputs import check_delta, check_positive, make_parent, options_named
from privaudit.cli.present import emit, emit_json, progress_line
from privaudit.errors import EXIT_FAIL, EXIT_OK, InputError

if TYPE_CHECKING:
    from privaudit.records.audit import AuditRecord

audit_app = typer.Typer(
    help="Empirical privacy audits: plant canaries, train once, bound ε from below.",
    no_args_is_help=True,
)


class AuditMethod(StrEnum):
    ONE_RUN = "one_run"
    ONE_RUN_FDP = "one_run_fdp"


AuditEpsilonOption = Annotated[
    float, typer.Option("--epsilon", help="ε the trainer is configured to spend (σ calibrated).")
]
AuditDeltaOption = Annotated[float, typer.Option("--delta", help="δ of the claim.")]
CanariesOption = Annotated[int, typer.Option(help="Canaries m (each included with prob. 1/2).")]
AuditSeedOption = Annotated[int, typer.Option(help="Seed of coin flips and training.")]
AuditMethodOption = Annotated[
    AuditMethod,
    typer.Option(
        "--method",
        help="one_run: Steinke et al. 2023, valid for any (ε, δ) claim; one_run_fdp:"
        " Mahloujifar et al. 2024, tighter, refutes a Gaussian trade-off curve.",
    ),
]
AuditOutOption = Annotated[
    Path | None, typer.Option(help="Audit record [default: runs/audit-TARGET-DATA-epsE.json].")
]
PlantBugOption = Annotated[str | None, typer.Option(hidden=True)]

AuditRunner = Callable[..., "AuditRecord"]
"""``run_dpsgd_audit`` or ``run_fedavg_audit``."""


@dataclass(frozen=True)
class _Audit:
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
        self, target: str, runner: AuditRunner, out: Path | None, output_format: SummaryFormat
    ) -> NoReturn:
        """Audit with ``runner``, write the record (to ``out`` or its default), show it, and
        exit 1 on a violation."""
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
        _write_record(record, path)
        if output_format is SummaryFormat.JSON:
            emit_json({**record.model_dump(mode="json"), "record": str(path)})
        else:
            _summary(record, path)
        raise typer.Exit(EXIT_FAIL if record.verdict == "violation" else EXIT_OK)


@audit_app.command("dpsgd")
def audit_dpsgd_command(
    data: DataOption = TrainData.DIGITS,
    data_dir: DataDirOption = None,
    epsilon: AuditEpsilonOption = 2.0,
    delta: AuditDeltaOption = 1e-5,
    canaries: CanariesOption = 1000,
    seed: AuditSeedOption = 0,
    method: AuditMethodOption = AuditMethod.ONE_RUN,
    out: AuditOutOption = None,
    plant_bug: PlantBugOption = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Audit the DP-SGD trainer on real data: exit 1 if the run is shown not to deliver ε."""
    from privaudit.audit.runner import run_dpsgd_audit

    audit = _Audit(data, data_dir, epsilon, delta, canaries, seed, method, plant_bug)
    audit.run("dpsgd", run_dpsgd_audit, out, output_format)


@audit_app.command("fedavg")
def audit_fedavg_command(
    data: DataOption = TrainData.DIGITS,
    data_dir: DataDirOption = None,
    epsilon: AuditEpsilonOption = 2.0,
    delta: AuditDeltaOption = 1e-5,
    canaries: CanariesOption = 1000,
    clients: Annotated[int, typer.Option(help="Real clients the data is split over.")] = 100,
    seed: AuditSeedOption = 0,
    method: AuditMethodOption = AuditMethod.ONE_RUN,
    out: AuditOutOption = None,
    plant_bug: PlantBugOption = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Audit client-level DP-FedAvg with canary clients: exit 1 on a violation."""
    from privaudit.audit.runner import run_fedavg_audit

    audit = _Audit(data, data_dir, epsilon, delta, canaries, seed, method, plant_bug, clients)
    audit.run("fedavg", run_fedavg_audit, out, output_format)


def _write_record(record: AuditRecord, path: Path) -> None:
    from privaudit.records.audit import write_audit_record

    make_parent(path)
    write_audit_record(record, path)


def _summary(record: AuditRecord, path: Path) -> None:
    checks = record.direct_checks
    emit(
        f"{record.name}: ε claimed {record.epsilon_claimed:.4f}, lower bound"
        f" {record.epsilon_lower_bound:.4f} at {100 * record.confidence:g}% confidence"
        f" ({record.method}, {record.correct}/{record.guesses} correct of"
        f" {record.canaries} canaries): {record.verdict.upper()}"
    )
    emit(
        f"  noise std {checks.noise_std.observed:.4g} (claimed {checks.noise_std.claimed:.4g}):"
        f" {'ok' if checks.noise_std.ok else 'FAILED'}; sampling rate"
        f" {checks.sampling_rate.observed:.4g} (claimed {checks.sampling_rate.claimed:.4g}):"
        f" {'ok' if checks.sampling_rate.ok else 'FAILED'}"
    )
    for reason in record.reasons:
        emit(f"  {reason}")
    if record.planted_bug:
        emit(f"  planted bug: {record.planted_bug} (a test of the audit; not a real run)")
    emit(f"  audit record: {path}")
