"""Report → ``report.html`` (self-contained) and ``report.pdf`` (PDF/A-3 with the evidence).

Both documents come from one Jinja2 template filled from one :class:`Report`; the PDF is
WeasyPrint's rendering of the same HTML in print media. Charts are inline SVG (ids prefixed per
chart so several can live in one document). Displayed ε, δ and rates are rounded *up*, so a
rounded figure never understates privacy loss; exact values sit in ``<data value=…>`` elements
of the HTML and in the attached JSON.

PDF/A-3 (ISO 19005-3) allows arbitrary embedded files, provided each is an *associated file*
(listed in the catalogue's ``/AF``, with an ``/AFRelationship``) and carries its MIME type.
WeasyPrint lists each attachment twice in ``/AF`` (once from the EmbeddedFiles name tree, once
from the file-spec scan) and guesses the MIME type from the file name (``.jsonl`` becomes
``application/octet-stream``); the finisher below fixes both before the file is written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

from privaudit.files import atomic_write
from privaudit.gate import to_json_data
from privaudit.report.model import Report
from privaudit.rounding import down_fixed, given

__all__ = [
    "TRUST_MODELS",
    "Evidence",
    "draw_charts",
    "evidence_for",
    "render_html",
    "render_pdf",
    "write_folder_report",
    "write_report",
]

RELATION_TEXT: Final = {
    "add_or_remove_one": (
        "add or remove one unit: neighbouring datasets differ by one unit's presence"
    ),
    "replace_one": (
        "replace one unit: neighbouring datasets differ in one unit's data (needed for"
        " fixed-size batches or randomized response; the noise multiplier is halved in the"
        " accounting since the sensitivity doubles)"
    ),
}

TRUST_MODELS: Final[dict[str, dict[str, Any]]] = {
    "central": {
        "title": "Central differential privacy",
        "summary": (
            "One trusted curator (the training server) holds the raw records, clips each"
            " record's contribution and adds the noise; only the noisy outputs (model"
            " checkpoints, final model) leave it. The guarantee holds against everyone who sees"
            " the outputs, not against the curator."
        ),
        "parties": [
            ("Data holder / training server", "all raw records, clipped gradients, the noise"),
            ("Model users, the public", "the released model(s) only: protected by (ε, δ)"),
        ],
    },
    "silo_local": {
        "title": "Federated across silos, local noise per silo",
        "summary": (
            "Each silo (ledger partition) trains on its own records with DP-SGD and adds its own"
            " noise before anything leaves it. Silos hold disjoint records, so the dataset's ε"
            " is the largest silo's (parallel composition). The guarantee holds against the"
            " server and the other silos too."
        ),
        "parties": [
            ("Each silo", "its own raw records only"),
            ("Server", "each silo's noisy model updates: protected by (ε, δ)"),
            ("Model users, the public", "the aggregated model: protected by (ε, δ)"),
        ],
    },
    "federated_client": {
        "title": "Federated learning with client-level DP (DP-FedAvg)",
        "summary": (
            "The server samples clients each round; each client clips its model update; the"
            " server adds Gaussian noise to the sum (McMahan et al. 2018). The privacy unit is"
            " the client. The server is trusted to add the noise: it sees clipped updates in"
            " the clear unless secure aggregation is also used."
        ),
        "parties": [
            ("Each client", "its own data only"),
            ("Server", "clipped updates of sampled clients, then the noisy sum"),
            ("Model users, the public", "the model after each round: protected by (ε, δ)"),
        ],
    },
    "distributed": {
        "title": "Distributed noise over secure aggregation",
        "summary": (
            "Each participant clips its contribution and adds a share of the Gaussian noise;"
            " the shares meet only inside secure aggregation (Bonawitz et al. 2017), so the"
            " server learns nothing but the noisy sum, which is distributed exactly as in"
            " central DP. When participants drop out, fewer noise shares survive: every round"
            " is recorded with its actual number of survivors, so ε is never understated. The"
            " guarantee against the server assumes at most the protocol's threshold of"
            " participants collude with it."
        ),
        "parties": [
            ("Each participant", "its own raw records only"),
            ("Server / aggregator", "masked inputs (uniformly random to it) and the noisy sum"),
            ("Model users, the public", "the model: protected by (ε, δ)"),
        ],
    },
}

_MIME: Final = {
    ".jsonl": "application/x-ndjson",
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
}


@dataclass(frozen=True)
class Evidence:
    """A file embedded in the report: the ledger, the policy, the assessment, the model."""

    name: str
    data: bytes
    mime: str
    description: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def evidence_for(report: Report, sources: tuple[Path, Path] | None = None) -> list[Evidence]:
    """The ledger and policy as they are on disk (byte for byte), the assessment as ``privaudit
    check --format json`` prints it, and the report model behind every chart and table.
    ``sources`` are the files to read when they are not (yet) at the report's paths."""
    ledger = Path(report.ledger_path)
    policy = Path(report.policy_path)
    ledger_file, policy_file = sources or (ledger, policy)
    assessment = json.dumps(to_json_data(report.assessment), indent=2, allow_nan=False) + "\n"
    model = report.model_dump_json(indent=2) + "\n"
    return [
        Evidence(
            _unique(ledger.name, "ledger.jsonl"),
            ledger_file.read_bytes(),
            _MIME.get(ledger.suffix.lower(), "application/x-ndjson"),
            "The privacy ledger (hash-chained JSON Lines), byte-identical to the input.",
        ),
        Evidence(
            _unique(policy.name, "policy.yaml"),
            policy_file.read_bytes(),
            _MIME.get(policy.suffix.lower(), "text/plain"),
            "The privacy policy, byte-identical to the input.",
        ),
        Evidence(
            "assessment.json",
            assessment.encode("utf-8"),
            "application/json",
            "The assessment (privaudit check --format json).",
        ),
        Evidence(
            "report-data.json",
            model.encode("utf-8"),
            "application/json",
            "Every number, curve and table of this report.",
        ),
    ]


