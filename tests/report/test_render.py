"""The rendered documents: the PDF is PDF/A-3 with the evidence attached once each, the HTML is
self-contained, and both show the assessment's numbers (rounded up, never down)."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privaudit.report.model import Report, build_report
from privaudit.report.render import (
    evidence_for,
    format_delta,
    format_epsilon,
    format_percent,
    render_html,
    write_report,
)
from tests.report.conftest import needs_weasyprint, write_inputs

pypdf = pytest.importorskip("pypdf", reason="pypdf is a dev dependency: pip install -e '.[dev]'")
pytestmark = needs_weasyprint


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path, Path, Path]:
    """One report rendered to both formats, shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("report")
    ledger, policy, runs = write_inputs(folder)
    report = build_report(ledger, policy, runs=[runs])
    write_report(report, folder / "out")
    return report, ledger, policy, folder / "out"


# --- PDF ---------------------------------------------------------------------------------------


def test_attached_ledger_and_policy_are_byte_identical(rendered) -> None:  # type: ignore[no-untyped-def]
    _, ledger, policy, out = rendered
    attachments = pypdf.PdfReader(out / "report.pdf").attachments
    assert attachments["ledger.jsonl"] == [ledger.read_bytes()]
    assert attachments["policy.yaml"] == [policy.read_bytes()]


def test_attached_assessment_is_the_reports_assessment(rendered) -> None:  # type: ignore[no-untyped-def]
    report, _, _, out = rendered
    attachments = pypdf.PdfReader(out / "report.pdf").attachments
    attached = json.loads(attachments["assessment.json"][0])
    assert [d["epsilon"] for d in attached["datasets"]] == [
        d.epsilon for d in report.assessment.datasets
    ]


def test_each_attachment_is_an_associated_file_once(rendered) -> None:  # type: ignore[no-untyped-def]
    _, _, _, out = rendered
    catalog = pypdf.PdfReader(out / "report.pdf").trailer["/Root"]
    specs = [ref.get_object() for ref in catalog["/AF"]]
    names = [str(spec["/UF"]) for spec in specs]
    assert sorted(names) == sorted(
        ["ledger.jsonl", "policy.yaml", "assessment.json", "report-data.json"]
    )
    assert len({ref.idnum for ref in catalog["/AF"]}) == len(catalog["/AF"])
    tree = catalog["/Names"]["/EmbeddedFiles"].get_object()["/Names"]
    assert sorted(str(n) for n in tree[0::2]) == sorted(names)


def test_attachments_declare_relationship_data_and_their_mime_type(rendered) -> None:  # type: ignore[no-untyped-def]
    _, _, _, out = rendered
    catalog = pypdf.PdfReader(out / "report.pdf").trailer["/Root"]
    expected = {
        "ledger.jsonl": "/application/x-ndjson",
        "policy.yaml": "/application/yaml",
        "assessment.json": "/application/json",
        "report-data.json": "/application/json",
    }
    for ref in catalog["/AF"]:
        spec = ref.get_object()
        assert spec["/AFRelationship"] == "/Data"
        stream = spec["/EF"]["/F"].get_object()
        assert stream["/Subtype"] == expected[str(spec["/UF"])]


def test_xmp_claims_pdf_a_3(rendered) -> None:  # type: ignore[no-untyped-def]
    _, _, _, out = rendered
    reader = pypdf.PdfReader(out / "report.pdf")
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    assert re.search(r'pdfaid:part="3"|<pdfaid:part>3</pdfaid:part>', xmp)
    assert re.search(r'pdfaid:conformance="B"|<pdfaid:conformance>B</pdfaid:conformance>', xmp)


def test_pdf_has_title_language_tags_and_output_intent(rendered) -> None:  # type: ignore[no-untyped-def]
    report, _, _, out = rendered
    reader = pypdf.PdfReader(out / "report.pdf")
    catalog = reader.trailer["/Root"]
    assert catalog["/Lang"] == "en"
    assert "/StructTreeRoot" in catalog
    assert catalog["/MarkInfo"]["/Marked"]
    assert "/OutputIntents" in catalog
    xmp = catalog["/Metadata"].get_object().get_data().decode("utf-8")
    assert report.title in xmp


def test_pdf_text_holds_the_verdict_numbers(rendered) -> None:  # type: ignore[no-untyped-def]
    report, _, _, out = rendered
    reader = pypdf.PdfReader(out / "report.pdf")
    text = " ".join(page.extract_text() for page in reader.pages)
    for dataset in report.assessment.datasets:
        assert format_epsilon(dataset.epsilon) in text
        assert format_percent(dataset.used_fraction) in text
    assert report.review_id in text
    assert re.search(r"Page 1 of \d+", text)


# --- HTML --------------------------------------------------------------------------------------


