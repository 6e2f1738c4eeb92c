"""``privaudit audit dpsgd|fedavg``: empirical privacy audits with canaries, their audit records,
and exit 1 when a run is shown not to deliver its ε."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from privaudit.cli.app import DataDirOption, DataOption, FormatOption, SummaryFormat, TrainData

audit_app = typer.Typer(
    help="Empirical privacy audits: plant canaries, train once, bound ε from below.",
    no_args_is_help=True,
)


class AuditMethod(StrEnum):
    AUTO = "auto"
    ONE_RUN = "one_run"
    ONE_RUN_FDP = "one_run_fdp"


AuditEpsilonOption = Annotated[
    float, typer.Option("--epsilon", help="ε the trainer is configured to spend (σ calibrated).")
]
AuditDeltaOption = Annotated[float, typer.Option("--delta", help="δ of the claim.")]
CanariesOption = Annotated[int, typer.Option(help="Canaries m (each included with prob. 1/2).")]
DEFAULT_CANARIES = 1_000_000
"""Dirac canaries are held beside the model, so m costs only noise on m coordinates a step:
1,000,000 add about 15 s to a 400-step MNIST audit and lift its ceiling at ε = 2 from 0.97
(m = 1,000) to 1.57 (privaudit.audit.ceiling)."""
AuditSeedOption = Annotated[int, typer.Option(help="Seed of coin flips and training.")]
AuditMethodOption = Annotated[
    AuditMethod,
    typer.Option(
        "--method",
        help="auto: one_run_fdp where the claim is a Gaussian trade-off curve, one_run"
        " otherwise (the record says which and why); one_run: Steinke et al. 2023, valid for"
        " any (ε, δ) claim; one_run_fdp: Mahloujifar et al. 2024, tighter, refutes a Gaussian"
        " trade-off curve.",
    ),
]
AuditOutOption = Annotated[
    Path | None, typer.Option(help="Audit record [default: runs/audit-TARGET-DATA-epsE.json].")
]
PlantBugOption = Annotated[str | None, typer.Option(hidden=True)]
AuditLedgerOption = Annotated[
    str | None,
    typer.Option(
        "--ledger",
        help="Bind the record to this ledger's run (with --run and --dataset-id): a report"
        " attaches an audit only to the ledger, run and dataset it audited.",
    ),
]
AuditRunOption = Annotated[
    str | None, typer.Option("--run", help="The ledger run whose trainer is audited.")
]
AuditDatasetOption = Annotated[
    str | None, typer.Option("--dataset-id", help="The ledger dataset of that run.")
]


@audit_app.command("dpsgd")
def audit_dpsgd_command(
    data: DataOption = TrainData.DIGITS,
    data_dir: DataDirOption = None,
    epsilon: AuditEpsilonOption = 2.0,
    delta: AuditDeltaOption = 1e-5,
    canaries: CanariesOption = DEFAULT_CANARIES,
    seed: AuditSeedOption = 0,
    method: AuditMethodOption = AuditMethod.AUTO,
    out: AuditOutOption = None,
    plant_bug: PlantBugOption = None,
    ledger: AuditLedgerOption = None,
    run: AuditRunOption = None,
    dataset_id: AuditDatasetOption = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Audit the DP-SGD trainer on real data: exit 1 if the run is shown not to deliver ε."""
    from privaudit.audit.runner import run_dpsgd_audit
    from privaudit.cli.auditing import Audit, bind_to

    audit = Audit(data, data_dir, epsilon, delta, canaries, seed, method, plant_bug)
    audit.run("dpsgd", run_dpsgd_audit, out, output_format, bind_to(ledger, run, dataset_id))


@audit_app.command("fedavg")
def audit_fedavg_command(
    data: DataOption = TrainData.DIGITS,
    data_dir: DataDirOption = None,
    epsilon: AuditEpsilonOption = 2.0,
    delta: AuditDeltaOption = 1e-5,
    canaries: CanariesOption = DEFAULT_CANARIES,
    clients: Annotated[int, typer.Option(help="Real clients the data is split over.")] = 100,
    seed: AuditSeedOption = 0,
    method: AuditMethodOption = AuditMethod.AUTO,
    out: AuditOutOption = None,
    plant_bug: PlantBugOption = None,
    ledger: AuditLedgerOption = None,
    run: AuditRunOption = None,
    dataset_id: AuditDatasetOption = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Audit client-level DP-FedAvg with canary clients: exit 1 on a violation."""
    from privaudit.audit.runner import run_fedavg_audit
    from privaudit.cli.auditing import Audit, bind_to

    audit = Audit(data, data_dir, epsilon, delta, canaries, seed, method, plant_bug, clients)
    audit.run("fedavg", run_fedavg_audit, out, output_format, bind_to(ledger, run, dataset_id))


@audit_app.command("opacus")
def audit_opacus_command(
    data: DataOption = TrainData.DIGITS,
    data_dir: DataDirOption = None,
    epsilon: AuditEpsilonOption = 2.0,
    delta: AuditDeltaOption = 1e-5,
    canaries: CanariesOption = 20_000,
    seed: AuditSeedOption = 0,
    method: AuditMethodOption = AuditMethod.AUTO,
    out: AuditOutOption = None,
    plant_bug: PlantBugOption = None,
    ledger: AuditLedgerOption = None,
    run: AuditRunOption = None,
    dataset_id: AuditDatasetOption = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Audit an Opacus DP-SGD trainer (the [opacus] extra) through privaudit's Opacus hook."""
    import importlib.util

    from privaudit.cli.auditing import Audit, bind_to
    from privaudit.errors import InputError

    if importlib.util.find_spec("opacus") is None or importlib.util.find_spec("torch") is None:
        raise InputError(
            "audit opacus", None, "needs the [opacus] extra: pip install -e '.[opacus]'"
        )
    from privaudit.integrations.opacus_audit import run_opacus_audit

    audit = Audit(data, data_dir, epsilon, delta, canaries, seed, method, plant_bug)
    audit.run("opacus", run_opacus_audit, out, output_format, bind_to(ledger, run, dataset_id))
