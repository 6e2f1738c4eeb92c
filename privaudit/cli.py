"""The ``privaudit`` command line: parse, call the library, print, choose the exit code.

Exit codes: 0 within budget (warnings allowed); 1 budget exceeded or ledger broken; 2 bad input
or usage, always as one line naming the file, field and problem, never a traceback.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from privaudit import gate
from privaudit.assess import DEFAULT_DELTA, assess, broken_ledger_assessment
from privaudit.errors import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    InputError,
    LedgerIntegrityError,
    PrivauditError,
)
from privaudit.jsontext import load_json
from privaudit.ledger import append_entry, read_ledger
from privaudit.mechanisms import mechanism_from_json_text, mechanism_to_json
from privaudit.policy import load_policy, policy_json_schema, starter_policy_text

_LIBRARY_ARGUMENT = "<argument>"
"""How the library names the source of a bad Python argument (see privaudit.ledger)."""

app = typer.Typer(
    name="privaudit",
    help="Differential-privacy accounting and audit: plan budgets, gate CI, report to regulators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
policy_app = typer.Typer(help="Validate, describe and start policy files.", no_args_is_help=True)
ledger_app = typer.Typer(
    help="Append to and verify hash-chained privacy ledgers.", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")
app.add_typer(ledger_app, name="ledger")


class SummaryFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


FormatOption = Annotated[
    SummaryFormat, typer.Option("--format", help="text for people, json for scripts (stdout).")
]
LedgerArgument = Annotated[
    Path, typer.Argument(help="Ledger file (JSON Lines).", show_default=False)
]


def _emit(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _emit_json(data: Any) -> None:
    _emit(json.dumps(data, indent=2, allow_nan=False))


@policy_app.command("validate")
def policy_validate(
    file: Annotated[Path, typer.Argument(help="Policy file (.yaml, .yml, .toml or .json).")],
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Check a policy file; exit 2 with the field and problem if it is invalid."""
    policy = load_policy(file)
    if output_format is SummaryFormat.JSON:
        _emit_json({"valid": True, "file": str(file), "policy": policy.model_dump(mode="json")})
        return
    _emit(
        f"{file}: valid policy with {len(policy.tiers)} tiers and {len(policy.datasets)} datasets"
    )
    for name, tier in policy.tiers.items():
        per_run = f", per run ε ≤ {tier.per_run_epsilon:g}" if tier.per_run_epsilon else ""
        _emit(
            f"  tier {name}: ε ≤ {tier.epsilon:g}, δ ≤ {tier.delta:g}{per_run}, warn at"
            f" {100 * tier.warn_at:g}%, unit {tier.privacy_unit},"
            f" accountant {tier.accountant.value}"
        )
    for name, spec in policy.datasets.items():
        _emit(f"  dataset {name}: tier {spec.tier}, n = {spec.size}")


@policy_app.command("schema")
def policy_schema() -> None:
    """Print the JSON Schema of policy files."""
    _emit_json(policy_json_schema())


