"""``privaudit account`` and ``privaudit check``: assess a ledger against a policy, print the
verdict in the chosen format, and exit with the gate's code."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from privaudit.assess import (
    DEFAULT_DELTA,
    Assessment,
    Finding,
    Severity,
    Status,
    assess,
    broken_ledger_assessment,
)
from privaudit.cli.app import (
    ExpectHeadOption,
    FormatOption,
    LedgerArgument,
    PolicyOption,
    SummaryFormat,
    TrustedKeyOption,
)
from privaudit.cli.inputs import check_delta
from privaudit.cli.present import emit
from privaudit.errors import InputError, LedgerIntegrityError
from privaudit.files import atomic_write
from privaudit.gate import OutputFormat, exit_code, render, render_text
from privaudit.ledger import Ledger, read_ledger
from privaudit.policy import load_policy

if TYPE_CHECKING:
    from privaudit.seals import TrustedKey


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
    expect_head: ExpectHeadOption = None,
    trusted_key: TrustedKeyOption = None,
) -> None:
    """The CI gate: exit 1 if any dataset exceeds its policy or the ledger is broken (or, with
    --expect-head or --trusted-key, does not end where its anchors say)."""
    _gate(
        ledger,
        policy,
        delta,
        output_format,
        output,
        anchors=_Anchors.parse(expect_head, trusted_key),
    )


@dataclass(frozen=True, slots=True)
class _Anchors:
    """What ``check`` was told the ledger's end must be: a head hash, keys of its seals."""

    expected_head: str | None = None
    trusted: tuple[TrustedKey, ...] = ()

    @classmethod
    def parse(cls, expect_head: str | None, trusted_key: list[Path] | None) -> _Anchors:
        """Checked before any work: a malformed hash or key file is exit 2, not a verdict."""
        if expect_head is None and not trusted_key:
            return cls()  # cryptography stays unloaded for the plain gate
        from privaudit.seals import load_trusted_keys, parse_head

        expected = None if expect_head is None else parse_head(expect_head)
        return cls(expected, load_trusted_keys(trusted_key or []))


def _gate(
    ledger_path: Path,
    policy_path: Path | None,
    delta: float | None,
    output_format: OutputFormat,
    output: Path | None,
    epsilon: float | None = None,
    anchors: _Anchors | None = None,
) -> NoReturn:
    _check_options(ledger_path, policy_path, delta, epsilon, output)
    result = _assessment(ledger_path, policy_path, delta, epsilon, anchors or _Anchors())
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
    ledger_path: Path,
    policy_path: Path | None,
    delta: float | None,
    epsilon: float | None,
    anchors: _Anchors,
) -> Assessment:
    """The verdict on the ledger; a broken hash chain is a failing verdict, not a usage error."""
    policy = load_policy(policy_path) if policy_path is not None else None
    try:
        ledger = read_ledger(ledger_path)
    except LedgerIntegrityError as broken:
        sys.stderr.write(f"privaudit: {broken}\n")
        return broken_ledger_assessment(ledger_path, str(broken), policy_path=policy_path)
    result = assess(ledger, policy, policy_path=policy_path, delta=delta, epsilon=epsilon)
    return _with_anchors(_with_journals(result, ledger_path), ledger, anchors)


def _with_anchors(result: Assessment, ledger: Ledger, anchors: _Anchors) -> Assessment:
    """An expected head and signed seals, checked against the (intact) ledger: a ledger cut
    below either fails the gate in every output format, as a broken chain does."""
    if anchors.expected_head is None and not anchors.trusted:
        return result
    from privaudit.seals import check_anchors

    seals, problems = check_anchors(
        ledger, expected_head=anchors.expected_head, trusted=anchors.trusted
    )
    findings = [
        Finding(code=problem.code, severity=Severity.FAIL, message=str(problem))
        for problem in problems
    ]
    if not problems:
        if anchors.expected_head is not None:
            findings.append(
                Finding(
                    code="ledger_head_expected",
                    severity=Severity.INFO,
                    message=f"{ledger.path}: ends at the expected head {anchors.expected_head}",
                )
            )
        if seals:
            newest = max(seals, key=lambda seal: (seal.entries, seal.line))
            findings.append(
                Finding(
                    code="ledger_sealed",
                    severity=Severity.INFO,
                    message=(
                        f"{ledger.path}: {len(seals)} seal(s) signed by trusted keys, all"
                        f" matching the ledger; newest: {newest.describe()}"
                    ),
                )
            )
    return result.model_copy(
        update={
            "findings": result.findings + tuple(findings),
            "status": Status.FAIL if problems else result.status,
        }
    )


def _with_journals(result: Assessment, ledger_path: Path) -> Assessment:
    """Crash journals beside the ledger: steps a guarded run took that the ledger does not hold
    yet. A dead run's journal fails the gate (the ledger understates the privacy loss until it
    is recovered); a live run's is reported."""
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
    rendered = render(result, output_format)
    if output is not None:
        atomic_write(output, rendered.encode("utf-8"))
        emit(render_text(result))
    else:
        emit(rendered)
    raise typer.Exit(exit_code(result))
