"""``privaudit plan``: noise, batch size and length of a training run that stay under a tier's ε,
with the ε-curve chart; the planner's errors named by the options typed."""

from __future__ import annotations

import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from privaudit.cli.app import FormatOption, SummaryFormat
from privaudit.cli.inputs import (
    ListOption,
    options_named,
    positive_numbers,
    whole_numbers,
)
from privaudit.cli.present import Progress, emit, emit_json
from privaudit.errors import EXIT_FAIL, EXIT_OK, InputError

if TYPE_CHECKING:
    from privaudit.accounting.planner import Plan
    from privaudit.cli.plan_target import PlanTarget

DEFAULT_PLAN_FOLDER = Path("reports/plan")
"""Where ``privaudit plan`` writes its charts unless ``--out`` says otherwise."""

_PLAN_OPTIONS = {
    "target_epsilon": "--epsilon",
    "delta": "--delta",
    "dataset_size": "--dataset-size",
    "batch_sizes": "--batch-size",
    "epochs": "--epochs",
    "noise_multipliers": "--noise-multiplier",
    "clients_per_round": "--clients-per-round",
    "clients": "--clients",
    "rounds": "--rounds",
}
"""Planner argument names and the options that set them, for error messages."""


# What the plan is for, resolved by plan_target(): a tier, or ε and δ, or a tier overridden.
TierOption = Annotated[
    str | None, typer.Option(help="Plan for this tier's ε cap, δ and warning line.")
]
TierPolicyOption = Annotated[
    Path | None, typer.Option(help="Policy file with the tier (default: the shipped tiers).")
]
TargetEpsilonOption = Annotated[
    float | None, typer.Option(help="Target ε (overrides the tier's cap).")
]
TargetDeltaOption = Annotated[float | None, typer.Option(help="δ (overrides the tier's δ).")]


class ForecastScenario(StrEnum):
    HOSPITAL_NOTES = "hospital-notes"


def _list_option(letter: str, what: str, hint: str = "repeat or comma-separate") -> Any:
    """A repeatable, comma-separable option (see :func:`split_list`), shown as ``B[,B...]``."""
    return typer.Option(metavar=f"{letter}[,{letter}...]", help=f"{what}; {hint}.")