def _unique(name: str, fallback: str) -> str:
    return name if name not in {"assessment.json", "report-data.json"} else fallback


def render_html(
    report: Report,
    evidence: Sequence[Evidence],
    *,
    pdf: bool = False,
    charts: dict[str, str] | None = None,
) -> str:
    """The report as one HTML document; ``pdf`` selects the print variant (attachments instead
    of download links). ``charts`` are :func:`draw_charts`'s, drawn here if not given."""
    from jinja2 import Environment, StrictUndefined
    from markupsafe import Markup

    environment = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=False)
    environment.filters["brk"] = breakable
    template_text = (
        files("privaudit.report").joinpath("templates/report.html.j2").read_text(encoding="utf-8")
    )
    css = files("privaudit.report").joinpath("templates/report.css").read_text(encoding="utf-8")
    template = environment.from_string(template_text)
    assessment_json = json.dumps(to_json_data(report.assessment), allow_nan=False)
    # JSON inside <script> is raw text: escaping <, > and & keeps it from closing the element.
    safe_json = (
        assessment_json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )

    def num(value: float | None, key: str, index: int) -> Markup:
        shown = {
            "epsilon": format_epsilon,
            "limit_epsilon": format_limit,
            "delta": format_delta,
            "used_fraction": format_percent,
        }[key](value)
        raw = "null" if value is None or not math.isfinite(value) else repr(float(value))
        return Markup('<data data-key="datasets.{}.{}" value="{}">{}</data>').format(
            index, key, raw, shown
        )

    if charts is None:
        charts = draw_charts(report)
    return template.render(
        report=report,
        css=Markup(css),
        charts=charts,
        budget_charts=any(name.startswith(("budget-", "run-")) for name in charts),
        evidence=evidence,
        trust=TRUST_MODELS,
        relation_text=RELATION_TEXT,
        sections=SECTIONS,
        declared_by={d.field: d for d in report.declared},
        pdf=pdf,
        assessment_json=Markup(safe_json),
        num=num,
        eps=format_epsilon,
        lim=format_limit,
        dlt=format_delta,
        pct=format_percent,
        lower=down_fixed,
    )


SECTIONS: Final = (
    ("s1", "Identification and sign-off"),
    ("s2", "Verdict per dataset"),
    ("s3", "Limitations: what the guarantee does not say"),
    ("s4", "What was released, and when budgets reset"),
    ("s5", "Privacy unit and neighbouring relation"),
    ("s6", "The guarantee"),
    ("s7", "Budget use over training"),
    ("s8", "Accounting method"),
    ("s9", "Trust model: who sees what"),
    ("s10", "Implementation"),
    ("s11", "Utility"),
    ("s12", "Empirical audit"),
    ("s13", "What it means in plain words"),
    ("s14", "Tier rating and justification"),
    ("s15", "Assessment duties: DPIA, AI Act, NIST SP 800-226"),
    ("s16", "Reproduction; appendix: the ledger"),
)