class _References(HTMLParser):
    """Every attribute that can make a browser fetch something, and every <data> element."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.data: dict[str, str] = {}
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href", "xlink:href", "srcset", "poster", "data", "action"):
            if values.get(name) is not None:
                self.references.append(str(values[name]))
        if tag == "link":
            self.references.append(f"<link {values}>")
        if tag == "script" and values.get("type") != "application/json":
            self.references.append("<script> that is not JSON data")
        if tag == "data" and values.get("data-key"):
            self.data[str(values["data-key"])] = str(values.get("value"))
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False


def _parse(out: Path) -> _References:
    parser = _References()
    parser.feed((out / "report.html").read_text(encoding="utf-8"))
    return parser


def test_html_makes_no_external_reference(rendered) -> None:  # type: ignore[no-untyped-def]
    _, _, _, out = rendered
    parser = _parse(out)
    external = [r for r in parser.references if not r.startswith(("#", "data:"))]
    assert external == []
    assert not any(re.search(r"@import|url\((?!#)", css) for css in parser.styles)


def test_html_numbers_equal_the_assessment(rendered) -> None:  # type: ignore[no-untyped-def]
    report, _, _, out = rendered
    data = _parse(out).data
    for index, dataset in enumerate(report.assessment.datasets):
        assert float(data[f"datasets.{index}.epsilon"]) == dataset.epsilon
        assert float(data[f"datasets.{index}.delta"]) == dataset.delta
        assert float(data[f"datasets.{index}.limit_epsilon"]) == dataset.limit_epsilon
        assert float(data[f"datasets.{index}.used_fraction"]) == dataset.used_fraction


def test_html_embeds_the_assessment_json(rendered) -> None:  # type: ignore[no-untyped-def]
    report, _, _, out = rendered
    html = (out / "report.html").read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="assessment">(.*?)</script>', html, re.S)
    assert match is not None
    assert json.loads(match.group(1))["status"] == report.assessment.status.value


def test_inline_charts_have_unique_ids(rendered) -> None:  # type: ignore[no-untyped-def]
    _, _, _, out = rendered
    html = (out / "report.html").read_text(encoding="utf-8")
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    assert html.count("<svg") >= 4


def test_html_and_pdf_come_from_the_same_numbers(rendered) -> None:  # type: ignore[no-untyped-def]
    report, _, _, out = rendered
    html = (out / "report.html").read_text(encoding="utf-8")
    attached = json.loads(pypdf.PdfReader(out / "report.pdf").attachments["report-data.json"][0])
    assert attached["review_id"] == report.review_id
    for section in attached["datasets"]:
        shown = format_epsilon(section["assessment"]["epsilon"])
        assert shown in html


def test_untrusted_text_in_the_ledger_is_escaped(tmp_path: Path) -> None:
    from privaudit.ledger import append_entry

    ledger, policy, _ = write_inputs(tmp_path)
    append_entry(
        ledger,
        dataset="digits",
        mechanism={"type": "gaussian", "noise_multiplier": 50.0},
        run="<script>alert(1)</script>",
    )
    report = build_report(ledger, policy)
    html = render_html(report, evidence_for(report))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_failed_render_leaves_the_folder_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import privaudit.report.render as render

    ledger, policy, _ = write_inputs(tmp_path)
    report = build_report(ledger, policy)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("earlier report", encoding="utf-8")

    def broken(*_args: object, **_kwargs: object) -> bytes:
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(render, "render_pdf", broken)
    with pytest.raises(RuntimeError):
        write_report(report, out)
    assert (out / "report.html").read_text(encoding="utf-8") == "earlier report"


# --- rounding ----------------------------------------------------------------------------------


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_displayed_epsilon_is_never_below_the_bound(value: float) -> None:
    assert float(format_epsilon(value)) >= value


@given(st.floats(min_value=1e-300, max_value=1.0, allow_nan=False))
def test_displayed_delta_is_never_below_the_bound(value: float) -> None:
    assert float(format_delta(value)) >= value


@given(st.floats(min_value=0, max_value=100, allow_nan=False))
def test_displayed_fraction_is_never_below_the_value(value: float) -> None:
    assert float(format_percent(value).rstrip("%")) >= 100 * value * (1 - 1e-12)


def test_unbounded_epsilon_is_shown_as_unbounded() -> None:
    assert format_epsilon(math.inf).startswith("∞")


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        (format_delta(1e-5), "1e-05"),
        (format_delta(1.2341e-7), "1.24e-07"),
        (format_percent(0.05), "5.0%"),
        (format_percent(0.8), "80.0%"),
        (format_epsilon(2.5), "2.5000"),
        (format_epsilon(2.37041), "2.3705"),
    ],
)
def test_values_that_are_already_short_show_as_given_and_others_round_up(
    shown: str, expected: str
) -> None:
    assert shown == expected
