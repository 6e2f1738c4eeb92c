"""``privaudit plan --forecast-data``: how much data a scenario needs to reach a metric at an ε
(trained with the noise divided by k, Sander et al. 2023), and its exit code."""

from __future__ import annotations

import math
from pathlib import Path
from typing import NoReturn

import typer

from privaudit.cli.app import SummaryFormat
from privaudit.cli.inputs import options_named, positive_numbers
from privaudit.cli.present import emit, emit_json, progress_line
from privaudit.errors import EXIT_FAIL, EXIT_OK, InputError


def forecast(
    scenario: str,
    epsilon: float | None,
    target: float,
    factors: str,
    data_dir: Path,
    output_format: SummaryFormat,
) -> NoReturn:
    """Exit 0 when some simulated data multiple reaches ``target``, 1 when even the largest
    falls short."""
    from privaudit.scenarios import forecast_hospital_notes

    wanted = 1.0 if epsilon is None else epsilon
    if not (0 < wanted < math.inf):
        raise InputError("--epsilon", None, f"expected a finite number > 0; found {epsilon!r}")
    if not 0 < target <= 1:
        raise InputError("--target", None, f"expected a macro-F1 in (0, 1]; found {target!r}")
    ks = positive_numbers([factors], "--factors") or []
    if not (data_dir / "mtsamples").is_dir():
        raise InputError(str(data_dir), None, "expected a folder mtsamples/ inside")
    progress_line(f"forecast: {scenario} at ε = {wanted:g}, noise divided by k for k in {ks}")
    with options_named():
        result, delta, allowance = forecast_hospital_notes(
            data_dir, epsilon=wanted, target=target, factors=ks
        )
    if output_format is SummaryFormat.JSON:
        emit_json(
            {
                "scenario": scenario,
                "epsilon": wanted,
                "target_macro_f1": target,
                "n_train": result.n_train,
                "notes_needed": result.notes_needed,
                "rows": [row._asdict() for row in result.rows],
                "seeds": list(result.seeds),
                "delta": delta,
                "dropout_allowance": allowance,
                "method": "Sander et al. 2023: σ/k simulates k× the data at the same ε",
            }
        )
    else:
        emit(f"{'k':>6}  {'notes':>7}  {'macro-F1':>8}")
        for row in result.rows:
            emit(f"{row.factor:>6g}  {row.notes:>7}  {row.macro_f1:>8.3f}")
        answer = (
            f"about {result.notes_needed:,} training notes"
            if result.notes_needed is not None
            else f"more than {result.rows[-1].notes:,} notes (the largest factor falls short)"
        )
        emit(
            f"{scenario}: macro-F1 {target:g} at ε = {wanted:g} needs {answer}"
            f" (now {result.n_train:,}; mean over seeds {', '.join(map(str, result.seeds))})"
        )
    raise typer.Exit(EXIT_OK if result.notes_needed is not None else EXIT_FAIL)