def render_pdf(
    report: Report, evidence: Sequence[Evidence], *, charts: dict[str, str] | None = None
) -> bytes:
    """PDF/A-3b, tagged, with the evidence as associated files (relationship ``Data``)."""
    from weasyprint import HTML, Attachment

    html = render_html(report, evidence, pdf=True, charts=charts)
    stamp = _parse_time(report.generated_at)
    attachments = [
        Attachment(
            string=e.data,
            name=e.name,
            description=e.description,
            created=stamp,
            modified=stamp,
            relationship="Data",
        )
        for e in evidence
    ]
    mime_of = {e.name: e.mime for e in evidence}
    # WeasyPrint warns about every SVG presentation property its CSS parser does not know
    # (matplotlib writes them as style attributes, and they are drawn all the same); its errors
    # still show.
    logger = logging.getLogger("weasyprint")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        data: bytes = HTML(string=html).write_pdf(
            pdf_variant="pdf/a-3b",
            pdf_tags=True,
            attachments=attachments,
            finisher=_associated_files_finisher(mime_of),
            uncompressed_pdf=False,
        )
    finally:
        logger.setLevel(level)
    return data


def _associated_files_finisher(mime_of: dict[str, str]) -> Callable[[Any, Any], None]:
    def finish(_document: Any, pdf: Any) -> None:
        catalog = pdf.catalog
        if "AF" in catalog:
            unique = list(dict.fromkeys(catalog["AF"]))
            catalog["AF"][:] = unique
        for pdf_object in pdf.objects:
            if not isinstance(pdf_object, dict) or pdf_object.get("Type") != "/Filespec":
                continue
            name = _pdf_string(pdf_object.get("UF"))
            mime = mime_of.get(name)
            if mime is None:
                continue
            stream = pdf.objects[int(pdf_object["EF"]["F"].split()[0])]
            stream.extra["Subtype"] = "/" + mime.replace("/", "#2f")

    return finish


def _pdf_string(value: Any) -> str:
    text = getattr(value, "string", value)
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def write_report(
    report: Report,
    out: Path,
    formats: Sequence[str] = ("html", "pdf"),
    *,
    progress: Callable[[str], None] | None = None,
    sources: tuple[Path, Path] | None = None,
) -> list[Path]:
    """Render and write each format into ``out``: every document is rendered first and only
    then written (each atomically), so a failure leaves the folder as it was."""
    say = progress or (lambda _line: None)
    evidence = evidence_for(report, sources)
    say("drawing the charts")
    charts = draw_charts(report)
    rendered: list[tuple[Path, bytes]] = []
    if "html" in formats:
        say("rendering report.html")
        html = render_html(report, evidence, charts=charts)
        rendered.append((out / "report.html", html.encode("utf-8")))
    if "pdf" in formats:
        say("rendering report.pdf (PDF/A-3 with the ledger, policy and assessment attached)")
        rendered.append((out / "report.pdf", render_pdf(report, evidence, charts=charts)))
    out.mkdir(parents=True, exist_ok=True)
    for path, data in rendered:
        atomic_write(path, data)
    return [path for path, _ in rendered]


