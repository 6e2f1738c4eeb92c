"""``privaudit policy validate|schema|init``: check, describe and start policy files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from privaudit.cli.app import FormatOption, SummaryFormat
from privaudit.cli.present import emit, emit_json
from privaudit.errors import EXIT_FAIL, InputError
from privaudit.files import atomic_write
from privaudit.policy import load_policy, policy_json_schema, starter_policy_text
from privaudit.rounding import plural

policy_app = typer.Typer(help="Validate, describe and start policy files.", no_args_is_help=True)


@policy_app.command("validate")
def policy_validate(
    file: Annotated[Path, typer.Argument(help="Policy file (.yaml, .yml, .toml or .json).")],
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Check a policy file; exit 2 with the field and problem if it cannot be read, 1 if a
    dataset's δ is not below 1/n (a warning, exit 0, if it is above 1/n^1.1)."""
    policy = load_policy(file)
    findings = policy.delta_findings()
    problems = [f.message for f in findings if f.severity == "fail"]
    warnings = [f.message for f in findings if f.severity == "warn"]
    if output_format is SummaryFormat.JSON:
        emit_json(
            {
                "valid": not problems,
                "file": str(file),
                "problems": problems,
                "warnings": warnings,
                "policy": policy.model_dump(mode="json"),
            }
        )
        if problems:
            raise typer.Exit(EXIT_FAIL)
        return
    if problems:
        for problem in problems:
            sys.stderr.write(f"privaudit: error: {_one_line(str(file))}: {problem}\n")
        raise typer.Exit(EXIT_FAIL)
    tiers = plural(len(policy.tiers), "tier", "tiers")
    datasets = plural(len(policy.datasets), "dataset", "datasets")
    emit(f"{file}: valid policy with {tiers} and {datasets}")
    for name, tier in policy.tiers.items():
        per_run = f", per run ε ≤ {tier.per_run_epsilon:g}" if tier.per_run_epsilon else ""
        emit(
            f"  tier {name}: ε ≤ {tier.epsilon:g}, δ ≤ {tier.delta:g}{per_run}, warn at"
            f" {100 * tier.warn_at:g}%, unit {tier.privacy_unit},"
            f" accountant {tier.accountant.value}"
        )
    for name, spec in policy.datasets.items():
        emit(f"  dataset {name}: tier {spec.tier}, n = {spec.size}")
    for warning in warnings:
        emit(f"  warning: {warning}")


@policy_app.command("schema")
def policy_schema() -> None:
    """Print the JSON Schema of policy files."""
    emit_json(policy_json_schema())


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
    atomic_write(file, starter_policy_text().encode("utf-8"))
    emit(f"wrote {file}; edit it, then run: privaudit policy validate {file}")


def _one_line(text: str) -> str:
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