@policy_app.command("init")
def policy_init(
    file: Annotated[Path, typer.Argument(help="Where to write the starter policy.")] = Path(
        "privacy-policy.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter policy (refuses to overwrite unless --force)."""
    if file.exists() and not force:
        raise InputError(str(file), None, "file exists; expected a new path (or pass --force)")
    _atomic_write(file, starter_policy_text())
    _emit(f"wrote {file}; edit it, then run: privaudit policy validate {file}")


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
    text, source = _read_argument(mechanism, "--mechanism")
    parsed = mechanism_from_json_text(text, source)
    meta_data = None
    if meta is not None:
        meta_text, meta_source = _read_argument(meta, "--meta")
        meta_data = _json_object(meta_text, meta_source)
    try:
        entry = append_entry(
            ledger,
            dataset=dataset,
            mechanism=parsed,
            partition=partition,
            privacy_unit=privacy_unit,
            run=run,
            meta=meta_data,
        )
    except InputError as error:
        if error.source != _LIBRARY_ARGUMENT or not error.field:
            raise
        # The library names its own arguments; name the option the user typed instead.
        name = re.split(r"[.\[:]", error.field, maxsplit=1)[0]
        raise InputError(f"--{name.replace('_', '-')}", error.field, error.problem) from None
    if output_format is SummaryFormat.JSON:
        _emit_json(
            entry.model_dump(mode="json") | {"mechanism": mechanism_to_json(entry.mechanism)}
        )
        return
    _emit(
        f"{ledger}: appended entry {entry.seq} ({entry.mechanism.describe()}),"
        f" hash {entry.hash[:16]}"
    )


@ledger_app.command("verify")
def ledger_verify(ledger: LedgerArgument, output_format: FormatOption = SummaryFormat.TEXT) -> None:
    """Verify LEDGER's hash chain; exit 1 naming the first edited, deleted, reordered or
    truncated line."""
    verified = read_ledger(ledger)
    if output_format is SummaryFormat.JSON:
        _emit_json(
            {
                "valid": True,
                "ledger": str(ledger),
                "entries": len(verified.entries),
                "head": verified.head,
                "sha256": verified.sha256,
            }
        )
        return
    _emit(f"{ledger}: {len(verified.entries)} entries, hash chain intact, head {verified.head}")


@app.command("account")
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
    _finish(ledger, policy, delta, gate.OutputFormat(output_format.value), None, epsilon)


@app.command("check")
def check_command(
    ledger: LedgerArgument,
    policy: Annotated[Path, typer.Option(help="Policy file with the tiers' limits.")],
    output_format: Annotated[
        gate.OutputFormat, typer.Option("--format", help="Output for people or CI systems.")
    ] = gate.OutputFormat.TEXT,
    output: Annotated[
        Path | None,
        typer.Option(help="Write the formatted result here (a text summary goes to stdout)."),
    ] = None,
    delta: Annotated[float | None, typer.Option(help="Override the tiers' δ.")] = None,
) -> None:
    """The CI gate: exit 1 if any dataset exceeds its policy or the ledger is broken."""
    _finish(ledger, policy, delta, output_format, output)


def _finish(
    ledger_path: Path,
    policy_path: Path | None,
    delta: float | None,
    output_format: gate.OutputFormat,
    output: Path | None,
    epsilon: float | None = None,
) -> None:
    if delta is not None and not (0 < delta < 1):
        raise InputError("--delta", None, f"must be in (0, 1); found {delta!r}")
    if epsilon is not None and not (0 <= epsilon < math.inf):
        raise InputError("--epsilon", None, f"must be a finite number >= 0; found {epsilon!r}")
    if output is not None:
        # Writing the report over an input would destroy the evidence it reports on.
        for name, path in (("ledger", ledger_path), ("policy", policy_path)):
            if path is not None and output.resolve() == path.resolve():
                raise InputError(str(output), None, f"is the {name} file; expected another path")
    policy = load_policy(policy_path) if policy_path is not None else None
    try:
        ledger = read_ledger(ledger_path)
    except LedgerIntegrityError as broken:
        sys.stderr.write(f"privaudit: {broken}\n")
        result = broken_ledger_assessment(ledger_path, str(broken), policy_path=policy_path)
    else:
        result = assess(ledger, policy, policy_path=policy_path, delta=delta, epsilon=epsilon)
    rendered = gate.render(result, output_format)
    if output is not None:
        _atomic_write(output, rendered)
        _emit(gate.render_text(result))
    else:
        _emit(rendered)
    raise typer.Exit(gate.exit_code(result))


def _read_argument(value: str, option: str) -> tuple[str, str]:
    if not value.startswith("@"):
        return value, option
    path = Path(value[1:])
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(str(path), None, f"cannot read {option} file: {_reason(error)}") from None


def _json_object(text: str, source: str) -> dict[str, Any]:
    data = load_json(text, source)
    if not isinstance(data, dict):
        raise InputError(source, None, f"expected a JSON object; found {type(data).__name__}")
    return data


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)


def _atomic_write(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path`` and rename: readers never see half a file."""
    if not path.parent.exists():
        raise InputError(str(path), None, f"folder {path.parent} does not exist")
    if path.is_dir():
        raise InputError(str(path), None, "is a folder; expected a file path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise InputError(str(path), None, f"cannot write: {_reason(error)}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(str(path), None, f"cannot write: {_reason(error)}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    # dp_accounting logs through absl (e.g. RDP orders it drops as non-convergent, which only
    # makes the bound more conservative); stderr is for our own one-line messages.
    logging.getLogger("absl").setLevel(logging.ERROR)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="privaudit", standalone_mode=False)
    except PrivauditError as error:
        sys.stderr.write(f"privaudit: error: {error}\n")
        return error.exit_code
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        sys.stderr.write("privaudit: aborted\n")
        return EXIT_FAIL
    except typer.TyperException as error:
        # Typer's own usage errors (unknown option, missing argument, bad enum value...).
        message = error.format_message()
        if type(error).__name__ == "NoArgsIsHelpError":
            sys.stderr.write(message + "\n")
            return EXIT_USAGE
        sys.stderr.write(f"privaudit: error: {' '.join(message.split())}\n")
        return EXIT_USAGE
    except Exception as error:
        # A bug, not a verdict: fail closed with one line (PRIVAUDIT_DEBUG=1 shows the traceback).
        if os.environ.get("PRIVAUDIT_DEBUG"):
            raise
        problem = " ".join(str(error).split())[:300]
        sys.stderr.write(
            f"privaudit: internal error: {type(error).__name__}: {problem}"
            " (a bug in privaudit; rerun with PRIVAUDIT_DEBUG=1 for the traceback)\n"
        )
        return EXIT_USAGE
    return result if isinstance(result, int) else EXIT_OK


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