def write_folder_report(
    scratch: Path,
    out: Path,
    formats: Sequence[str],
    *,
    title: str,
    generated_at: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """The report of a results folder being built in ``scratch`` (``ledger.jsonl``,
    ``policy.yaml``, ``runs/``) that will be moved to ``out``: written into ``scratch``, naming
    the files where the user will find them, under ``out``."""
    from privaudit.report.model import build_report

    ledger, policy = scratch / "ledger.jsonl", scratch / "policy.yaml"
    report = build_report(
        ledger,
        policy,
        runs=[scratch / "runs"],
        generated_at=generated_at,
        title=title,
        progress=progress,
    )
    return write_report(
        report.relocated(scratch, out),
        scratch,
        formats,
        progress=progress,
        sources=(ledger, policy),
    )


_BREAK_AFTER = re.compile(r"([_=/,;(])(?=\S)|(?<=\d)(T)(?=\d)")


def breakable(value: object) -> Any:
    """``value`` escaped, with a ``<wbr>`` (an optional line break, no character) after each
    ``_ = / , ; (`` and the ``T`` of a timestamp: identifiers, release descriptions and times
    then wrap in a narrow table column at those points instead of inside a word or past the
    page edge."""
    from markupsafe import Markup, escape

    text = str(escape("" if value is None else value))
    return Markup(_BREAK_AFTER.sub(lambda m: (m.group(1) or m.group(2)) + "<wbr>", text))


# --- numbers ----------------------------------------------------------------------------------


def format_epsilon(value: float | None) -> str:
    """Four decimals, rounded up (a displayed ε is never below the bound)."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "∞ (unbounded)"
    return str(_ceil(_decimal(value), Decimal("0.0001")))


def format_limit(value: float | None) -> str:
    """A policy limit as written (not rounded: rounding it up would make a limit look larger
    than the ε just above it, and down would make a passing ε look over it)."""
    return "n/a" if value is None else given(value)


def format_delta(value: float | None) -> str:
    """Three significant digits, rounded up."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    if math.isinf(value):
        return "∞"
    exact = _decimal(value)
    quantum = Decimal(1).scaleb(exact.adjusted() - 2)
    return f"{float(_ceil(exact, quantum)):.3g}"


def format_percent(value: float | None) -> str:
    """A fraction as a percentage with one decimal, rounded up."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "∞"
    return f"{_ceil(_decimal(value) * 100, Decimal('0.1'))}%"


def _decimal(value: float) -> Decimal:
    # The shortest decimal that reads back as the same float (1e-05, not the binary expansion
    # 1.0000000000000000818e-05): rounding it up gives a figure whose float is ≥ the value.
    return Decimal(repr(float(value)))


def _ceil(value: Decimal, quantum: Decimal) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_CEILING)


# --- charts -----------------------------------------------------------------------------------


def draw_charts(report: Report) -> dict[str, str]:
    """Every chart of the report as inline SVG, by name; drawn once per report."""
    from privaudit.report.charts import svg_only

    with svg_only():
        return _draw_charts(report)


def _draw_charts(report: Report) -> dict[str, str]:
    from privaudit.report.charts import (
        epsilon_curve_chart,
        membership_test_chart,
        privacy_profile_chart,
        tradeoff_chart,
    )

    charts: dict[str, str] = {}
    for index, section in enumerate(report.datasets):
        a = section.assessment
        limit = (
            (a.limit_epsilon, a.limit_delta)
            if a.limit_epsilon is not None and a.limit_delta is not None
            else None
        )
        if section.profile is not None:
            curves = [(section.profile.label, section.profile.x, section.profile.y)]
            curves += [(c.label, c.x, c.y) for c in section.run_profiles[:6]]
            _, svg = privacy_profile_chart(
                curves, limit=limit, title=f"Privacy profile of {a.dataset}"
            )
            charts[f"profile-{index}"] = svg
        if section.budget is not None:
            _, svg = epsilon_curve_chart(
                section.budget.x,
                section.budget.y,
                limit=a.limit_epsilon,
                warn_at=a.warn_at,
                title=f"Budget use of {a.dataset} (δ = {a.delta:g})",
                x_label="ledger entries of the dataset",
            )
            charts[f"budget-{index}"] = svg
        if section.tradeoff is not None:
            _, svg = membership_test_chart(
                section.tradeoff.x,
                section.tradeoff.y,
                title=f"Best possible membership attack on {a.dataset}",
            )
            charts[f"attack-{index}"] = svg
    for record in [r for r in report.runs if r.privacy is not None][:6]:
        points = [(e.steps, e.epsilon) for e in record.epochs]
        if len(points) < 2:
            continue
        assert record.privacy is not None
        _, svg = epsilon_curve_chart(
            [p[0] for p in points],
            [p[1] for p in points],
            limit=record.privacy.target_epsilon,
            title=f"Run {record.name}: ε over training (δ = {record.privacy.delta:g})",
            x_label="steps",
            limit_label=(
                None
                if record.privacy.target_epsilon is None
                else f"run target ε = {record.privacy.target_epsilon:g}"
            ),
        )
        charts[f"run-{record.name}"] = svg
    private = [
        r
        for r in report.runs
        if r.privacy is not None
        and r.privacy.epsilon is not None
        and math.isfinite(r.privacy.epsilon)
        and r.privacy.epsilon > 0
    ]
    baselines = [r.test_accuracy for r in report.runs if r.privacy is None]
    if private:
        _, svg = tradeoff_chart(
            [float(r.privacy.epsilon) for r in private if r.privacy and r.privacy.epsilon],
            [r.test_accuracy for r in private],
            baseline=max(baselines) if baselines else None,
            title="Utility against privacy",
        )
        charts["utility"] = svg
    return {name: _inline(svg, f"c{number}") for number, (name, svg) in enumerate(charts.items())}


_XML_PROLOGUE = re.compile(r"^\s*<\?xml[^>]*\?>\s*(<!DOCTYPE[^>]*>\s*)?", re.DOTALL)
_ID = re.compile(r'\bid="([^"]+)"')
_REFERENCE = re.compile(r'(url\(#|xlink:href="#|href="#)([^)"]+)')


def _inline(svg: str, prefix: str) -> str:
    """An SVG document as an element to inline in HTML: no prologue, ids unique per chart."""
    body = _XML_PROLOGUE.sub("", svg)
    body = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', body)
    return _REFERENCE.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", body)
