"""``privaudit ledger add|charge|verify|copy|keygen|seal|import|recover``: append releases to a
hash-chained ledger (a file or a database), charge one only if it fits the policy, verify a
ledger (and its anchors: an expected head, signed seals), copy it between stores, seal its head,
import other frameworks' records into it and recover crashed runs' steps."""

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
from privaudit.cli.stores import display_name, file_only, local_path, open_store
from privaudit.errors import InputError
from privaudit.imports.common import Format
from privaudit.ledger import Admit, LedgerEntry, NewEntry
from privaudit.mechanisms import Mechanism, mechanism_from_json_text, mechanism_to_json
from privaudit.policy import load_policy
from privaudit.rounding import number, plural, up

if TYPE_CHECKING:
    from privaudit.seals import TrustedKey
    from privaudit.stores import LedgerStore

# privaudit.assess (and with it the accountant) loads inside the commands that account.

ledger_app = typer.Typer(
    help="Append to, charge, verify, copy, seal, import into and recover hash-chained privacy"
    " ledgers (files or postgresql:// databases).",
    no_args_is_help=True,
)


MechanismOption = Annotated[
    str,
    typer.Option(
        help='Mechanism JSON, e.g. \'{"type": "gaussian", "noise_multiplier": 2}\', or @FILE.'
    ),
]
PartitionOption = Annotated[
    str | None, typer.Option(help="Disjoint part of the dataset (e.g. an FL silo).")
]
RunOption = Annotated[str | None, typer.Option(help="Training run name.")]
PrivacyUnitOption = Annotated[
    str | None, typer.Option(help="What one record protects: example, user, client...")
]
MetaOption = Annotated[
    str | None, typer.Option(help="Free-form JSON object stored with the entry.")
]


@ledger_app.command("add")
def ledger_add(
    ledger: LedgerArgument,
    dataset: Annotated[str, typer.Option(help="Dataset id, as in the policy.")],
    mechanism: MechanismOption,
    partition: PartitionOption = None,
    run: RunOption = None,
    privacy_unit: PrivacyUnitOption = None,
    meta: MetaOption = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            help="Refuse (exit 1, nothing written) an entry that takes its dataset past its"
            " tier in this policy, as `ledger charge` does."
        ),
    ] = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Append one release to LEDGER (created if missing); atomic, durable, hash-chained."""
    loaded = load_policy(policy) if policy is not None else None
    new = _new_entry(dataset, mechanism, partition, run, privacy_unit, meta)
    admit: Admit | None = None
    if loaded is not None:
        from privaudit.charge import PolicyAdmission

        admit = PolicyAdmission(loaded)
    store = open_store(ledger)
    [entry] = _append(store, new, admit)
    if output_format is SummaryFormat.JSON:
        emit_json(_entry_json(entry))
        return
    emit(
        f"{store.name}: appended entry {entry.seq} ({entry.mechanism.describe()}),"
        f" hash {entry.hash[:16]}"
    )


@ledger_app.command("charge")
def ledger_charge(
    ledger: LedgerArgument,
    policy: Annotated[Path, typer.Option(help="Policy file with the tiers' limits.")],
    dataset: Annotated[str, typer.Option(help="Dataset id, as in the policy.")],
    mechanism: MechanismOption,
    partition: PartitionOption = None,
    run: RunOption = None,
    privacy_unit: PrivacyUnitOption = None,
    meta: MetaOption = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Append one release to LEDGER only if the dataset still passes POLICY with it, asked
    under the append's lock (a database: in its transaction), so concurrent jobs cannot
    together overrun a budget; exit 1, nothing written, when it does not fit."""
    from privaudit.charge import PolicyAdmission

    # Bad input is exit 2 before the ledger is opened: the policy, the mechanism, the entry.
    loaded = load_policy(policy)
    new = _new_entry(dataset, mechanism, partition, run, privacy_unit, meta)
    admission = PolicyAdmission(loaded)
    store = open_store(ledger)
    [entry] = _append(store, new, admission)
    [verdict] = [d for d in admission.datasets if d.dataset == entry.dataset]
    if output_format is SummaryFormat.JSON:
        emit_json(
            {
                "ledger": store.name,
                "entry": _entry_json(entry),
                "dataset": verdict.dataset,
                "epsilon_after": verdict.epsilon,
                "delta": verdict.delta,
                "limit_epsilon": verdict.limit_epsilon,
                "status": verdict.status.value,
            }
        )
        return
    emit(
        f"{store.name}: charged entry {entry.seq} ({entry.mechanism.describe()}), hash"
        f" {entry.hash[:16]}; dataset {verdict.dataset!r} now at ε = {up(verdict.epsilon)}"
        f" at δ = {number(verdict.delta)}, limit ε ≤ {number(verdict.limit_epsilon)}"
        f" ({verdict.status.value})"
    )


