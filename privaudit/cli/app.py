"""The root ``privaudit`` app, the option types several commands share, and the entry point that
turns every outcome into an exit code.

Exit codes: 0 within budget (warnings allowed); 1 budget exceeded or ledger broken; 2 bad input
or usage, always as one line naming the file, field and problem, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from privaudit.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE, PrivauditError

# Typer's own usage errors: ``TyperException`` from typer 0.21 on; before it (Flower pins
# typer < 0.21) typer runs on click, whose ``ClickException`` is the same contract.
USAGE_ERRORS: type[Exception] = (
    getattr(typer, "TyperException", None) or __import__("click").ClickException
)

SUBCOMMANDS: dict[tuple[str, str], str] = {("report", "verify"): "report-verify"}
"""Two-word commands beside a one-word command that takes arguments of its own: ``privaudit
report LEDGER ...`` makes a report and ``privaudit report verify FILE`` checks one, without
turning ``report`` into a group (whose options would then have to precede its arguments)."""


class _RootGroup(TyperGroup):
    """The root group, resolving :data:`SUBCOMMANDS` to their hidden commands."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = SUBCOMMANDS.get((args[0], args[1])) if len(args) >= 2 else None
        command = self.get_command(ctx, name) if name else None
        if command is not None:
            return f"{args[0]} {args[1]}", command, args[2:]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=_RootGroup,
    name="privaudit",
    help="Differential-privacy accounting and audit: plan budgets, gate CI, report to regulators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    """``--version``: the installed distribution's version, read from its metadata (no numerics
    load)."""
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("privaudit")
    except PackageNotFoundError:
        number = "unknown (not installed)"
    sys.stdout.write(f"privaudit {number}\n")
    raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print privaudit's version and exit.",
        ),
    ] = False,
) -> None:
    """Differential-privacy accounting and audit: plan budgets, gate CI, report to regulators."""


class SummaryFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


FormatOption = Annotated[
    SummaryFormat, typer.Option("--format", help="text for people, json for scripts (stdout).")
]
LedgerArgument = Annotated[
    str,
    typer.Argument(
        metavar="LEDGER",
        help="Ledger file (JSON Lines) or postgresql:// URL",
        show_default=False,
    ),
]
PolicyOption = Annotated[Path, typer.Option(help="Policy file with the tiers' limits.")]
ExpectHeadOption = Annotated[
    str | None,
    typer.Option(
        "--expect-head",
        metavar="HASH",
        help="Fail (exit 1) unless the ledger ends at this head hash, as recorded from an earlier"
        " `ledger verify` outside the ledger's reach (catches entries cut off the end).",
        show_default=False,
    ),
]
TrustedKeyOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--trusted-key",
        metavar="PUB",
        help="Public key (KEY.pub of `ledger keygen`) seals may be signed with; repeatable."
        " Fail (exit 1) unless LEDGER.seals has seals, every one signed by a trusted key, and"
        " the ledger still holds every sealed head.",
        show_default=False,
    ),
]
ReportFormatsOption = Annotated[str, typer.Option("--formats", help="Report formats: html, pdf.")]


class TrainData(StrEnum):
    MNIST = "mnist"
    DIGITS = "digits"


DataOption = Annotated[
    TrainData, typer.Option("--data", help="mnist (needs --data-dir) or the bundled digits.")
]
DataDirOption = Annotated[
    Path | None, typer.Option(help="Folder laid out like ../shared/data (mnist/ inside).")
]


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
    except USAGE_ERRORS as error:
        return _usage_error(error)
    except Exception as error:
        # A bug, not a verdict: fail closed with one line (PRIVAUDIT_DEBUG=1 shows the traceback).
        if os.environ.get("PRIVAUDIT_DEBUG"):
            raise
        return _internal_error(error)
    return result if isinstance(result, int) else EXIT_OK


def _usage_error(error: Any) -> int:
    """Typer's own usage errors (unknown option, missing argument, bad enum value...)."""
    message = error.format_message()
    if type(error).__name__ == "NoArgsIsHelpError":
        sys.stderr.write(message + "\n")
        return EXIT_USAGE
    sys.stderr.write(f"privaudit: error: {' '.join(message.split())}\n")
    return EXIT_USAGE


def _internal_error(error: Exception) -> int:
    problem = " ".join(str(error).split())[:300]
    sys.stderr.write(
        f"privaudit: internal error: {type(error).__name__}: {problem}"
        " (a bug in privaudit; rerun with PRIVAUDIT_DEBUG=1 for the traceback)\n"
    )
    return EXIT_USAGE


def run() -> None:
    """The ``privaudit`` console script: exit with :func:`main`'s code."""
    sys.exit(main())
