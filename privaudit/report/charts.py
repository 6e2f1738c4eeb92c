"""Charts for plans and reports, drawn with matplotlib's Agg (PNG) and SVG canvases.

Charts are plain values: each function returns the PNG bytes and the SVG text and writes
nothing. Output is deterministic for a given matplotlib version: no dates in the metadata, a
fixed SVG id salt, and the same figure size (800 × 500 pixels for the PNG). SVG text stays text
(``svg.fonttype: none``), so labels are searchable and readable by assistive technology.

matplotlib is imported inside the functions, not at module import, and pyplot is never used:
figures are built on an explicit Agg canvas, which neither needs a display nor changes the
backend of a program that embeds privaudit.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "CHART_DPI",
    "CHART_SIZE",
    "epsilon_curve_chart",
    "label_histogram_chart",
    "membership_test_chart",
    "privacy_profile_chart",
    "svg_only",
    "tradeoff_chart",
]

CHART_SIZE: Final = (8.0, 5.0)
"""Figure size in inches; at :data:`CHART_DPI` the PNG is 800 × 500 pixels."""
CHART_DPI: Final = 100

_DRAW_PNG: ContextVar[bool] = ContextVar("privaudit_chart_png", default=True)
_CURVE_COLOUR: Final = "#1f5fa8"
_LIMIT_COLOUR: Final = "#c62828"
_WARN_COLOUR: Final = "#ef6c00"
_STYLE: Final[dict[str, Any]] = {
    "svg.hashsalt": "privaudit",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 11.0,
    "axes.titlesize": 12.0,
    "axes.labelsize": 11.0,
    "legend.fontsize": 10.0,
}


def epsilon_curve_chart(
    steps: Sequence[float],
    epsilons: Sequence[float | None],
    *,
    limit: float | None,
    warn_at: float | None = None,
    title: str,
    x_label: str,
    limit_label: str | None = None,
    curve_label: str = "ε (certified upper bound)",
    y_label: str = "ε",
) -> tuple[bytes, str]:
    """ε over the course of training, with the limit and the warning line.

    ``steps`` are the x positions in whatever unit ``x_label`` names (steps, epochs, rounds,
    ledger entries), ``epsilons`` the ε after each; None or a non-finite ε leaves a gap. ``limit``
    is drawn as a red dashed line labelled ``limit_label`` (default ``limit ε = …``); ``warn_at``
    is a fraction of the limit (as a policy tier's ``warn_at``) drawn as a dotted line.

    Returns ``(png_bytes, svg_text)``.
    """
    if len(steps) != len(epsilons):
        raise ValueError(f"steps and epsilons differ in length: {len(steps)} != {len(epsilons)}")
    if limit is not None and not (math.isfinite(limit) and limit > 0):
        raise ValueError(f"limit must be a finite number > 0; found {limit!r}")
    if warn_at is not None and not (0 < warn_at <= 1):
        raise ValueError(f"warn_at must be in (0, 1]; found {warn_at!r}")

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    xs = [float(x) for x in steps]
    ys = [float(y) if y is not None and math.isfinite(y) else math.nan for y in epsilons]
    finite = [y for y in ys if not math.isnan(y)]
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        figure = Figure(figsize=CHART_SIZE, dpi=CHART_DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.plot(xs, ys, color=_CURVE_COLOUR, linewidth=2.0, label=curve_label, gid="curve")
        top = max([*finite, 0.0])
        if limit is not None:
            axes.axhline(
                limit,
                color=_LIMIT_COLOUR,
                linestyle="--",
                linewidth=1.6,
                label=limit_label or f"limit ε = {limit:g}",
                gid="limit",
            )
            top = max(top, limit)
            if warn_at is not None and warn_at < 1:
                axes.axhline(
                    warn_at * limit,
                    color=_WARN_COLOUR,
                    linestyle=":",
                    linewidth=1.6,
                    label=f"warning at {100 * warn_at:g}% (ε = {warn_at * limit:g})",
                    gid="warning",
                )
        low, high = min(xs, default=0.0), max(xs, default=1.0)
        axes.set_xlim(low, high if high > low else low + 1.0)  # one point still gets an axis
        axes.set_ylim(0.0, 1.1 * top if top > 0 else 1.0)
        return _finish(figure, axes, title, x_label, y_label, "best")


_LEGEND_ROWS: Final = 20
_LEGEND_LABEL_CHARS: Final = 26


def label_histogram_chart(
    counts: npt.ArrayLike,
    class_names: Sequence[str],
    *,
    title: str,
    x_label: str = "client",
    y_label: str = "records",
) -> tuple[bytes, str]:
    """How a federated partition spreads the labels: one stacked bar per client.

    ``counts`` is a ``(clients, classes)`` array of non-negative counts (as
    :func:`privaudit.data.partition.label_histogram` returns), ``class_names`` names its columns.
    Each class keeps one colour on every bar (tab10 up to 10 classes; tab20, tab20b and tab20c
    up to 60; evenly spaced viridis beyond), stacked in class order; the legend, right of the
    plot, lists the classes in the same order. Each bar segment has the SVG id
    ``bar-CLIENT-CLASS``.

    Returns ``(png_bytes, svg_text)``.
    """
    import numpy as np

    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] < 1:
        raise ValueError(f"counts must be a (clients, classes) array; found shape {table.shape}")
    if table.shape[1] != len(class_names):
        raise ValueError(
            f"counts has {table.shape[1]} classes but {len(class_names)} class names were given"
        )
    if not (np.isfinite(table).all() and (table >= 0).all()):
        raise ValueError("counts must be finite and ≥ 0")

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    clients, classes = table.shape
    colours = _class_colours(classes)
    columns = math.ceil(classes / _LEGEND_ROWS)
    xs = np.arange(clients, dtype=np.float64)
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        figure = Figure(figsize=CHART_SIZE, dpi=CHART_DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        bottom = np.zeros(clients, dtype=np.float64)
        for k in range(classes):
            name = str(class_names[k])
            if len(name) > _LEGEND_LABEL_CHARS:
                name = name[: _LEGEND_LABEL_CHARS - 1] + "…"
            bars = axes.bar(
                xs,
                table[:, k],
                width=0.8,
                bottom=bottom,
                color=colours[k],
                linewidth=0.0,
                label=name,
            )
            for client, patch in enumerate(bars.patches):
                patch.set_gid(f"bar-{client}-{k}")
            bottom = bottom + table[:, k]
        top = float(bottom.max())
        axes.set_xlim(-0.6, clients - 0.4)
        axes.set_ylim(0.0, 1.05 * top if top > 0 else 1.0)
        axes.xaxis.set_major_locator(MaxNLocator(nbins=min(clients, 20), integer=True))
        axes.set_title(title)
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        axes.grid(True, axis="y", color="#dddddd", linewidth=0.8)
        axes.set_axisbelow(True)
        small = classes > _LEGEND_ROWS
        axes.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            ncols=columns,
            fontsize=7.0 if small else None,
            frameon=False,
            handlelength=1.0,
            borderaxespad=0.0,
        )
        right = {1: 0.78, 2: 0.58}.get(columns, 0.45)
        figure.subplots_adjust(left=0.09, right=right, top=0.91, bottom=0.11)

        return _save(figure, title)


def _class_colours(classes: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    if classes <= 10:
        return [colormaps["tab10"](k) for k in range(classes)]
    if classes <= 60:
        maps = ("tab20", "tab20b", "tab20c")
        return [colormaps[maps[k // 20]](k % 20) for k in range(classes)]
    return [colormaps["viridis"](k / (classes - 1)) for k in range(classes)]


def tradeoff_chart(
    epsilons: Sequence[float],
    accuracies: Sequence[float],
    *,
    baseline: float | None,
    title: str,
    y_label: str = "test accuracy",
) -> tuple[bytes, str]:
    """Utility against ε (log scale), one marker per trained model, with the non-private
    baseline as a dashed line. Returns ``(png_bytes, svg_text)``."""
    if len(epsilons) != len(accuracies):
        raise ValueError(
            f"epsilons and accuracies differ in length: {len(epsilons)} != {len(accuracies)}"
        )
    if any(not (math.isfinite(e) and e > 0) for e in epsilons):
        raise ValueError("every ε must be a finite number > 0")

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    order = sorted(range(len(epsilons)), key=lambda i: epsilons[i])
    xs = [float(epsilons[i]) for i in order]
    ys = [float(accuracies[i]) for i in order]
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        figure = Figure(figsize=CHART_SIZE, dpi=CHART_DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.plot(
            xs, ys, color=_CURVE_COLOUR, marker="o", linewidth=2.0, label="DP-SGD", gid="tradeoff"
        )
        for x, y in zip(xs, ys, strict=True):
            axes.annotate(
                f"{100 * y:.1f}%",
                (x, y),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=9,
            )
        if baseline is not None:
            axes.axhline(
                baseline,
                color=_LIMIT_COLOUR,
                linestyle="--",
                linewidth=1.6,
                label=f"non-private baseline {100 * baseline:.1f}%",
                gid="baseline",
            )
        axes.set_xscale("log")
        axes.minorticks_off()  # log-scale minor labels would collide with the run's ε labels
        axes.set_xticks(xs)
        axes.set_xticklabels([f"{x:.3g}" for x in xs])
        low = min([*ys, *([baseline] if baseline is not None else [])])
        axes.set_ylim(max(0.0, low - 0.05), 1.0)
        return _finish(figure, axes, title, "ε (certified, at the run's δ)", y_label)


_SERIES_COLOURS: Final = ("#6a8caf", "#8e6aaf", "#af8e6a", "#6aaf8e", "#af6a8e", "#8eaf6a")


def privacy_profile_chart(
    curves: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    limit: tuple[float, float] | None,
    title: str,
) -> tuple[bytes, str]:
    """The privacy profile δ(ε) (log δ) of each ``(label, epsilons, deltas)`` curve; the first
    curve is the cumulative one and is drawn bold. ``limit`` = (ε cap, δ cap) is marked as the
    point the tier allows: a profile passing above and right of it exceeds the cap.
    Returns ``(png_bytes, svg_text)``."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    floor = 1e-12
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        figure = Figure(figsize=CHART_SIZE, dpi=CHART_DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        for index, (label, epsilons, deltas) in enumerate(curves):
            ys = [max(float(d), floor) for d in deltas]
            bold = index == 0
            axes.plot(
                [float(e) for e in epsilons],
                ys,
                color=_CURVE_COLOUR if bold else _SERIES_COLOURS[(index - 1) % 6],
                linewidth=2.4 if bold else 1.3,
                linestyle="-" if bold else "--",
                label=label if index < 7 else None,
                gid=f"profile-{index}",
            )
        if limit is not None:
            eps_cap, delta_cap = limit
            axes.axvline(
                eps_cap,
                color=_LIMIT_COLOUR,
                linestyle="--",
                linewidth=1.4,
                label=f"tier limit ε = {eps_cap:g}",
                gid="limit",
            )
            axes.axhline(
                max(delta_cap, floor),
                color=_WARN_COLOUR,
                linestyle=":",
                linewidth=1.4,
                label=f"tier δ = {delta_cap:g}",
                gid="delta",
            )
        axes.set_yscale("log")
        axes.set_ylim(floor, 1.5)
        axes.minorticks_off()  # decades are enough, and each minor tick is SVG to lay out
        return _finish(figure, axes, title, "ε", "δ(ε) (certified upper bound)", "upper right")


def membership_test_chart(
    false_positive_rates: Sequence[float],
    true_positive_rates: Sequence[float],
    *,
    title: str,
) -> tuple[bytes, str]:
    """The hypothesis-testing view: for each false-positive rate, the highest true-positive rate
    any membership test can reach, on linear axes (left) and log axes (right, where attacks on
    few records show), with random guessing (TPR = FPR) for reference."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    xs = [float(a) for a in false_positive_rates]
    ys = [float(t) for t in true_positive_rates]
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        figure = Figure(figsize=CHART_SIZE, dpi=CHART_DPI)
        FigureCanvasAgg(figure)
        left, right = figure.subplots(1, 2)
        for axes, log in ((left, False), (right, True)):
            pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if not log or x > 0]
            axes.plot(
                [p[0] for p in pairs],
                [p[1] for p in pairs],
                color=_CURVE_COLOUR,
                linewidth=2.2,
                label="best possible attack",
                gid="bound-log" if log else "bound-linear",
            )
            reference = [p[0] for p in pairs]
            axes.plot(
                reference,
                reference,
                color="#777777",
                linestyle=":",
                linewidth=1.3,
                label="random guessing",
                gid="guess-log" if log else "guess-linear",
            )
            axes.grid(True, color="#dddddd", linewidth=0.8)
            axes.set_axisbelow(True)
            axes.set_xlabel("false-positive rate")
            if log:
                axes.set_xscale("log")
                axes.set_yscale("log")
                axes.minorticks_off()
                axes.set_xlim(1e-4, 1.0)
                axes.set_ylim(1e-4, 1.05)
                axes.set_title("log scale: rare errors")
            else:
                axes.set_xlim(0.0, 1.0)
                axes.set_ylim(0.0, 1.02)
                axes.set_ylabel("highest true-positive rate")
                axes.set_title("linear scale")
                axes.legend(loc="lower right", framealpha=0.95)
        figure.suptitle(title)
        figure.subplots_adjust(left=0.09, right=0.97, top=0.86, bottom=0.12, wspace=0.28)
        return _save(figure, title)


def _finish(
    figure: Any, axes: Any, title: str, x_label: str, y_label: str, legend: str = "lower right"
) -> tuple[bytes, str]:
    """The house style for line charts: titles, light grid, legend bottom right; then save."""
    axes.set_title(title)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(True, color="#dddddd", linewidth=0.8)
    axes.set_axisbelow(True)
    axes.legend(loc=legend, framealpha=0.95)
    figure.subplots_adjust(left=0.09, right=0.97, top=0.91, bottom=0.11)
    return _save(figure, title)


@contextmanager
def svg_only() -> Iterator[None]:
    """Inside this block charts skip their PNG (returned as ``b""``): documents that inline SVG
    need no raster copy, and rasterising is half the cost of a chart."""
    token = _DRAW_PNG.set(False)
    try:
        yield
    finally:
        _DRAW_PNG.reset(token)


def _save(figure: Any, title: str) -> tuple[bytes, str]:
    """PNG bytes and SVG text of ``figure``, undated: the same data gives the same files."""
    png = io.BytesIO()
    if _DRAW_PNG.get():
        figure.savefig(png, format="png", metadata={"Software": None})
    svg = io.StringIO()
    figure.savefig(svg, format="svg", metadata={"Date": None, "Title": title})
    return png.getvalue(), svg.getvalue()
