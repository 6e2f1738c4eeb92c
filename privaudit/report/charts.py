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
from collections.abc import Sequence
from typing import Any, Final

__all__ = ["CHART_DPI", "CHART_SIZE", "epsilon_curve_chart"]

CHART_SIZE: Final = (8.0, 5.0)
"""Figure size in inches; at :data:`CHART_DPI` the PNG is 800 × 500 pixels."""
CHART_DPI: Final = 100

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
        axes.set_xlim(min(xs, default=0.0), max(max(xs, default=1.0), 1e-9))
        axes.set_ylim(0.0, 1.1 * top if top > 0 else 1.0)
        axes.set_title(title)
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        axes.grid(True, color="#dddddd", linewidth=0.8)
        axes.set_axisbelow(True)
        axes.legend(loc="lower right", framealpha=0.95)
        figure.subplots_adjust(left=0.09, right=0.97, top=0.91, bottom=0.11)

        png = io.BytesIO()
        figure.savefig(png, format="png", metadata={"Software": None})
        svg = io.StringIO()
        figure.savefig(svg, format="svg", metadata={"Date": None, "Title": title})
    return png.getvalue(), svg.getvalue()
