"""``privaudit demo``: the whole workflow on the bundled digits data, from plan to report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from privaudit.cli.app import FormatOption, ReportFormatsOption, SummaryFormat
from privaudit.cli.inputs import options_named, report_formats
from privaudit.cli.present import (
    clear_status_line,
    emit,
    emit_json,
    progress_line,
    status_line,
)
from privaudit.errors import EXIT_FAIL, EXIT_OK
from privaudit.rounding import up_fixed

if TYPE_CHECKING:
    from privaudit.scenarios.demo import DemoResult
    from privaudit.train.dpsgd import EpochStats


def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for the demo's files.")] = Path("reports/demo"),
    seed: Annotated[int, typer.Option(help="Seed of the training runs (recorded).")] = 0,
    formats: ReportFormatsOption = "html,pdf",
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """The whole workflow on the bundled digits data: plan, train three DP-SGD runs into a new
    ledger (plus a non-private baseline, never released), check, and write the report."""
    from privaudit.scenarios.demo import run_demo

    chosen = report_formats(formats)
    with options_named():
        result = run_demo(out, seed=seed, formats=chosen, progress=_say, on_epoch=_epoch)
    clear_status_line()
    if output_format is SummaryFormat.JSON:
        emit_json(
            {
                "status": result.status,
                "epsilon": result.epsilon,
                "epsilon_limit": result.limit,
                "noise_multiplier_planned": result.noise_multiplier_planned,
                "runs": list(result.runs),
                "files": list(result.files),
            }
        )
    else:
        _summary(result, out, chosen)
    raise typer.Exit(EXIT_FAIL if result.status == "fail" else EXIT_OK)


def _epoch(stats: EpochStats) -> None:
    # Only a terminal sees epochs: a CI log gets the demo's steps, not every epoch of each run.
    status_line(f"  epoch {stats.epoch}: test accuracy {100 * stats.test_accuracy:.2f}%", log=False)


def _say(line: str) -> None:
    clear_status_line()
    progress_line(line)


def _summary(result: DemoResult, out: Path, chosen: list[str]) -> None:
    for run in result.runs:
        eps = "not private" if run["epsilon"] is None else f"ε = {up_fixed(run['epsilon'])}"
        emit(f"{run['run']}: test accuracy {100 * run['test_accuracy']:.2f}% ({eps})")
    emit(
        f"digits: ε = {up_fixed(result.epsilon)} of {result.limit:g} used over the three private"
        f" runs: {result.status.upper()}"
    )
    emit(f"report: {out / 'report.html'}" + (f", {out / 'report.pdf'}" if "pdf" in chosen else ""))
