"""The duty table: the policy's assessment fields as written, "not provided" where absent, and
a map of duties to fields and sections that name only real ones."""

from __future__ import annotations

import html
import re
from pathlib import Path

from privaudit.policy import load_policy, parse_policy
from privaudit.report.duties import DUTIES, FIELDS, declared_fields
from privaudit.report.model import build_report
from privaudit.report.render import SECTIONS, evidence_for, render_html
from tests.report.conftest import write_inputs

ROOT = Path(__file__).resolve().parents[2]
TIERS = {"tiers": {"t": {"epsilon": 1.0, "delta": 1e-6}}}


def test_a_policy_without_the_fields_declares_nothing() -> None:
    declared = declared_fields(parse_policy(TIERS, "<test>"))
    assert [d.field for d in declared] == [name for name, _ in FIELDS]
    assert all(d.value is None for d in declared)


def test_declared_values_are_the_policys_words() -> None:
    policy = parse_policy(
        TIERS | {"misuse": "Scoring credit.", "data_categories": ["a", "b"]}, "<test>"
    )
    values = {d.field: d.value for d in declared_fields(policy)}
    assert values["misuse"] == "Scoring credit."
    assert values["data_categories"] == "a; b"
    assert values["purpose"] is None


def test_every_duty_names_known_fields_and_sections() -> None:
    fields = {name for name, _ in FIELDS}
    sections = {sid for sid, _ in SECTIONS}
    for duty in DUTIES:
        assert set(duty.fields) <= fields, duty.item
        assert set(duty.sections) <= sections, duty.item
        assert duty.fields or duty.sections, duty.item


def test_every_field_answers_some_duty() -> None:
    used = {name for duty in DUTIES for name in duty.fields}
    assert used == {name for name, _ in FIELDS}


def _declared_table(html: str) -> str:
    start = html.index('<table class="kv declared">')
    return html[start : html.index("</table>", start)]


def test_report_of_a_policy_without_fields_says_not_provided_for_each(tmp_path: Path) -> None:
    ledger, policy, runs = write_inputs(tmp_path)
    report = build_report(ledger, policy, runs=[runs])
    html = render_html(report, evidence_for(report), charts={})
    table = _declared_table(html)
    assert table.count("not provided") == len(FIELDS)


def test_report_of_an_example_policy_shows_its_fields_verbatim(tmp_path: Path) -> None:
    ledger, _, runs = write_inputs(tmp_path)
    example = ROOT / "policies" / "examples" / "hospital-notes.yaml"
    text = example.read_text(encoding="utf-8")
    # The example's limits over the test ledger's datasets: only the assessment fields matter.
    policy_path = tmp_path / "filled.yaml"
    fields = text[text.index("controller:") : text.index("\napprovers:")]
    policy_path.write_text(
        (tmp_path / "policy.yaml").read_text(encoding="utf-8") + fields + "\n", encoding="utf-8"
    )
    report = build_report(ledger, policy_path, runs=[runs])
    table = _declared_table(render_html(report, evidence_for(report), charts={}))
    assert "not provided" not in table
    loaded = load_policy(policy_path)
    assert loaded.purpose is not None
    shown = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", table)).split())
    assert " ".join(loaded.purpose.split()) in shown
