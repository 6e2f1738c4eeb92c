"""``privaudit report``: the regulator-ready report (HTML and PDF/A-3 with the evidence attached)
and an exit code that follows its verdict."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from privaudit.cli.app import FormatOption, LedgerArgument, PolicyOption, SummaryFormat
from privaudit.cli.inputs import report_formats
from privaudit.cli.present import emit, emit_json, progress_line
from privaudit.errors import EXIT_FAIL, EXIT_OK, InputError

if TYPE_CHECKING:
    from privaudit.report.model import Report
    from privaudit.stores import LedgerStore

EXPORTED_LEDGER = "ledger.jsonl"
"""Where the report of a database ledger finds the ledger it attaches, in its output folder."""


def report_command(
    ledger: LedgerArgument,
    policy: PolicyOption,
    runs: Annotated[
        list[Path] | None,
        typer.Option("--runs", help="Run records (runs/NAME.json) or folders of them; repeatable."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for report.html and report.pdf.")] = Path(
        "reports"
    ),
    formats: Annotated[
        str, typer.Option("--formats", help="Comma-separated: html, pdf.")
    ] = "html,pdf",
    review_id: Annotated[
        str | None, typer.Option(help="Review id printed on every page (default: from hashes).")
    ] = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Write the regulator-ready report: self-contained HTML and PDF/A-3 with the evidence
    attached. Exits 1 when the verdict is fail (the report is written all the same)."""
    from privaudit.cli.stores import local_path, open_store
    from privaudit.report.model import build_report
    from privaudit.report.render import write_report

    chosen = report_formats(formats)
    ledger_path = local_path(ledger)
    _check_out(out, ledger_path, policy)
    if ledger_path is None:
        # The report attaches the ledger byte for byte: a database ledger is exported first, to
        # a file in the output folder that verifies as a ledger of its own.
        ledger_path = _export(open_store(ledger), out)
        progress_line(f"exported the database ledger to {ledger_path}")
    report = build_report(
        ledger_path, policy, runs=runs or [], review_id=review_id, progress=progress_line
    )
    written = write_report(report, out, chosen, progress=progress_line)
    status = report.assessment.status.value
    if output_format is SummaryFormat.JSON:
        emit_json(_summary(report, written))
    else:
        emit(f"report {report.review_id}: verdict {status.upper()}")
        for path in written:
            emit(f"  {path}")
    raise typer.Exit(EXIT_FAIL if status == "fail" else EXIT_OK)


def _export(store: LedgerStore, out: Path) -> Path:
    """``store``'s entries as a ledger file ``OUT/ledger.jsonl`` (canonical lines, verified)."""
    from privaudit.files import atomic_write
    from privaudit.ledger import entry_line

    ledger = store.read()
    out.mkdir(exist_ok=True)
    path = out / EXPORTED_LEDGER
    atomic_write(path, b"".join(entry_line(entry) for entry in ledger.entries))
    return path


def _check_out(out: Path, ledger: Path | None, policy: Path) -> None:
    """Refuse an output folder that would overwrite an input or cannot be made, before work."""
    for name in ("report.html", "report.pdf"):
        for label, path in (("ledger", ledger), ("policy", policy)):
            if path is not None and path.exists() and (out / name).resolve() == path.resolve():
                raise InputError(
                    str(out / name), None, f"is the {label} file; choose another --out"
                )
    if out.exists() and not out.is_dir():
        raise InputError(str(out), None, "exists and is not a folder")
    if not out.exists() and not out.parent.is_dir():
        raise InputError(str(out), None, f"folder {out.parent} does not exist")


def _summary(report: Report, written: list[Path]) -> dict[str, Any]:
    return {
        "status": report.assessment.status.value,
        "review_id": report.review_id,
        "files": [str(p) for p in written],
        "datasets": [
            {
                "dataset": s.assessment.dataset,
                "epsilon": s.assessment.epsilon if math.isfinite(s.assessment.epsilon) else None,
                "delta": s.assessment.delta,
                "status": s.assessment.status.value,
            }
            for s in report.datasets
        ],
    }
