"""``privaudit account`` and ``privaudit check``: assess a ledger against a policy, print the
verdict in the chosen format, and exit with the gate's code."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

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
from privaudit.errors import InputError
from privaudit.formats import OutputFormat

if TYPE_CHECKING:
    from privaudit.assess import Assessment
    from privaudit.change import Change
    from privaudit.cli.base import Base
    from privaudit.ledger import Ledger
    from privaudit.seals import TrustedKey
    from privaudit.stores import LedgerStore

# The accountant (numpy, scipy, pydantic models) loads inside the commands: `privaudit --help`
# and every other command start without it.
DEFAULT_DELTA = 1e-5
"""privaudit.assess.DEFAULT_DELTA, for the help text; a test keeps the two equal."""

if TYPE_CHECKING:
    from privaudit.seals import TrustedKey


def account_command(
    ledger: LedgerArgument,
    policy: Annotated[
        Path | None, typer.Option(help="Policy file giving δ and limits per dataset.")
    ] = None,
    delta: Annotated[
        float | None,
        typer.Option(
            help=f"δ for every dataset (default: the tier's δ, else {DEFAULT_DELTA:g}); with"
            " --policy, only one tighter than the tiers'."
        ),
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
    delta: Annotated[
        float | None, typer.Option(help="A δ tighter than the tiers' (a larger one is exit 2).")
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            metavar="OLD",
            help=(
                "Diff-aware gate: compare with the ledger before this change, a file or git:REV"
                " (the ledger's path at REV of its own repository); exit 1 if the change"
                " rewrote history."
            ),
        ),
    ] = None,
    write: Annotated[
        list[str] | None,
        typer.Option(
            "--write",
            metavar="FORMAT=PATH",
            help=(
                "Also write FORMAT (text, json, junit, github, markdown) to PATH in the same"
                " run; repeatable."
            ),
        ),
    ] = None,
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
        base=base,
        writes=write,
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
    ledger_text: str,
    policy_path: Path | None,
    delta: float | None,
    output_format: OutputFormat,
    output: Path | None,
    epsilon: float | None = None,
    *,
    base: str | None = None,
    writes: list[str] | None = None,
    anchors: _Anchors | None = None,
) -> NoReturn:
    from privaudit.cli.stores import display_name, local_path, open_store

    # Every option is checked before a database is connected to or a ledger read.
    ledger_path = local_path(ledger_text)
    name = str(ledger_path) if ledger_path is not None else display_name(ledger_text)
    _check_options(ledger_path, policy_path, delta, epsilon, output)
    _check_delta_against_policy(policy_path, delta)
    anchors = anchors or _Anchors()
    if anchors.trusted and ledger_path is None:
        raise InputError(
            name, None, "is a database ledger; --trusted-key checks LEDGER.seals beside a file"
        )
    # The base is read before any accounting: a base that cannot be used is a usage error.
    old = _read_base(base, ledger_path, name)
    targets = _write_targets(writes or [], ledger_path, policy_path, old, output)
    store = open_store(ledger_text)
    result = _assessment(store, policy_path, delta, epsilon, anchors)
    result, change = _against_base(result, old, store, policy_path, delta)
    _deliver(result, output_format, output, change, targets)


def _check_options(
    ledger_path: Path | None,
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


def _check_delta_against_policy(policy_path: Path | None, delta: float | None) -> None:
    """With a policy, --delta may only tighten the tiers' δ: a larger δ makes every ε smaller
    and would let a ledger over its limit pass (exit 2 before anything is read)."""
    if delta is None or policy_path is None:
        return
    from privaudit.policy import load_policy
    from privaudit.rounding import number

    policy = load_policy(policy_path)
    for name in sorted({spec.tier for spec in policy.datasets.values()}):
        tier = policy.tiers[name]
        if delta > tier.delta:
            raise InputError(
                "--delta",
                None,
                f"{number(delta)} is above the δ = {number(tier.delta)} of tier {name!r}; with"
                " a policy, --delta may only tighten the tiers' δ",
            )


def _assessment(
    store: LedgerStore,
    policy_path: Path | None,
    delta: float | None,
    epsilon: float | None,
    anchors: _Anchors,
) -> Assessment:
    """The verdict on the ledger; a broken hash chain is a failing verdict, not a usage error."""
    from privaudit.assess import assess, broken_ledger_assessment
    from privaudit.cli.stores import file_path
    from privaudit.errors import LedgerIntegrityError
    from privaudit.policy import load_policy

    policy = load_policy(policy_path) if policy_path is not None else None
    try:
        ledger = store.read()
    except LedgerIntegrityError as broken:
        sys.stderr.write(f"privaudit: {broken}\n")
        return broken_ledger_assessment(store.name, str(broken), policy_path=policy_path)
    result = assess(
        ledger, policy, policy_path=policy_path, delta=delta, epsilon=epsilon, source=store.name
    )
    ledger_path = file_path(store)
    if ledger_path is not None:
        # Crash journals live beside a ledger file; a database has none.
        result = _with_journals(result, ledger_path)
    return _with_anchors(result, ledger, anchors, store.name)


def _with_anchors(result: Assessment, ledger: Ledger, anchors: _Anchors, name: str) -> Assessment:
    """An expected head and signed seals, checked against the (intact) ledger: a ledger cut
    below either fails the gate in every output format, as a broken chain does."""
    if anchors.expected_head is None and not anchors.trusted:
        return result
    from privaudit.assess import Finding, Severity, Status
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
                    message=f"{name}: ends at the expected head {anchors.expected_head}",
                )
            )
        if seals:
            newest = max(seals, key=lambda seal: (seal.entries, seal.line))
            findings.append(
                Finding(
                    code="ledger_sealed",
                    severity=Severity.INFO,
                    message=(
                        f"{name}: {len(seals)} seal(s) signed by trusted keys, all"
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


def _deliver(
    result: Assessment,
    output_format: OutputFormat,
    output: Path | None,
    change: Change | None = None,
    targets: list[tuple[OutputFormat, Path]] | None = None,
) -> NoReturn:
    """Print (or write to ``output``, with a text summary on stdout), write every ``--write``
    target, and exit with the verdict."""
    from privaudit.files import atomic_write
    from privaudit.gate import exit_code, render, render_text

    for target_format, target in targets or []:
        atomic_write(target, render(result, target_format, change).encode("utf-8"))
    rendered = render(result, output_format, change)
    if output is not None:
        atomic_write(output, rendered.encode("utf-8"))
        emit(render_text(result, change))
    else:
        emit(rendered)
    raise typer.Exit(exit_code(result))


# --- the diff-aware gate (--base) and several outputs of one run (--write) ---------------------


def _read_base(value: str | None, ledger_path: Path | None, name: str) -> Base | None:
    if value is None:
        return None
    from privaudit.cli.base import GIT_PREFIX, OPTION, read_base

    if ledger_path is None:
        if value.startswith(GIT_PREFIX):
            # A database is in no git repository: its history is its own table.
            raise InputError(
                OPTION,
                value,
                f"{name} is a database ledger, in no git repository; compare it with a file"
                " (e.g. a `privaudit ledger copy` export)",
            )
        ledger_path = Path(name)  # only a file base is read; git is never asked
    return read_base(value, ledger_path)


def _against_base(
    result: Assessment,
    base: Base | None,
    store: LedgerStore,
    policy_path: Path | None,
    delta: float | None,
) -> tuple[Assessment, Change | None]:
    """``result`` with the change against ``base``: the history check as a finding (so every
    format reports it) and every dataset's ε before and after."""
    if base is None or result.ledger_head is None:
        return result, None  # no base, or a broken chain: no entry of the ledger is trusted
    from privaudit.change import compare, with_change
    from privaudit.policy import load_policy

    ledger = store.read()  # verified again; the file reader caches the verified prefix
    if ledger.head != result.ledger_head:
        # Appended to between the two reads: the comparison would not be of the gated ledger.
        raise InputError(store.name, None, "changed while being checked; run the check again")
    policy = load_policy(policy_path) if policy_path is not None else None
    change = compare(
        base.ledger,
        ledger,
        result,
        policy,
        base_source=base.source,
        base_missing=base.missing,
        delta=delta,
    )
    return with_change(result, change), change


