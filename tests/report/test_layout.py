"""The example reports, rendered afresh: pages are filled (no forced break leaves a page nearly
blank), no word is split across lines, the limitations and duties sections are in the PDF, and
what PDF/A-3b claims can be checked without a Java validator holds.

Everything is read from the PDF itself (its text layer, its objects), as a reader or an archive
would: the text layer gives where each run of text sits on its page and in which font."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from privaudit.report.model import build_report
from privaudit.report.render import draw_charts, evidence_for, render_html, render_pdf
from tests.report.conftest import needs_weasyprint

pypdf = pytest.importorskip("pypdf", reason="pypdf is a dev dependency: pip install -e '.[dev]'")
pytestmark = needs_weasyprint

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    folder
    for folder in (ROOT / "reports" / "examples").iterdir()
    if (folder / "ledger.jsonl").is_file()
)
MM = 72 / 25.4
TOP_MARGIN, BOTTOM_MARGIN = 20 * MM, 22 * MM
"""The page margins of report.css (@page): running headers and footers sit outside them."""
MIN_FILL = 0.30
WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Run:
    """One run of text as the PDF shows it: page, baseline height, font, text."""

    page: int
    y: float
    font: str
    text: str


@dataclass(frozen=True)
class Rendered:
    pdf: Path
    html: str
    runs: tuple[Run, ...]
    pages: int


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda folder: folder.name)
def example(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    folder: Path = request.param
    report = build_report(
        folder / "ledger.jsonl",
        folder / "policy.yaml",
        runs=[folder / "runs"],
        generated_at="2026-12-01T00:00:00Z",
    )
    evidence = evidence_for(report)
    charts = draw_charts(report)
    document = render_html(report, evidence, pdf=True, charts=charts)
    pdf = tmp_path_factory.mktemp(folder.name) / "report.pdf"
    pdf.write_bytes(render_pdf(report, evidence, charts=charts))
    reader = pypdf.PdfReader(pdf)
    return Rendered(pdf, document, tuple(_runs(reader)), len(reader.pages))


def _runs(reader: Any) -> list[Run]:
    runs: list[Run] = []
    for number, page in enumerate(reader.pages, 1):

        def visit(text: str, cm: Any, tm: Any, font: Any, _size: Any, number: int = number) -> None:
            if text.strip():
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                name = str(font.get("/BaseFont", "")) if font else ""
                runs.append(Run(number, y, name, text))

        page.extract_text(visitor_text=visit)
    return runs


def page_fill(example: Rendered, page: int, height: float) -> float:
    """How far down the text of ``page`` reaches, as a fraction of the page's text area."""
    top, bottom = height - TOP_MARGIN, BOTTOM_MARGIN
    heights = [run.y for run in example.runs if run.page == page and bottom - 2 <= run.y <= top + 2]
    return 0.0 if not heights else (top - min(heights)) / (top - bottom)


def test_no_page_but_the_last_is_under_a_third_full(example: Rendered) -> None:
    height = float(pypdf.PdfReader(example.pdf).pages[0].mediabox.height)
    fills = {page: page_fill(example, page, height) for page in range(1, example.pages)}
    assert {page: round(f, 2) for page, f in fills.items() if f < MIN_FILL} == {}


def test_no_word_is_split_across_lines(example: Rendered) -> None:
    # A word broken inside a table cell (or anywhere) shows in the text layer as fragments that
    # are no word of the document. Hashes and paths (monospace) may break anywhere; the page
    # footer ("Page 3 of 12") comes from the stylesheet.
    text = html.unescape(re.sub(r"<style.*?</style>|<[^>]+>", " ", example.html, flags=re.S))
    words = set(WORD.findall(text)) | {"Page", "of"}
    fragments = [
        (run.page, run.text, word)
        for run in example.runs
        if "Mono" not in run.font
        for word in WORD.findall(run.text)
        if word not in words
    ]
    assert fragments == []


def test_limitations_and_duties_are_in_the_pdf(example: Rendered) -> None:
    text = " ".join(run.text for run in example.runs)
    assert "3. Limitations: what the guarantee does not say" in text
    assert "Group privacy" in text
    assert "15. Assessment duties" in text
    assert "Art. 35(7)(a)" in text and "Annex IV 1(a)" in text


# --- what PDF/A-3b and PDF/UA claim, checked without a Java validator -----------------------------


def test_xmp_names_pdf_a_part_3_conformance_b(example: Rendered) -> None:
    catalog = pypdf.PdfReader(example.pdf).trailer["/Root"]
    xmp = catalog["/Metadata"].get_object().get_data().decode("utf-8")
    assert re.search(r'pdfaid:part="3"|<pdfaid:part>3</pdfaid:part>', xmp)
    assert re.search(r'pdfaid:conformance="B"|<pdfaid:conformance>B</pdfaid:conformance>', xmp)


def test_every_font_is_embedded(example: Rendered) -> None:
    reader = pypdf.PdfReader(example.pdf)
    fonts = {}
    for page in reader.pages:
        for name, ref in page["/Resources"].get("/Font", {}).items():
            font = ref.get_object()
            for member in [font, *(d.get_object() for d in font.get("/DescendantFonts", []))]:
                descriptor = member.get("/FontDescriptor")
                if descriptor is not None:
                    fonts[str(member.get("/BaseFont", name))] = descriptor.get_object()
    assert fonts
    missing = [
        name
        for name, descriptor in fonts.items()
        if not {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor)
    ]
    assert missing == []


def test_the_pdf_is_not_encrypted(example: Rendered) -> None:
    reader = pypdf.PdfReader(example.pdf)
    assert not reader.is_encrypted
    assert "/Encrypt" not in reader.trailer


def test_every_attachment_is_an_associated_file_with_a_relationship(example: Rendered) -> None:
    catalog = pypdf.PdfReader(example.pdf).trailer["/Root"]
    tree = catalog["/Names"]["/EmbeddedFiles"].get_object()["/Names"]
    embedded = {str(name) for name in tree[0::2]}
    associated = {}
    for ref in catalog["/AF"]:
        spec = ref.get_object()
        associated[str(spec["/UF"])] = str(spec["/AFRelationship"])
    assert set(associated) == embedded
    assert set(associated.values()) == {"/Data"}


def test_language_title_and_structure_tree_are_declared(example: Rendered) -> None:
    reader = pypdf.PdfReader(example.pdf)
    catalog = reader.trailer["/Root"]
    assert catalog["/Lang"] == "en"
    assert reader.metadata is not None and reader.metadata.title
    xmp = catalog["/Metadata"].get_object().get_data().decode("utf-8")
    assert html.escape(reader.metadata.title, quote=False) in xmp
    tree = catalog["/StructTreeRoot"].get_object()
    assert tree.get("/K") is not None
    assert catalog["/MarkInfo"]["/Marked"]
