"""``privaudit ledger add|verify|keygen|seal|import|recover``: append releases to a hash-chained
ledger, verify it (and its anchors: an expected head, signed seals), seal its head, import other
frameworks' records into it and recover crashed runs' steps."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from privaudit.cli.app import (
    ExpectHeadOption,
    FormatOption,
    LedgerArgument,
    SummaryFormat,
    TrustedKeyOption,
)
from privaudit.cli.inputs import json_object, options_named, read_argument
from privaudit.cli.present import emit, emit_json
from privaudit.imports.common import Format
from privaudit.ledger import append_entries, append_entry, read_ledger
from privaudit.mechanisms import mechanism_from_json_text, mechanism_to_json
from privaudit.policy import load_policy
from privaudit.rounding import number, up

if TYPE_CHECKING:
    from privaudit.seals import TrustedKey

# privaudit.assess (and with it the accountant) loads inside the commands that account.

ledger_app = typer.Typer(
    help="Append to, verify, seal, import into and recover hash-chained privacy ledgers.",
    no_args_is_help=True,
)


@ledger_app.command("add")
def ledger_add(
    ledger: LedgerArgument,
    dataset: Annotated[str, typer.Option(help="Dataset id, as in the policy.")],
    mechanism: Annotated[
        str,
        typer.Option(
            help='Mechanism JSON, e.g. \'{"type": "gaussian", "noise_multiplier": 2}\', or @FILE.'
        ),
    ],
    partition: Annotated[
        str | None, typer.Option(help="Disjoint part of the dataset (e.g. an FL silo).")
    ] = None,
    run: Annotated[str | None, typer.Option(help="Training run name.")] = None,
    privacy_unit: Annotated[
        str | None, typer.Option(help="What one record protects: example, user, client...")
    ] = None,
    meta: Annotated[
        str | None, typer.Option(help="Free-form JSON object stored with the entry.")
    ] = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Append one release to LEDGER (created if missing); atomic, durable, hash-chained."""
    text, source = read_argument(mechanism, "--mechanism")
    parsed = mechanism_from_json_text(text, source)
    meta_data = None
    if meta is not None:
        meta_text, meta_source = read_argument(meta, "--meta")
        meta_data = json_object(meta_text, meta_source)
    with options_named():
        entry = append_entry(
            ledger,
            dataset=dataset,
            mechanism=parsed,
            partition=partition,
            privacy_unit=privacy_unit,
            run=run,
            meta=meta_data,
        )
    if output_format is SummaryFormat.JSON:
        emit_json(entry.model_dump(mode="json") | {"mechanism": mechanism_to_json(entry.mechanism)})
        return
    emit(
        f"{ledger}: appended entry {entry.seq} ({entry.mechanism.describe()}),"
        f" hash {entry.hash[:16]}"
    )