def _append(store: LedgerStore, new: NewEntry, admit: Admit | None) -> tuple[LedgerEntry, ...]:
    """Append ``new``; with ``admit``, only if it admits the entry under the append's lock
    (exit 1 saying nothing was written when it does not)."""
    from privaudit.errors import BudgetExceededError

    try:
        with options_named():
            return tuple(store.append([new], admit=admit))
    except BudgetExceededError as refused:
        said = str(refused)
        if "nothing was written" not in said:
            raise BudgetExceededError(f"{said}; nothing was written") from None
        raise


def _new_entry(
    dataset: str,
    mechanism: str,
    partition: str | None,
    run: str | None,
    privacy_unit: str | None,
    meta: str | None,
) -> NewEntry:
    """The entry the options describe. Its fields are validated by the store's append before
    the ledger is read (exit 2 naming the option), the mechanism and meta JSON here."""
    text, source = read_argument(mechanism, "--mechanism")
    parsed: Mechanism = mechanism_from_json_text(text, source)
    meta_data = None
    if meta is not None:
        meta_text, meta_source = read_argument(meta, "--meta")
        meta_data = json_object(meta_text, meta_source)
    new = NewEntry(
        dataset=dataset,
        mechanism=parsed,
        partition=partition,
        privacy_unit=privacy_unit,
        run=run,
        meta=meta_data,
    )
    return new


def _entry_json(entry: LedgerEntry) -> dict[str, object]:
    return entry.model_dump(mode="json") | {"mechanism": mechanism_to_json(entry.mechanism)}


