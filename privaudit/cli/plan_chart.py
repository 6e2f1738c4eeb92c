"""The ε-curve chart of a ``privaudit plan``: the curve of the configuration it recommends (or
the closest one), drawn against the target and the tier's warning line, as PNG and SVG."""

from __future__ import annotations

from pathlib import Path

from privaudit.accounting.planner import Plan
from privaudit.cli.inputs import reason
from privaudit.cli.plan_target import PlanTarget
from privaudit.errors import InputError
from privaudit.files import atomic_write
from privaudit.rounding import number


def plan_charts(
    result: Plan, target: PlanTarget, folder: Path, *, parents: bool
) -> dict[str, str | None]:
    """The ε curve of the recommended (or closest) configuration as PNG and SVG in ``folder``
    (created, with its ``parents`` if so asked); no files when the plan has no curve."""
    curve = result.curve
    if curve is None:
        return {"png": None, "svg": None}
    from privaudit.report.charts import epsilon_curve_chart  # matplotlib: only when drawing

    if result.federated:
        xs: tuple[float, ...] = tuple(float(r) for r in curve.rounds or ())
        x_label = "round"
        setup = f"{result.request.clients_per_round} of {result.population} clients per round"
    else:
        xs = curve.epochs or ()
        x_label = "epoch"
        batch = result.recommended or result.closest
        size = batch.batch_size if batch is not None else None
        setup = f"batch {size} of {result.population}"
    png, svg = epsilon_curve_chart(
        xs,
        curve.epsilon,
        limit=target.epsilon,
        warn_at=target.warn_at,
        title=(
            f"ε over training at δ = {number(curve.delta)}: noise multiplier"
            f" {number(curve.noise_multiplier)}, {setup}"
        ),
        x_label=x_label,
        limit_label=target.label,
        curve_label="ε (PLD, certified upper bound)",
    )
    if not folder.exists():
        try:
            folder.mkdir(parents=parents)
        except OSError as error:
            raise InputError(str(folder), None, f"cannot create: {reason(error)}") from None
    paths = {"png": folder / "epsilon-curve.png", "svg": folder / "epsilon-curve.svg"}
    atomic_write(paths["png"], png)
    atomic_write(paths["svg"], svg.encode("utf-8"))
    return {kind: str(path) for kind, path in paths.items()}
