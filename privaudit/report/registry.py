"""Report → a deployment record for a public registry of differential-privacy deployments.

Dwork, Kohli & Mulligan ("Expose Your Epsilons! On the Privacy Practices of Differential
Privacy Deployments", Journal of Privacy and Confidentiality, 2019) ask that every deployment
publish the facts a registry can compare: the privacy unit, ε and δ, how the budget is spent and
renewed, the mechanism and accountant, where the noise is added (the trust model), and whom to
ask. This module writes those facts from the report model as one JSON object; the schema,
``registry.schema.json`` beside this module (package data), is the record's contract.

Figures are the report's certified upper bounds, unrounded (machines read them; people read the
report, whose figures are rounded up). An unbounded ε is ``null``, as in ``check --format json``.
"""

from __future__ import annotations

import json
import math
from importlib.resources import files
from typing import Any, Final

from privaudit.report.model import Report

__all__ = ["REGISTRY_VERSION", "registry_json", "registry_record", "registry_schema"]

REGISTRY_VERSION: Final = 1
SCHEMA_FILE: Final = "registry.schema.json"


def registry_record(report: Report) -> dict[str, Any]:
    """The deployment record of ``report``: plain JSON data that validates against
    :func:`registry_schema`."""
    declared = {d.field: d.value for d in report.declared}
    return {
        "record_version": REGISTRY_VERSION,
        "review_id": report.review_id,
        "generated_at": report.generated_at,
        "status": report.assessment.status.value,
        "organisation": report.organisation,
        "system": report.system,
        "controller": declared.get("controller"),
        "contact": declared.get("contact"),
        "purpose": declared.get("purpose"),
        "intended_use": declared.get("intended_use"),
        "review_date": declared.get("review_date"),
        "budget_renewal": "none",
        "software": {
            "name": "privaudit",
            "version": report.privaudit_version,
            "commit": report.code_commit,
        },
        "ledger": {
            "sha256": report.ledger_sha256,
            "head": report.ledger_head,
            "entries": report.ledger_entries,
            "first_release": report.ledger_first_time,
            "last_release": report.ledger_last_time,
        },
        "policy": {"sha256": report.policy_sha256},
        "datasets": [_dataset(report, index) for index in range(len(report.datasets))],
    }


def _dataset(report: Report, index: int) -> dict[str, Any]:
    section = report.datasets[index]
    a = section.assessment
    times = [(run.first_time, run.last_time) for run in section.runs]
    return {
        "dataset": a.dataset,
        "description": section.description,
        "tier": a.tier,
        "privacy_unit": a.privacy_unit,
        "size": a.size,
        "neighbouring_relation": a.relation.value,
        "epsilon": _finite(a.epsilon),
        "delta": a.delta,
        "epsilon_limit": a.limit_epsilon,
        "delta_limit": a.limit_delta,
        "used_fraction": _finite(a.used_fraction),
        "accountant": None if a.method is None else a.method.value,
        "epsilon_pld": _finite(a.epsilon_pld),
        "epsilon_rdp": _finite(a.epsilon_rdp),
        "mechanisms": list(section.mechanism_types),
        "sampling": list(section.sampling),
        "releases": a.entries,
        "steps": section.steps,
        "runs": [run.run for run in section.runs],
        "trust_models": list(section.trust_models),
        "first_release": min((first for first, _ in times), default=None),
        "last_release": max((last for _, last in times), default=None),
        "status": a.status.value,
    }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def registry_json(report: Report) -> bytes:
    """The record as the file ``--registry`` writes: indented UTF-8 JSON, newline-terminated."""
    text = json.dumps(registry_record(report), indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def registry_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every record validates against."""
    text = files("privaudit.report").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
