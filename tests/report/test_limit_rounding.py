"""A dataset over its limit by a hair (issue 18): the report shows its ε rounded up, above the
limit, and the limit as the policy gives it, so neither document reads "ε ≤ limit"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from privaudit.accounting.accountant import account
from privaudit.assess import Status
from privaudit.ledger import append_entry, read_ledger
from privaudit.report.model import Report, build_report
from privaudit.report.render import render_html, write_report
from tests.report.conftest import needs_weasyprint

# The verdict paragraph of a dataset (section 2): "d: ε ≤ 1.0608 at δ = 1e-06 against a limit
# of ε = 1.060700864002007 (100.1% used)", with each number in a <data> element in the HTML.
VERDICT = re.compile(
    r"ε ≤ (?:<data[^>]*>)?([0-9.]+)(?:</data>)? at δ.*?against a limit of ε ="
    r" (?:<data[^>]*>)?([0-9.]+)(?:</data>)?",
    re.DOTALL,
)


def over_by_a_hair(folder: Path) -> tuple[Report, float]:
    """A report on a one-release ledger (σ = 4) whose limit is its own ε − 1e-6; the limit."""
    ledger = folder / "ledger.jsonl"
    append_entry(ledger, dataset="d", mechanism={"type": "gaussian", "noise_multiplier": 4.0})
    epsilon = account([e.mechanism for e in read_ledger(ledger).entries], 1e-6).epsilon
    limit = epsilon - 1e-6
    policy = folder / "policy.yaml"
    policy.write_text(
        "version: 1\n"
        "tiers:\n"
        f"  t: {{epsilon: {limit!r}, delta: 1.0e-6}}\n"
        "datasets:\n"
        "  d: {tier: t, size: 10000000}\n",
        encoding="utf-8",
    )
    report = build_report(ledger, policy)
    (dataset,) = report.assessment.datasets
    assert dataset.status is Status.FAIL and dataset.epsilon == epsilon
    return report, limit


def test_html_shows_a_failing_epsilon_above_the_limit(tmp_path: Path) -> None:
    report, limit = over_by_a_hair(tmp_path)
    match = VERDICT.search(render_html(report, [], charts={}))
    assert match is not None
    shown_epsilon, shown_limit = float(match.group(1)), float(match.group(2))
    assert shown_epsilon > limit
    assert shown_epsilon > shown_limit  # not "ε ≤ 1.0608 against a limit of 1.0608"


def test_html_shows_the_limit_as_the_policy_gives_it(tmp_path: Path) -> None:
    report, limit = over_by_a_hair(tmp_path)
    match = VERDICT.search(render_html(report, [], charts={}))
    assert match is not None and float(match.group(2)) == limit


@needs_weasyprint
def test_pdf_shows_a_failing_epsilon_above_the_limit(tmp_path: Path) -> None:
    pypdf = pytest.importorskip("pypdf", reason="pypdf is a dev dependency")
    report, limit = over_by_a_hair(tmp_path)
    write_report(report, tmp_path / "out", ("pdf",))
    reader = pypdf.PdfReader(tmp_path / "out" / "report.pdf")
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    match = VERDICT.search(text)
    assert match is not None, text[:2000]
    shown_epsilon, shown_limit = float(match.group(1)), float(match.group(2))
    assert shown_epsilon > limit
    assert shown_epsilon > shown_limit
