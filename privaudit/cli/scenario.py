"""``privaudit scenario``: a federated seed scenario end to end, from plan to report."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from privaudit.cli.app import FormatOption, ReportFormatsOption, SummaryFormat
from privaudit.cli.inputs import options_named, report_formats
from privaudit.cli.present import emit, emit_json, progress_line
from privaudit.errors import EXIT_FAIL, EXIT_OK, InputError
from privaudit.rounding import number, up

if TYPE_CHECKING:
    from privaudit.scenarios import ScenarioResult

_SHOWN_METRICS = ("test_accuracy", "macro_f1", "roc_auc", "auprc")


class EngineName(StrEnum):
    SIMULATOR = "simulator"
    FLOWER = "flower"


class ScenarioName(StrEnum):
    MNIST_NONIID = "mnist-noniid"
    MNIST_CROSS_DEVICE = "mnist-cross-device"
    HOSPITAL_NOTES = "hospital-notes"
    BANK_FRAUD = "bank-fraud"


def scenario_command(
    name: Annotated[ScenarioName, typer.Argument(help="Which seed scenario to run.")],
    data_dir: Annotated[
        Path, typer.Option(help="Folder laid out like ../shared/data (mnist/, mtsamples/, ...).")
    ] = Path("../shared/data"),
    epsilon: Annotated[
        float | None, typer.Option(help="Target ε of the deployment run (default per scenario).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder [default: reports/scenarios/NAME].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of partitions and training (recorded).")] = 0,
    formats: ReportFormatsOption = "html,pdf",
    output_format: FormatOption = SummaryFormat.TEXT,
    engine: Annotated[
        EngineName,
        typer.Option(
            help="Where the deployment runs: simulator (in process) or flower (Flower's"
            " Deployment Engine: a SuperLink and one SuperNode per silo; needs the [flower]"
            " extra)."
        ),
    ] = EngineName.SIMULATOR,
    superlink: Annotated[
        str | None,
        typer.Option(
            help="With --engine flower: HOST:PORT of a running SuperLink whose SuperNodes the"
            " silos started themselves, instead of starting them on 127.0.0.1."
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            help="Check (and, on Flower, guard) the deployment against this policy instead of"
            " the scenario's shipped one; it must cover the scenario's dataset."
        ),
    ] = None,
    silos_out: Annotated[
        Path | None,
        typer.Option(
            help="With --engine flower: write each silo's data file (NAME.npz) of the"
            " deployment into this folder, print the SuperNode command each silo runs, and stop"
            " before training (for a federation across machines; then run with --superlink)."
        ),
    ] = None,
) -> None:
    """Run a federated scenario end to end: plan, train (deployment run plus comparisons), write
    the ledger, check it against the scenario's policy, and write the report."""
    chosen = report_formats(formats)
    if superlink is not None and engine is not EngineName.FLOWER:
        raise InputError("--superlink", None, "expected --engine flower with it")
    if silos_out is not None and engine is not EngineName.FLOWER:
        raise InputError("--silos-out", None, "expected --engine flower with it")
    folder = out or Path("reports") / "scenarios" / name.value
    if out is None:
        folder.parent.mkdir(parents=True, exist_ok=True)

    def run(runner: Any) -> ScenarioResult:
        from privaudit.scenarios import run_scenario

        with options_named():
            return run_scenario(
                name.value,
                data_dir=data_dir,
                out=folder,
                epsilon=epsilon,
                seed=seed,
                formats=chosen,
                progress=progress_line,
                engine=runner,
                policy=policy,
            )

    runner = None
    if engine is EngineName.FLOWER:
        from privaudit.cli.federation import export_silos, flower_engine

        if silos_out is not None:
            for line in export_silos(silos_out, superlink, run):
                emit(line)
            raise typer.Exit(EXIT_OK)
        runner = flower_engine(superlink, progress_line)
    result = run(runner)
    if output_format is SummaryFormat.JSON:
        emit_json(result.to_json())
    else:
        _summary(result, folder)
    stopped = result.deployment.extra.get("stopped")
    raise typer.Exit(EXIT_FAIL if result.status == "fail" or stopped else EXIT_OK)


def _summary(result: ScenarioResult, folder: Path) -> None:
    emit(f"{result.title}")
    for variant in (result.deployment, *result.comparisons):
        metrics = ", ".join(
            f"{key} {value:.4f}"
            for key, value in variant.metrics.items()
            if key in _SHOWN_METRICS and math.isfinite(value)
        )
        eps = "not private" if variant.epsilon is None else f"ε = {up(variant.epsilon)}"
        role = "deployment" if variant.in_ledger else "comparison"
        emit(f"  {variant.name} ({role}): {metrics}; {eps}")
    deployment = result.deployment
    if deployment.extra.get("engine") == "flower":
        survivors = [r["survivors"] for r in deployment.rounds]
        partial = sum(1 for r in deployment.rounds if r["survivors"] < r["clients"])
        emit(
            f"  {deployment.name} ran on Flower: {len(deployment.rounds)} rounds"
            f" ({partial} with a silo dropped out; fewest survivors {min(survivors, default=0)})"
        )
    if deployment.extra.get("stopped"):
        emit(f"  STOPPED early: {deployment.extra['stopped']}")
    limit = "" if result.epsilon_limit is None else f" of {result.epsilon_limit:g}"
    emit(
        f"{result.dataset}: ε = {up(result.epsilon)}{limit} at δ = {number(result.delta)}:"
        f" {result.status.upper()}"
    )
    emit(f"report: {folder / 'report.html'}")