@ledger_app.command("verify")
def ledger_verify(
    ledgers: Annotated[
        list[Path],
        typer.Argument(
            metavar="LEDGER...",
            help="Ledger file(s) (JSON Lines); a pre-commit hook passes every staged one.",
            show_default=False,
        ),
    ],
    expect_head: ExpectHeadOption = None,
    trusted_key: TrustedKeyOption = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Verify each LEDGER's hash chain; exit 1 naming the first edited, deleted, reordered or
    truncated line. --expect-head and --trusted-key also catch entries cut off the end."""
    from privaudit.errors import InputError, PrivauditError
    from privaudit.seals import load_trusted_keys, parse_head

    # Bad options are exit 2 before any ledger is read.
    if expect_head is not None and len(ledgers) > 1:
        raise InputError(
            "--expect-head", None, f"names one ledger's head; found {len(ledgers)} ledgers"
        )
    expected = None if expect_head is None else parse_head(expect_head)
    keys = load_trusted_keys(trusted_key or [])
    if len(ledgers) == 1:
        _verify_one(ledgers[0], expected, keys, output_format)
        return
    # Several ledgers (a pre-commit hook): verify them all, report each, fail with the worst.
    worst, reports = 0, []
    for ledger in ledgers:
        try:
            reports.append(_verify_one(ledger, expected, keys, output_format, quiet=True))
        except PrivauditError as error:
            worst = max(worst, error.exit_code)
            sys.stderr.write(f"privaudit: error: {error}\n")
    if output_format is SummaryFormat.JSON:
        emit_json({"valid": worst == 0, "ledgers": reports})
    elif reports:
        emit("\n".join(str(report["text"]) for report in reports))
    if worst:
        raise typer.Exit(worst)


def _verify_one(
    ledger: Path,
    expected: str | None,
    keys: tuple[TrustedKey, ...],
    output_format: SummaryFormat,
    *,
    quiet: bool = False,
) -> dict[str, object]:
    """Verify one ledger against its anchors (raising the first problem), print what was
    verified unless ``quiet``, and return it (the JSON object, with its text under "text")."""
    from privaudit.seals import check_anchors, seals_path

    verified = read_ledger(ledger)
    seals, problems = check_anchors(verified, expected_head=expected, trusted=keys)
    if problems:
        raise problems[0]
    newest = max(seals, key=lambda seal: (seal.entries, seal.line)) if seals else None
    data: dict[str, object] = {
        "valid": True,
        "ledger": str(ledger),
        "entries": len(verified.entries),
        "head": verified.head,
        "sha256": verified.sha256,
    }
    if expected is not None:
        data["expected_head"] = expected
    if keys:
        data["seals"] = len(seals)
        data["newest_seal"] = None if newest is None else newest.to_json()
    lines = [f"{ledger}: {len(verified.entries)} entries, hash chain intact, head {verified.head}"]
    if expected is not None:
        lines.append("  ends at the expected head")
    if newest is not None:
        lines.append(
            f"  {len(seals)} seal(s), each signed by a trusted key and matching the ledger;"
            f" newest: line {newest.line}, {newest.entries} entries, head {newest.head},"
            f" sealed {newest.time} by key {newest.key}"
        )
    elif seals_path(ledger).exists():
        lines.append(f"  note: {seals_path(ledger)} was not checked; pass --trusted-key PUB")
    if not quiet:
        if output_format is SummaryFormat.JSON:
            emit_json(data)
        else:
            emit("\n".join(lines))
    return data if output_format is SummaryFormat.JSON else {**data, "text": "\n".join(lines)}


@ledger_app.command("keygen")
def ledger_keygen(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="KEY",
            help="Private key file to create (mode 0600); the public key goes to KEY.pub.",
            show_default=False,
        ),
    ],
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Create an Ed25519 key pair for sealing ledgers; never overwrites a file."""
    from privaudit.seals import generate_key

    public = out.with_name(out.name + ".pub")
    key_fingerprint = generate_key(out)
    if output_format is SummaryFormat.JSON:
        emit_json(
            {"private_key": str(out), "public_key": str(public), "fingerprint": key_fingerprint}
        )
        return
    emit(
        f"wrote private key {out} (keep it secret, away from the ledger's editors) and public"
        f" key {public}\nfingerprint {key_fingerprint}"
    )


@ledger_app.command("seal")
def ledger_seal(
    ledger: LedgerArgument,
    key: Annotated[
        Path,
        typer.Option(
            "--key", metavar="KEY", help="Private key of `ledger keygen`.", show_default=False
        ),
    ],
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Verify LEDGER, then append a signed statement of its entry count and head to
    LEDGER.seals; a broken ledger is refused and nothing is written."""
    from privaudit.seals import load_private_key, seal_ledger, seals_path

    private_key = load_private_key(key)
    seal = seal_ledger(ledger, private_key)
    if output_format is SummaryFormat.JSON:
        emit_json({"seals": str(seals_path(ledger)), "line": seal.line, **seal.to_json()})
        return
    emit(
        f"{ledger}: sealed {seal.entries} entries, head {seal.head}, at {seal.time}"
        f" with key {seal.key} ({seals_path(ledger)} line {seal.line})"
    )


class SamplingChoice(StrEnum):
    POISSON = "poisson"
    SHUFFLE = "shuffle"


@ledger_app.command("import")
def ledger_import(
    ledger: LedgerArgument,
    file: Annotated[
        Path,
        typer.Argument(
            help="The framework's record, JSON or YAML (never a pickle).", show_default=False
        ),
    ],
    source_format: Annotated[
        Format, typer.Option("--from", help="Which framework wrote FILE.", show_default=False)
    ],
    dataset: Annotated[str, typer.Option(help="Dataset id, as in the policy.")],
    run: Annotated[str | None, typer.Option(help="Training run name.")] = None,
    partition: Annotated[
        str | None, typer.Option(help="Disjoint part of the dataset (e.g. an FL silo).")
    ] = None,
    privacy_unit: Annotated[
        str | None, typer.Option(help="What one record protects (default: the file's, example).")
    ] = None,
    sampling: Annotated[
        SamplingChoice | None,
        typer.Option(
            help="Opacus only: poisson (make_private's default) or shuffle (a plain DataLoader)."
        ),
    ] = None,
    delta: Annotated[
        float | None,
        typer.Option(help="δ of the framework's figure when FILE gives none (default: policy's)."),
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Policy whose tier δ the figures are shown at.")
    ] = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Turn a saved Opacus accountant, TF Privacy statement arguments or JAX Privacy accounting
    config into ledger entries, all or none; shows the framework's ε beside privaudit's."""
    from privaudit.accounting.accountant import account
    from privaudit.assess import DEFAULT_DELTA
    from privaudit.imports.entries import import_entries, read_import
    from privaudit.mechanisms import Sampling

    figure_delta = delta if delta is not None else _policy_delta(policy, dataset)
    if figure_delta is None:
        figure_delta = DEFAULT_DELTA
    imported = read_import(
        source_format,
        file,
        sampling=None if sampling is None else Sampling(sampling.value),
        delta=figure_delta,
    )
    new = import_entries(
        imported,
        fmt=source_format,
        path=file,
        dataset=dataset,
        run=run,
        partition=partition,
        privacy_unit=privacy_unit,
    )
    with options_named():
        written = append_entries(ledger, new)
    shown_delta = imported.framework.delta or figure_delta
    ours = account(imported.mechanisms, shown_delta)
    figure = imported.framework
    if output_format is SummaryFormat.JSON:
        emit_json(
            {
                "ledger": str(ledger),
                "entries": [entry.seq for entry in written],
                "framework": figure.to_meta("import", figure.epsilon),
                "privaudit": {
                    "delta": shown_delta,
                    "epsilon_pld": ours.pld.epsilon,
                    "epsilon_rdp": ours.rdp.epsilon,
                },
                "notes": list(imported.notes),
            }
        )
        return
    seqs = f"{written[0].seq}" if len(written) == 1 else f"{written[0].seq}-{written[-1].seq}"
    lines = [
        f"{ledger}: imported {len(written)} entr{'y' if len(written) == 1 else 'ies'} ({seqs})"
        f" from {source_format.value} file {file} for dataset {dataset!r}"
    ]
    framework_eps = "not known" if figure.epsilon is None else f"ε = {up(figure.epsilon)}"
    lines.append(
        f"  {figure.name} {figure.accountant}: {framework_eps}"
        + ("" if figure.delta is None else f" at δ = {number(figure.delta)}")
        + f" ({figure.how})"
    )
    lines.append(
        f"  privaudit (certified): PLD ε = {_eps(ours.pld.epsilon)}, RDP ε ="
        f" {_eps(ours.rdp.epsilon)} at δ = {number(shown_delta)}"
    )
    certified = ours.epsilon
    if figure.epsilon is not None and figure.epsilon < certified:
        lines.append(
            f"  warning: {figure.name}'s figure is below privaudit's certified bound"
            f" ({up(figure.epsilon)} < {up(certified)}); the gate uses privaudit's"
        )
    lines += [f"  note: {note}" for note in imported.notes]
    emit("\n".join(lines))


@ledger_app.command("recover")
def ledger_recover(
    ledger: LedgerArgument, output_format: FormatOption = SummaryFormat.TEXT
) -> None:
    """Append to LEDGER the steps that guarded runs which died left in crash journals
    (LEDGER.pending/); journals of runs still training are left alone."""
    from privaudit.budget.journal import pending_runs, recover

    written = recover(ledger)
    live = [run for run in pending_runs(ledger) if run.live]
    if output_format is SummaryFormat.JSON:
        emit_json(
            {
                "ledger": str(ledger),
                "recovered": [entry.seq for entry in written],
                "live": [{"run": run.run, "steps": run.steps} for run in live],
            }
        )
        return
    lines = [
        f"{ledger}: recovered {len(written)} entr{'y' if len(written) == 1 else 'ies'}"
        " from crash journals"
        + ("" if not written else f" ({', '.join(str(entry.seq) for entry in written)})")
    ]
    lines += [
        f"  run {run.run!r} is still training ({run.steps} steps not yet written); left alone"
        for run in live
    ]
    emit("\n".join(lines))


def _policy_delta(policy: Path | None, dataset: str) -> float | None:
    if policy is None:
        return None
    loaded = load_policy(policy)
    tier = loaded.tier_of(dataset)
    return None if tier is None else tier.delta


def _eps(value: float | None) -> str:
    return "n/a" if value is None else up(value)