@ledger_app.command("verify")
def ledger_verify(
    ledgers: Annotated[
        list[str],
        typer.Argument(
            metavar="LEDGER...",
            help="Ledger file(s) (JSON Lines) or postgresql:// URL(s); a pre-commit hook passes"
            " every staged one.",
            show_default=False,
        ),
    ],
    expect_head: ExpectHeadOption = None,
    trusted_key: TrustedKeyOption = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Verify each LEDGER's hash chain; exit 1 naming the first edited, deleted, reordered or
    truncated line. --expect-head and --trusted-key also catch entries cut off the end."""
    from privaudit.errors import PrivauditError
    from privaudit.seals import load_trusted_keys, parse_head

    # Bad options are exit 2 before any ledger is read.
    if expect_head is not None and len(ledgers) > 1:
        raise InputError(
            "--expect-head", None, f"names one ledger's head; found {len(ledgers)} ledgers"
        )
    if trusted_key:
        # Seals live in LEDGER.seals beside a file; refuse a database before reading anything.
        for ledger in ledgers:
            if local_path(ledger) is None:
                raise InputError(
                    display_name(ledger),
                    None,
                    "is a database ledger; --trusted-key checks LEDGER.seals beside a file",
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
    ledger: str,
    expected: str | None,
    keys: tuple[TrustedKey, ...],
    output_format: SummaryFormat,
    *,
    quiet: bool = False,
) -> dict[str, object]:
    """Verify one ledger against its anchors (raising the first problem), print what was
    verified unless ``quiet``, and return it (the JSON object, with its text under "text")."""
    from privaudit.seals import check_anchors, seals_path

    store = open_store(ledger)
    verified = store.read()
    path = local_path(ledger)
    seals, problems = check_anchors(verified, expected_head=expected, trusted=keys)
    if problems:
        raise problems[0]
    newest = max(seals, key=lambda seal: (seal.entries, seal.line)) if seals else None
    data: dict[str, object] = {
        "valid": True,
        "ledger": store.name,
        "entries": len(verified.entries),
        "head": verified.head,
        "sha256": verified.sha256,
    }
    if expected is not None:
        data["expected_head"] = expected
    if keys:
        data["seals"] = len(seals)
        data["newest_seal"] = None if newest is None else newest.to_json()
    lines = [
        f"{store.name}: {plural(len(verified.entries), 'entry', 'entries')}, hash chain intact,"
        f" head {verified.head}"
    ]
    if expected is not None:
        lines.append("  ends at the expected head")
    if newest is not None:
        lines.append(
            f"  {len(seals)} seal(s), each signed by a trusted key and matching the ledger;"
            f" newest: line {newest.line}, {plural(newest.entries, 'entry', 'entries')},"
            f" head {newest.head},"
            f" sealed {newest.time} by key {newest.key}"
        )
    elif path is not None and seals_path(path).exists():
        lines.append(f"  note: {seals_path(path)} was not checked; pass --trusted-key PUB")
    if not quiet:
        if output_format is SummaryFormat.JSON:
            emit_json(data)
        else:
            emit("\n".join(lines))
    return data if output_format is SummaryFormat.JSON else {**data, "text": "\n".join(lines)}


@ledger_app.command("copy")
def ledger_copy(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SRC", help="Ledger to copy: a file or postgresql:// URL.", show_default=False
        ),
    ],
    destination: Annotated[
        str,
        typer.Argument(
            metavar="DST",
            help="Where to copy it: a missing or empty file, or an empty database ledger.",
            show_default=False,
        ),
    ],
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Copy every entry of SRC, verified, to DST as it is: the same seq, prev, hash and
    canonical line, so a database export verifies as a file ledger and a file moves into a
    database. DST must be missing or empty (exit 2, nothing written, otherwise)."""
    if source == destination:
        raise InputError(destination, None, "is the source ledger; expected another one")
    from_store = open_store(source)
    to_store = open_store(destination)
    if from_store.name == to_store.name:
        raise InputError(to_store.name, None, "is the source ledger; expected another one")
    ledger = from_store.read()
    to_store.append_verbatim(ledger.entries)
    if output_format is SummaryFormat.JSON:
        emit_json(
            {
                "source": from_store.name,
                "destination": to_store.name,
                "entries": len(ledger.entries),
                "head": ledger.head,
            }
        )
        return
    emit(
        f"{from_store.name} -> {to_store.name}: copied"
        f" {plural(len(ledger.entries), 'entry', 'entries')}, hash chain intact, head {ledger.head}"
    )


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

    path = file_only(ledger, "seals are kept in LEDGER.seals beside a ledger file")
    private_key = load_private_key(key)
    seal = seal_ledger(path, private_key)
    if output_format is SummaryFormat.JSON:
        emit_json({"seals": str(seals_path(path)), "line": seal.line, **seal.to_json()})
        return
    emit(
        f"{path}: sealed {plural(seal.entries, 'entry', 'entries')}, head {seal.head},"
        f" at {seal.time} with key {seal.key} ({seals_path(path)} line {seal.line})"
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
    store = open_store(ledger)
    with options_named():
        written = store.append(new)
    shown_delta = imported.framework.delta or figure_delta
    ours = account(imported.mechanisms, shown_delta)
    figure = imported.framework
    if output_format is SummaryFormat.JSON:
        emit_json(
            {
                "ledger": store.name,
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
        f"{store.name}: imported {plural(len(written), 'entry', 'entries')} ({seqs})"
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

    path = file_only(
        ledger,
        "recover is for file ledgers (crash journals are kept in LEDGER.pending/ beside a file)",
    )
    written = recover(path)
    live = [run for run in pending_runs(path) if run.live]
    if output_format is SummaryFormat.JSON:
        emit_json(
            {
                "ledger": str(path),
                "recovered": [entry.seq for entry in written],
                "live": [{"run": run.run, "steps": run.steps} for run in live],
            }
        )
        return
    lines = [
        f"{path}: recovered {plural(len(written), 'entry', 'entries')}"
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
