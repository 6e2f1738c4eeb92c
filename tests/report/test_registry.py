"""The registry record: each example's validates against the shipped JSON Schema, carries the
report's own figures, and the schema refuses what a record must not be."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from privaudit.report.model import Report, build_report
from privaudit.report.registry import registry_json, registry_record, registry_schema
from tests.report.conftest import write_inputs

jsonschema = pytest.importorskip(
    "jsonschema", reason="jsonschema is a dev dependency: pip install -e '.[dev]'"
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    folder
    for folder in (ROOT / "reports" / "examples").iterdir()
    if (folder / "ledger.jsonl").is_file()
)


def validate(record: Any) -> None:
    schema = registry_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(record)


def example_report(folder: Path) -> Report:
    return build_report(folder / "ledger.jsonl", folder / "policy.yaml", runs=[folder / "runs"])


@pytest.mark.parametrize("folder", EXAMPLES, ids=lambda folder: folder.name)
def test_each_examples_record_validates_against_the_schema(folder: Path) -> None:
    validate(json.loads(registry_json(example_report(folder))))


@pytest.mark.parametrize("folder", EXAMPLES, ids=lambda folder: folder.name)
def test_each_examples_record_names_its_contact_and_dates(folder: Path) -> None:
    record = registry_record(example_report(folder))
    assert record["contact"] and record["controller"] and record["review_date"]
    for dataset in record["datasets"]:
        if dataset["releases"]:
            assert dataset["first_release"] <= dataset["last_release"]
        else:
            assert dataset["first_release"] is None and dataset["last_release"] is None


def test_record_carries_the_reports_figures(tmp_path: Path) -> None:
    ledger, policy, runs = write_inputs(tmp_path)
    report = build_report(ledger, policy, runs=[runs])
    record = registry_record(report)
    shown = {d["dataset"]: d for d in record["datasets"]}
    for section in report.datasets:
        a = section.assessment
        row = shown[a.dataset]
        assert (row["epsilon"], row["delta"], row["privacy_unit"]) == (
            a.epsilon,
            a.delta,
            a.privacy_unit,
        )
        assert row["releases"] == a.entries
        assert row["trust_models"] == list(section.trust_models)
    # DP-SGD on digits: 3 entries of 250 steps each.
    assert shown["digits"]["steps"] == 750
    assert record["ledger"]["sha256"] == report.ledger_sha256
    # The test policy provides no assessment fields: null, not made up.
    assert (record["contact"], record["purpose"], record["review_date"]) == (None, None, None)
    validate(record)


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.pop("contact"),
        lambda r: r.update(surprise=1),
        lambda r: r["datasets"][0].update(epsilon=-1.0),
        lambda r: r["datasets"][0].update(trust_models=["somewhere"]),
        lambda r: r["ledger"].update(sha256="not a hash"),
        lambda r: r.update(review_date="next spring"),
    ],
    ids=["missing-field", "unknown-field", "negative-epsilon", "unknown-trust", "bad-hash", "date"],
)
def test_the_schema_refuses_a_damaged_record(tmp_path: Path, damage: Any) -> None:
    ledger, policy, runs = write_inputs(tmp_path)
    record = registry_record(build_report(ledger, policy, runs=[runs]))
    damage(record)
    with pytest.raises(jsonschema.ValidationError):
        validate(record)


def test_an_unbounded_epsilon_is_null_and_still_valid(tmp_path: Path) -> None:
    ledger, policy, runs = write_inputs(tmp_path)
    report = build_report(ledger, policy, runs=[runs])
    section = report.datasets[0]
    unbounded = section.model_copy(
        update={"assessment": section.assessment.model_copy(update={"epsilon": float("inf")})}
    )
    record = registry_record(report.model_copy(update={"datasets": (unbounded,)}))
    assert record["datasets"][0]["epsilon"] is None
    validate(record)
