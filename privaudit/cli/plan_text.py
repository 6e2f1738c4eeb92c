"""A plan in words: the one-sentence answer, how it was accounted, and the grid table, with every
shown ε rounded up and every shown number of epochs rounded down."""

from __future__ import annotations

from privaudit.accounting.planner import Plan, PlanRow
from privaudit.cli.plan_target import PlanTarget
from privaudit.cli.present import table
from privaudit.rounding import down, number, up


def plan_answer(result: Plan) -> str:
    """The answer first: the configuration to use, or why nothing fits."""
    target = f"{number(result.request.target_epsilon)} at δ = {number(result.request.delta)}"
    row = result.recommended
    if row is None:
        closest = result.closest
        if closest is None or closest.epsilon is None:
            return f"nothing fits ε ≤ {target}: no noise multiplier ≤ 1e6 meets it"
        return (
            f"nothing fits ε ≤ {target}; the closest is noise multiplier"
            f" {number(closest.noise_multiplier)} with {_setup(closest, result)}:"
            f" ε = {up(closest.epsilon)} ({closest.method.value.upper()})"
        )
    assert row.epsilon is not None and row.noise_multiplier is not None
    shown = up(row.epsilon)
    if float(shown) >= result.request.target_epsilon > row.epsilon:
        shown = up(row.epsilon, 7)  # show that it is below the target, not just at it
    bound = f"ε = {shown} ≤ {target}, {row.method.value.upper()}"
    single = len(result.rows) == 1
    if result.solved_for == "noise_multiplier":
        where = "" if single else f" with {_setup(row, result)}, the smallest in the grid"
        return f"noise multiplier {up(row.noise_multiplier, 5)} ({bound}){where}"
    if result.solved_for == "steps":
        return _most_steps(row, result, bound)
    where = "" if single else ", the smallest noise multiplier in the grid that fits"
    return (
        f"fits: noise multiplier {number(row.noise_multiplier)} with {_setup(row, result)}"
        f" ({bound}){where}"
    )


def _most_steps(row: PlanRow, result: Plan, bound: str) -> str:
    unit = (
        f"{row.steps} rounds"
        if result.federated
        else f"{row.steps} steps ({down(row.epochs or 0.0)} epochs)"
    )
    with_lot = (
        f"{row.clients_per_round} clients per round"
        if result.federated
        else f"batch size {row.batch_size}"
    )
    return (
        f"at most {unit} with noise multiplier {number(row.noise_multiplier)} and"
        f" {with_lot} ({bound})"
    )


def _setup(row: PlanRow, result: Plan) -> str:
    if result.federated:
        return (
            f"{row.clients_per_round} of {result.population} clients per round"
            f" (q = {row.sampling_rate:.4g}), {row.rounds} rounds"
        )
    return (
        f"batch size {row.batch_size} of {result.population} records"
        f" (q = {row.sampling_rate:.4g}), {number(row.epochs or 0.0)} epochs = {row.steps} steps"
    )


def plan_text(
    result: Plan,
    target: PlanTarget,
    answer: str,
    charts: dict[str, str | None],
    warnings: list[str],
) -> str:
    """The text output: answer, target, method, warnings, the grid table, the charts."""
    lines = [answer]
    if len(result.rows) == 1 and result.recommended is not None:
        lines.append(f"  {_setup(result.recommended, result)}")
    if target.tier is not None:
        warn = "" if target.warn_at is None else f", warning at {100 * target.warn_at:g}%"
        lines.append(
            f"  target: {target.label} at δ = {number(target.delta)} ({target.source}{warn})"
        )
    lines.append(f"  accounted with {_method(result)}")
    lines.extend(f"warning: {warning}" for warning in warnings)
    lines.append("")
    lines.extend(_plan_table(result))
    lines.append("")
    if charts["png"] is not None:
        lines.append(f"ε over training: {charts['png']}, {charts['svg']}")
    return "\n".join(lines)


def _method(result: Plan) -> str:
    pld = result.settings["pld"]
    step = number(pld["discretisation"])
    how = f"PLD ({pld['estimate']}, connect-the-dots, discretisation {step})"
    if "rdp" in result.settings:
        how = f"RDP ({result.settings['rdp']['orders']}) for the grid, {how} where marked"
    return (
        f"{how}; add-or-remove-one neighbours, Poisson sampling,"
        f" privacy unit: one {result.privacy_unit}"
    )


def _plan_table(result: Plan) -> list[str]:
    if result.federated:
        header = ["noise multiplier", "clients per round", "rounds", "sampling rate"]
    else:
        header = ["noise multiplier", "batch size", "epochs", "steps", "sampling rate"]
    header += ["ε", "fits", "method"]
    cells = [header, *(_cells(row, result) for row in result.rows)]
    marks = [
        "  <- recommended"
        if row == result.recommended
        else "  <- closest"
        if row == result.closest
        else ""
        for row in result.rows
    ]
    return table(cells, marks)


def _cells(row: PlanRow, result: Plan) -> list[str]:
    sigma = "none" if row.noise_multiplier is None else number(row.noise_multiplier)
    if result.solved_for == "noise_multiplier" and row.noise_multiplier is not None:
        sigma = up(row.noise_multiplier, 5)
    if result.federated:
        cells = [sigma, str(row.clients_per_round), str(row.rounds)]
    else:
        epochs = down(row.epochs or 0.0) if result.solved_for == "steps" else None
        cells = [sigma, str(row.batch_size), epochs or number(row.epochs or 0.0)]
        cells.append(str(row.steps))
    return [
        *cells,
        f"{row.sampling_rate:.4g}",
        "-" if row.epsilon is None else up(row.epsilon),
        "yes" if row.fits else "no",
        row.method.value,
    ]
