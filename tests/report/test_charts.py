"""Tests of chart rendering (privaudit.report.charts): valid, decodable, deterministic images
with the limit and warning lines drawn and labelled."""

from __future__ import annotations

import io
import math
import subprocess
import sys
from xml.etree import ElementTree as ET

import pytest

from privaudit.report.charts import epsilon_curve_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"
LIMIT_RED = (0xC6, 0x28, 0x28)

STEPS = [float(k) for k in range(61)]
EPSILONS = [0.12 * math.sqrt(k) for k in range(61)]  # ends at ≈ 0.93, under the limit of 1


def draw(**overrides: object) -> tuple[bytes, str]:
    arguments: dict[str, object] = {
        "limit": 1.0,
        "warn_at": 0.8,
        "title": "ε over training",
        "x_label": "epoch",
        "limit_label": "tier medical limit: ε ≤ 1",
    }
    arguments.update(overrides)
    return epsilon_curve_chart(STEPS, EPSILONS, **arguments)  # type: ignore[arg-type]


def svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg.encode("utf-8"))
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def test_png_is_a_decodable_800_by_500_image() -> None:
    png, _ = draw()
    assert png.startswith(PNG_SIGNATURE)
    image = pytest.importorskip("PIL.Image").open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.size == (800, 500)


def test_png_shows_the_red_limit_line_across_the_plot() -> None:
    png, _ = draw()
    image = pytest.importorskip("PIL.Image").open(io.BytesIO(png)).convert("RGB")
    width, height = image.size
    red_rows = {  # left half: the legend, bottom right, repeats the line's style
        y
        for y in range(height)
        for x in range(0, width // 2, 4)
        if all(abs(a - b) <= 40 for a, b in zip(image.getpixel((x, y)), LIMIT_RED, strict=True))
    }
    assert red_rows, "no pixel in the limit line's colour"
    # A horizontal line: red pixels in a narrow band of rows, above the middle (ε = 1 of 1.1).
    assert max(red_rows) - min(red_rows) < 0.02 * height
    assert max(red_rows) < height / 2
    no_limit, _ = draw(limit=None, warn_at=None)
    plain = pytest.importorskip("PIL.Image").open(io.BytesIO(no_limit)).convert("RGB")
    assert not any(
        all(abs(a - b) <= 40 for a, b in zip(plain.getpixel((x, y)), LIMIT_RED, strict=True))
        for y in range(0, height, 2)
        for x in range(0, width, 4)
    )


def test_png_decodes_with_matplotlib_too() -> None:
    from matplotlib import image as mpl_image

    png, _ = draw()
    pixels = mpl_image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (500, 800)


def test_svg_is_xml_with_labelled_lines_and_axes() -> None:
    _, svg = draw()
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    texts = svg_texts(svg)
    assert "tier medical limit: ε ≤ 1" in texts
    assert any(text.startswith("warning at 80%") for text in texts)
    assert {"epoch", "ε", "ε over training"} <= set(texts)
    ids = {node.get("id") for node in root.iter()}
    assert {"limit", "warning", "curve"} <= ids


def test_default_limit_label_and_no_warning_line() -> None:
    _, svg = draw(limit=2.5, warn_at=None, limit_label=None)
    texts = svg_texts(svg)
    assert "limit ε = 2.5" in texts
    assert not any(text.startswith("warning") for text in texts)


def test_output_is_deterministic_and_undated() -> None:
    first = draw()
    second = draw()
    assert first == second
    assert "<dc:date>" not in first[1]
    assert b"Software" not in first[0][:400]


def test_gaps_for_unbounded_values() -> None:
    steps = [0.0, 1.0, 2.0, 3.0]
    png, svg = epsilon_curve_chart(
        steps, [0.0, 0.5, None, math.inf], limit=1.0, title="t", x_label="round"
    )
    assert png.startswith(PNG_SIGNATURE) and "round" in svg_texts(svg)


@pytest.mark.parametrize(
    ("steps", "epsilons", "limit", "warn_at"),
    [([1.0], [0.1, 0.2], 1.0, None), ([1.0], [0.1], -1.0, None), ([1.0], [0.1], 1.0, 1.5)],
)
def test_bad_arguments_are_refused(
    steps: list[float], epsilons: list[float], limit: float, warn_at: float | None
) -> None:
    with pytest.raises(ValueError):
        epsilon_curve_chart(steps, epsilons, limit=limit, warn_at=warn_at, title="t", x_label="x")


def test_matplotlib_is_imported_only_to_draw() -> None:
    code = (
        "import sys, privaudit, privaudit.cli, privaudit.report, privaudit.report.charts\n"
        "assert 'matplotlib' not in sys.modules, 'imported too early'\n"
        "from privaudit.report.charts import epsilon_curve_chart\n"
        "epsilon_curve_chart([0, 1], [0, 1], limit=2, title='t', x_label='x')\n"
        "assert 'matplotlib' in sys.modules\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot is not needed'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr


def test_profile_chart_draws_each_curve_on_a_log_delta_axis() -> None:
    from privaudit.report.charts import privacy_profile_chart

    grid = [0.1 * k for k in range(40)]
    curves = [
        ("all releases", grid, [math.exp(-e) for e in grid]),
        ("run a", grid, [math.exp(-2 * e) for e in grid]),
    ]
    _, svg = privacy_profile_chart(curves, limit=(3.0, 1e-5), title="profile")
    root = ET.fromstring(svg.encode("utf-8"))
    gids = {node.get("id") for node in root.iter(f"{SVG}g")}
    assert {"profile-0", "profile-1", "limit", "delta"} <= gids
    texts = svg_texts(svg)
    assert "tier limit ε = 3" in texts and "tier δ = 1e-05" in texts
    ticks = ["".join(t.split()) for t in texts]
    assert "10−6" in ticks  # log-scale tick label 10^−6 (mathtext: base and exponent)


def test_membership_chart_has_linear_and_log_panels_with_random_guessing() -> None:
    from privaudit.report.charts import membership_test_chart

    alphas = [0.0, 1e-4, 1e-3, 0.01, 0.1, 0.5, 1.0]
    tprs = [min(1.0, 3 * a + 0.001) for a in alphas]
    _, svg = membership_test_chart(alphas, tprs, title="attack")
    root = ET.fromstring(svg.encode("utf-8"))
    gids = {node.get("id") for node in root.iter(f"{SVG}g")}
    assert {"bound-linear", "bound-log", "guess-linear", "guess-log"} <= gids
    texts = svg_texts(svg)
    assert "linear scale" in texts and "log scale: rare errors" in texts


def test_svg_only_skips_the_png_and_keeps_the_svg() -> None:
    from privaudit.report.charts import svg_only

    _, full_svg = draw()
    with svg_only():
        png, svg = draw()
    assert png == b"" and svg == full_svg
    assert draw()[0].startswith(PNG_SIGNATURE)  # only inside the block


def test_a_single_point_still_gets_a_chart() -> None:
    png, svg = epsilon_curve_chart([5.0], [0.3], limit=1.0, title="one", x_label="entries")
    assert png.startswith(PNG_SIGNATURE) and "one" in svg_texts(svg)