def _write_targets(
    values: list[str],
    ledger_path: Path | None,
    policy_path: Path | None,
    base: Base | None,
    output: Path | None,
) -> list[tuple[OutputFormat, Path]]:
    """Parse every ``--write FORMAT=PATH``; refuse, before anything is computed, a path that is
    an input (writing over it would destroy the evidence) or written twice."""
    inputs = [("ledger", ledger_path), ("policy", policy_path)]
    inputs.append(("base", base.path if base is not None else None))
    base_file = base.path if base is not None else None
    if output is not None and base_file is not None and _same_file(output, base_file):
        raise InputError(str(output), None, "is the base file; expected another path")
    taken = [output] if output is not None else []
    targets: list[tuple[OutputFormat, Path]] = []
    for value in values:
        name, equals, where = value.partition("=")
        if not equals or not name or not where:
            raise InputError("--write", value, "expected FORMAT=PATH, e.g. junit=privacy.xml")
        try:
            target_format = OutputFormat(name)
        except ValueError:
            known = ", ".join(item.value for item in OutputFormat)
            raise InputError(
                "--write", value, f"unknown format {name!r}; expected one of {known}"
            ) from None
        path = Path(where)
        for what, other in inputs:
            if other is not None and _same_file(path, other):
                raise InputError(
                    "--write", value, f"{where} is the {what} file; expected another path"
                )
        if any(_same_file(path, other) for other in taken):
            raise InputError(
                "--write", value, f"{where} is written twice; expected one output per path"
            )
        if path.is_dir():
            raise InputError("--write", value, f"{where} is a folder; expected a file path")
        if not path.parent.is_dir():
            raise InputError("--write", value, f"folder {path.parent} does not exist")
        taken.append(path)
        targets.append((target_format, path))
    return targets


def _same_file(path: Path, other: Path) -> bool:
    # samefile also catches hard links and bind mounts; resolve() the paths that do not exist.
    try:
        return path.samefile(other)
    except OSError:
        return path.resolve() == other.resolve()