def plan_command(
    tier: TierOption = None,
    policy: TierPolicyOption = None,
    epsilon: TargetEpsilonOption = None,
    delta: TargetDeltaOption = None,
    dataset_size: Annotated[
        int | None, typer.Option(help="DP-SGD: number of records n (privacy unit: example).")
    ] = None,
    batch_size: Annotated[ListOption, _list_option("B", "DP-SGD: batch size(s)")] = None,
    epochs: Annotated[ListOption, _list_option("E", "DP-SGD: epochs")] = None,
    noise_multiplier: Annotated[
        ListOption, _list_option("Z", "Noise multiplier(s) to account", "omit to calibrate one")
    ] = None,
    clients: Annotated[
        int | None, typer.Option(help="Federated: total clients N (privacy unit: client).")
    ] = None,
    clients_per_round: Annotated[
        int | None, typer.Option(help="Federated: clients sampled per round.")
    ] = None,
    rounds: Annotated[ListOption, _list_option("R", "Federated: rounds")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help=f"Folder for the ε-curve PNG and SVG [default: {DEFAULT_PLAN_FOLDER}].",
        ),
    ] = None,
    forecast_data: Annotated[
        ForecastScenario | None,
        typer.Option(
            help="Forecast how much data the scenario needs at --epsilon to reach --target"
            " (trains with the noise divided by k, Sander et al. 2023)."
        ),
    ] = None,
    target: Annotated[
        float, typer.Option(help="--forecast-data: the metric to reach (macro-F1).")
    ] = 0.8,
    factors: Annotated[
        str, typer.Option(help="--forecast-data: data multiples k to simulate.")
    ] = "1,2,4,8,16,32",
    data_dir: Annotated[
        Path, typer.Option(help="--forecast-data: folder laid out like ../shared/data.")
    ] = Path("../shared/data"),
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Noise, batch size and length of a training run that stay under a tier's ε.

    Without --noise-multiplier: the smallest noise multiplier for each batch size and number of
    epochs (rounds). With it: ε of every configuration, or, without --epochs/--rounds, the most
    steps that fit. Exit 0 when a configuration fits, 1 when none does. With --forecast-data:
    how many records the scenario would need to reach --target at --epsilon (exit 1 if even the
    largest factor falls short).
    """
    # Only a plan needs its target, answer, chart and forecast: loaded here, not at start-up.
    from privaudit.accounting.planner import plan as make_plan
    from privaudit.cli.forecast import forecast
    from privaudit.cli.plan_chart import plan_charts
    from privaudit.cli.plan_target import plan_target
    from privaudit.cli.plan_text import plan_answer, plan_text

    if forecast_data is not None:
        forecast(forecast_data.value, epsilon, target, factors, data_dir, output_format)
    target_ = plan_target(tier, policy, epsilon, delta)
    folder = _plan_folder(out)
    for option, value in (
        ("--dataset-size", dataset_size),
        ("--clients", clients),
        ("--clients-per-round", clients_per_round),
    ):
        if value is not None and value < 1:
            raise InputError(option, None, f"expected a whole number >= 1; found {value}")
    with options_named(_planner_option):
        result = make_plan(
            epsilon=target_.epsilon,
            delta=target_.delta,
            dataset_size=dataset_size,
            batch_size=whole_numbers(batch_size, "--batch-size"),
            epochs=positive_numbers(epochs, "--epochs"),
            noise_multiplier=positive_numbers(noise_multiplier, "--noise-multiplier"),
            clients=clients,
            clients_per_round=clients_per_round,
            rounds=whole_numbers(rounds, "--rounds"),
            progress=Progress(sys.stderr),
        )
    charts = plan_charts(result, target_, folder, parents=folder == DEFAULT_PLAN_FOLDER)
    answer = plan_answer(result)
    warnings = _warnings(result, target_)
    if output_format is SummaryFormat.JSON:
        emit_json(
            {
                "answer": answer,
                "fits": result.fits,
                "target": target_.as_json(),
                **result.model_dump(mode="json"),
                "warnings": warnings,
                "charts": charts,
            }
        )
    else:
        emit(plan_text(result, target_, answer, charts, warnings))
    raise typer.Exit(EXIT_OK if result.fits else EXIT_FAIL)


def _plan_folder(out: Path | None) -> Path:
    """The chart folder: checked before any work; the default is created with its parents, an
    explicit --out only when its parent exists."""
    folder = DEFAULT_PLAN_FOLDER if out is None else out
    if folder.exists() and not folder.is_dir():
        raise InputError(str(folder), None, "is a file; expected a folder for the charts")
    if out is not None and not folder.exists() and not folder.parent.is_dir():
        raise InputError(str(folder), None, f"folder {folder.parent} does not exist")
    return folder


def _planner_option(error: InputError) -> InputError:
    root = re.split(r"[.\[]", error.field, maxsplit=1)[0] if error.field else ""
    return InputError(_PLAN_OPTIONS.get(root, "plan"), None, _option_names(error.problem))


def _option_names(problem: str) -> str:
    # The planner names its arguments (batch_sizes, dataset_size); name the options instead.
    return re.sub(
        r"\b(" + "|".join(_PLAN_OPTIONS) + r")\b",
        lambda match: _PLAN_OPTIONS[match.group(1)],
        problem,
    )


def _warnings(result: Plan, target: PlanTarget) -> list[str]:
    warnings = list(result.warnings)
    if target.privacy_unit is not None and target.privacy_unit != result.privacy_unit:
        warnings.append(
            f"this plan is accounted per '{result.privacy_unit}' but tier {target.tier} names"
            f" '{target.privacy_unit}'"
        )
    return warnings
