"""``privaudit ledger add|verify``: append releases to a hash-chained ledger and verify it."""

from __future__ import annotations

from typing import Annotated

import typer

from privaudit.cli.app import FormatOption, LedgerArgument, SummaryFormat
from privaudit.cli.inputs import json_object, options_named, read_argument
from privaudit.cli.present import emit, emit_json
from privaudit.ledger import append_entry, read_ledger
from privaudit.mechanisms import mechanism_from_json_text, mechanism_to_json

ledger_app = typer.Typer(
    help="Append to and verify hash-chained privacy ledgers.", no_args_is_help=True
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
def ledger_verify(ledger: LedgerArgument, output_format: FormatOption = SummaryFormat.TEXT) -> None:
    """Verify LEDGER's hash chain; exit 1 naming the first edited, deleted, reordered or
    truncated line."""
    verified = read_ledger(ledger)
    if output_format is SummaryFormat.JSON:
        emit_json(
            {
                "valid": True,
                "ledger": str(ledger),
                "entries": len(verified.entries),
                "head": verified.head,
                "sha256": verified.sha256,
            }
        )
        return
    emit(f"{ledger}: {len(verified.entries)} entries, hash chain intact, head {verified.head}")
