"""``privaudit account`` and ``privaudit check``: assess a ledger against a policy, print the
verdict in the chosen format, and exit with the gate's code."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from privaudit.cli.app import FormatOption, LedgerArgument, PolicyOption, SummaryFormat
from privaudit.cli.inputs import check_delta
from privaudit.cli.present import emit
from privaudit.errors import InputError
from privaudit.formats import OutputFormat

if TYPE_CHECKING:
    from privaudit.assess import Assessment

# The accountant (numpy, scipy, pydantic models) loads inside the commands: `privaudit --help`
# and every other command start without it.
DEFAULT_DELTA = 1e-5
"""privaudit.assess.DEFAULT_DELTA, for the help text; a test keeps the two equal."""


def account_command(
    ledger: LedgerArgument,
    policy: Annotated[
        Path | None, typer.Option(help="Policy file giving δ and limits per dataset.")
    ] = None,
    delta: Annotated[
        float | None,
        typer.Option(help=f"δ for every dataset (default: the tier's δ, else {DEFAULT_DELTA:g})."),
    ] = None,
    epsilon: Annotated[
        float | None, typer.Option(help="Also report δ at this ε for every dataset.")
    ] = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """ε (PLD and RDP side by side) for every dataset in LEDGER, and δ at --epsilon."""
    _gate(ledger, policy, delta, OutputFormat(output_format.value), None, epsilon)


def check_command(
    ledger: LedgerArgument,
    policy: PolicyOption,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="Output for people or CI systems.")
    ] = OutputFormat.TEXT,
    output: Annotated[
        Path | None,
        typer.Option(help="Write the formatted result here (a text summary goes to stdout)."),
    ] = None,
    delta: Annotated[float | None, typer.Option(help="Override the tiers' δ.")] = None,
) -> None:
    """The CI gate: exit 1 if any dataset exceeds its policy or the ledger is broken."""
    _gate(ledger, policy, delta, output_format, output)


def _gate(
    ledger_path: Path,
    policy_path: Path | None,
    delta: float | None,
    output_format: OutputFormat,
    output: Path | None,
    epsilon: float | None = None,
) -> NoReturn:
    _check_options(ledger_path, policy_path, delta, epsilon, output)
    result = _assessment(ledger_path, policy_path, delta, epsilon)
    _deliver(result, output_format, output)


def _check_options(
    ledger_path: Path,
    policy_path: Path | None,
    delta: float | None,
    epsilon: float | None,
    output: Path | None,
) -> None:
    if delta is not None:
        check_delta(delta)
    if epsilon is not None and not (0 <= epsilon < math.inf):
        raise InputError("--epsilon", None, f"must be a finite number >= 0; found {epsilon!r}")
    if output is not None:
        # Writing the report over an input would destroy the evidence it reports on.
        for name, path in (("ledger", ledger_path), ("policy", policy_path)):
            if path is not None and output.resolve() == path.resolve():
                raise InputError(str(output), None, f"is the {name} file; expected another path")


def _assessment(
    ledger_path: Path, policy_path: Path | None, delta: float | None, epsilon: float | None
) -> Assessment:
    """The verdict on the ledger; a broken hash chain is a failing verdict, not a usage error."""
    from privaudit.assess import assess, broken_ledger_assessment
    from privaudit.errors import LedgerIntegrityError
    from privaudit.ledger import read_ledger
    from privaudit.policy import load_policy

    policy = load_policy(policy_path) if policy_path is not None else None
    try:
        ledger = read_ledger(ledger_path)
    except LedgerIntegrityError as broken:
        sys.stderr.write(f"privaudit: {broken}\n")
        return broken_ledger_assessment(ledger_path, str(broken), policy_path=policy_path)
    result = assess(ledger, policy, policy_path=policy_path, delta=delta, epsilon=epsilon)
    return _with_journals(result, ledger_path)


def _with_journals(result: Assessment, ledger_path: Path) -> Assessment:
    """Crash journals beside the ledger: steps a guarded run took that the ledger does not hold
    yet. A dead run's journal fails the gate (the ledger understates the privacy loss until it
    is recovered); a live run's is reported."""
    from privaudit.assess import Finding, Severity, Status
    from privaudit.budget.journal import pending_runs

    findings = []
    for pending in pending_runs(ledger_path):
        what = (
            f"run {pending.run!r} on dataset {pending.dataset!r}: {pending.steps} step(s) in"
            f" crash journal {pending.path}"
        )
        if pending.live:
            findings.append(
                Finding(
                    code="run_in_progress",
                    severity=Severity.INFO,
                    message=f"{what}, still training; the ledger will hold them when it flushes",
                )
            )
        else:
            findings.append(
                Finding(
                    code="unrecovered_crash_journal",
                    severity=Severity.FAIL,
                    message=(
                        f"{what}, left by a run that stopped: the ledger understates the privacy"
                        f" loss until `privaudit ledger recover {ledger_path}` appends them"
                    ),
                )
            )
    if not findings:
        return result
    failed = any(f.severity is Severity.FAIL for f in findings)
    return result.model_copy(
        update={
            "findings": result.findings + tuple(findings),
            "status": Status.FAIL if failed else result.status,
        }
    )


def _deliver(result: Assessment, output_format: OutputFormat, output: Path | None) -> NoReturn:
    """Print (or write to ``output``, with a text summary on stdout) and exit with the verdict."""
    from privaudit.files import atomic_write
    from privaudit.gate import exit_code, render, render_text

    rendered = render(result, output_format)
    if output is not None:
        atomic_write(output, rendered.encode("utf-8"))
        emit(render_text(result))
    else:
        emit(rendered)
    raise typer.Exit(exit_code(result))
