"""``privaudit train dpsgd`` and ``privaudit tradeoff``: validation training runs on real data,
their run records, and the accuracy-against-ε chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from privaudit.cli.app import (
    DataDirOption,
    DataOption,
    FormatOption,
    SummaryFormat,
    TrainData,
)
from privaudit.cli.inputs import (
    check_delta,
    check_positive,
    make_folder,
)
from privaudit.cli.present import emit, emit_json
from privaudit.cli.stores import file_only
from privaudit.errors import EXIT_FAIL, EXIT_OK
from privaudit.files import atomic_write
from privaudit.policy import load_policy
from privaudit.rounding import up_fixed

if TYPE_CHECKING:
    from privaudit.records.run import RunRecord

train_app = typer.Typer(
    help="Validation training runs that write the ledger.", no_args_is_help=True
)


@train_app.command("dpsgd")
def train_dpsgd_command(
    data: DataOption = TrainData.DIGITS,
    data_dir: DataDirOption = None,
    target_epsilon: Annotated[
        float, typer.Option(help="ε this run may spend; the noise is calibrated for it.")
    ] = 2.0,
    delta: Annotated[float, typer.Option(help="δ of the guarantee.")] = 1e-5,
    epochs: Annotated[
        int | None, typer.Option(help="Epochs (default: tuned per data set).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Expected (Poisson) batch size.")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    clip_norm: Annotated[float | None, typer.Option(help="Per-example clipping norm C.")] = None,
    ledger: Annotated[
        str | None,
        typer.Option(help="Ledger file to append one entry per epoch (a file, not a database)."),
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Policy whose lifetime cap stops training before overrun.")
    ] = None,
    dataset_id: Annotated[
        str | None, typer.Option(help="Dataset id in the ledger and policy (default: --data).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Run name (default: dpsgd-DATA-epsE).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run record (default runs/NAME.json).")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Fixed seed (recorded); default: OS cryptographic entropy.")
    ] = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Train a model with DP-SGD on real data, charging the ledger as it goes."""
    from privaudit.cli.training import train_and_write
    from privaudit.train.runs import RunSettings

    check_positive("--target-epsilon", target_epsilon)
    check_delta(delta)
    # A run journals its steps beside the ledger file (LEDGER.pending/); a URL is refused rather
    # than taken for a file named "postgresql:".
    ledger_path = (
        None
        if ledger is None
        else file_only(ledger, "a run journals its steps beside a ledger file; pass a file")
    )
    run_name = name or f"dpsgd-{data.value}-eps{target_epsilon:g}"
    settings = RunSettings(
        data=data.value,
        data_dir=data_dir,
        target_epsilon=target_epsilon,
        delta=delta,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        clip_norm=clip_norm,
        seed=seed,
        ledger=ledger_path,
        dataset_id=dataset_id,
        run_name=run_name,
        policy=load_policy(policy) if policy is not None else None,
    )
    path = out or Path("runs") / f"{run_name}.json"
    record = train_and_write(settings, path)
    summary = _run_summary(record, delta, path)
    if output_format is SummaryFormat.JSON:
        emit_json(summary)
    else:
        emit(
            f"{record.name}: test accuracy {100 * record.test_accuracy:.2f}% at"
            f" ε = {up_fixed(summary['epsilon'])}, δ = {delta:g} (noise multiplier"
            f" {summary['noise_multiplier']:.4f}, {summary['steps']} steps)"
        )
        if record.stop_reason:
            emit(f"  {record.stop_reason} (the policy's lifetime cap)")
        emit(f"  run record: {summary['record']}")
    raise typer.Exit(EXIT_FAIL if record.stopped_early else EXIT_OK)


def _run_summary(record: RunRecord, delta: float, path: Path) -> dict[str, Any]:
    privacy = record.privacy
    return {
        "run": record.name,
        "test_accuracy": record.test_accuracy,
        "epsilon": privacy.epsilon if privacy else None,
        "delta": delta,
        "noise_multiplier": privacy.noise_multiplier if privacy else None,
        "steps": privacy.steps_done if privacy else None,
        "stopped_early": record.stopped_early,
        "stop_reason": record.stop_reason,
        "record": str(path),
    }


def tradeoff_command(
    data: DataOption = TrainData.DIGITS,
    data_dir: DataDirOption = None,
    epsilons: Annotated[str, typer.Option(help="Comma-separated ε values.")] = "0.5,1,2,4,8",
    delta: Annotated[float, typer.Option(help="δ of every run.")] = 1e-5,
    out: Annotated[Path, typer.Option(help="Folder for runs, JSON and charts.")] = Path(
        "reports/tradeoff"
    ),
    seed: Annotated[int | None, typer.Option(help="Fixed seed (recorded).")] = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Train one model per ε plus a non-private baseline; chart accuracy against ε.

    These runs are exploration: they are not written to any ledger, and spending privacy on the
    same data for each of them is itself a cost a real deployment must account for."""
    from privaudit.cli.training import train_and_write
    from privaudit.train.runs import RunSettings, tradeoff_epsilons

    values = tradeoff_epsilons(epsilons)
    check_delta(delta)
    make_folder(out)
    (out / "runs").mkdir(exist_ok=True)
    rows: list[dict[str, Any]] = []
    for target in [*values, None]:
        label = "baseline" if target is None else f"eps{target:g}"
        settings = RunSettings(
            data=data.value,
            data_dir=data_dir,
            target_epsilon=target,
            delta=delta,
            seed=seed,
            run_name=f"tradeoff-{data.value}-{label}",
        )
        record = train_and_write(settings, out / "runs" / f"{settings.run_name}.json")
        rows.append(
            {
                "target_epsilon": target,
                "epsilon": record.privacy.epsilon if record.privacy else None,
                "test_accuracy": record.test_accuracy,
                "wall_seconds": round(record.wall_seconds, 1),
                "record": f"runs/{settings.run_name}.json",
            }
        )
    baseline = next(r["test_accuracy"] for r in rows if r["target_epsilon"] is None)
    result = {"data": data.value, "delta": delta, "runs": rows, "baseline": baseline}
    _write_tradeoff(result, out)
    if output_format is SummaryFormat.JSON:
        emit_json(result)
        return
    emit(f"{'ε target':>9}  {'ε':>8}  {'accuracy':>8}  {'time':>7}")
    for r in rows:
        wanted = "baseline" if r["target_epsilon"] is None else f"{r['target_epsilon']:g}"
        eps = "-" if r["epsilon"] is None else up_fixed(r["epsilon"])
        emit(f"{wanted:>9}  {eps:>8}  {100 * r['test_accuracy']:7.2f}%  {r['wall_seconds']:6.1f}s")
    emit(f"chart: {out / 'tradeoff.png'}, {out / 'tradeoff.svg'}; data: {out / 'tradeoff.json'}")


def _write_tradeoff(result: dict[str, Any], out: Path) -> None:
    """The chart (PNG and SVG) and the JSON of a trade-off study, into ``out``."""
    from privaudit.report.charts import tradeoff_chart

    private = [r for r in result["runs"] if r["epsilon"] is not None]
    png, svg = tradeoff_chart(
        [float(r["epsilon"]) for r in private],
        [float(r["test_accuracy"]) for r in private],
        baseline=float(result["baseline"]),
        title=f"DP-SGD on {result['data']}: test accuracy against ε (δ = {result['delta']:g})",
    )
    atomic_write(out / "tradeoff.png", png)
    atomic_write(out / "tradeoff.svg", svg.encode("utf-8"))
    atomic_write(out / "tradeoff.json", (json.dumps(result, indent=2) + "\n").encode("utf-8"))
