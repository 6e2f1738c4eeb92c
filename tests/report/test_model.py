"""The report model: every figure agrees with the assessment and with its own definition."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from privaudit.accounting.accountant import account
from privaudit.assess import Status
from privaudit.errors import LedgerIntegrityError
from privaudit.ledger import read_ledger
from privaudit.report.model import (
    FALSE_POSITIVE_RATES,
    DatasetSection,
    Report,
    build_report,
    tier_rating,
)
from tests.report.conftest import write_inputs

Inputs = tuple[Path, Path, Path]


def _section(report: Report, name: str) -> DatasetSection:
    return next(s for s in report.datasets if s.assessment.dataset == name)


def test_profile_read_at_the_tier_delta_gives_the_verdict_epsilon(inputs: Inputs) -> None:
    ledger, policy, runs = inputs
    report = build_report(ledger, policy, runs=[runs])
    section = _section(report, "digits")
    eps, delta = section.assessment.epsilon, section.assessment.delta
    assert section.profile is not None
    # δ(ε) is non-increasing; at grid points at or above the verdict ε it is at most the tier's
    # δ, and below ε (by more than the PLD grid's resolution) it exceeds it.
    for x, y in zip(section.profile.x, section.profile.y, strict=True):
        if x >= eps:
            assert y <= delta * (1 + 1e-6)
        elif x < eps - 0.01:
            assert y > delta


def test_profile_takes_the_worst_partition(inputs: Inputs) -> None:
    ledger, policy, runs = inputs
    report = build_report(ledger, policy, runs=[runs])
    section = _section(report, "notes")
    # Each silo holds one σ = 20 Gaussian plus the shared distributed release; all silos are
    # alike, so the dataset's ε equals one silo's ε.
    entries = [e for e in read_ledger(ledger).entries if e.dataset == "notes"]
    one_silo = [e.mechanism for e in entries if e.partition in (None, "h1")]
    expected = account(Counter(one_silo), 1e-6).epsilon
    assert section.assessment.epsilon == pytest.approx(expected, rel=1e-9)


def test_attack_bound_is_never_below_random_guessing_and_rises_with_fpr(inputs: Inputs) -> None:
    ledger, policy, runs = inputs
    report = build_report(ledger, policy, runs=[runs])
    for section in report.datasets:
        assert section.tradeoff is not None
        xs, ys = section.tradeoff.x, section.tradeoff.y
        assert all(y >= x for x, y in zip(xs, ys, strict=True))
        assert all(b >= a for a, b in itertools.pairwise(ys))
        assert [fpr for fpr, _ in section.tpr_at] == list(FALSE_POSITIVE_RATES)


def test_attack_bound_at_the_tier_cap_is_at_least_the_bound_in_use(inputs: Inputs) -> None:
    ledger, policy, runs = inputs
    report = build_report(ledger, policy, runs=[runs])
    section = _section(report, "digits")
    assert section.assessment.status is Status.PASS
    for (_, used), (_, allowed) in zip(section.tpr_at, section.tpr_at_limit, strict=True):
        # Less ε spent than allowed: the attacker's best power is at most what the cap allows
        # (up to the profile's slack at tiny rates).
        assert used <= allowed + 1e-9


def test_ledger_rows_fold_consecutive_identical_releases(inputs: Inputs) -> None:
    ledger, policy, runs = inputs
    report = build_report(ledger, policy, runs=[runs])
    assert sum(r.count for r in report.ledger_rows) == report.ledger_entries
    first = report.ledger_rows[0]
    # The three digits epochs differ only in meta, so they fold into one row of three.
    assert (first.first_seq, first.last_seq, first.count) == (1, 3, 3)
    assert first.last_hash == read_ledger(ledger).entries[2].hash


def test_private_run_missing_from_the_ledger_is_reported_as_not_counted(inputs: Inputs) -> None:
    ledger, policy, runs = inputs
    report = build_report(ledger, policy, runs=[runs])
    assert [r.name for r in report.runs_not_in_ledger()] == ["forgotten"]


def test_trust_models_follow_the_mechanisms(inputs: Inputs) -> None:
    ledger, policy, runs = inputs
    report = build_report(ledger, policy, runs=[runs])
    assert _section(report, "digits").trust_models == ("central",)
    assert _section(report, "notes").trust_models == ("silo_local", "distributed")


def test_budget_curve_ends_at_the_certified_rdp_figure_and_never_falls(inputs: Inputs) -> None:
    ledger, policy, runs = inputs
    report = build_report(ledger, policy, runs=[runs])
    for section in report.datasets:
        assert section.budget is not None
        # The curve is drawn with RDP (cheap at every checkpoint): its end is the assessment's
        # RDP figure, a certified bound at least the PLD verdict's (up to PLD's grid slack).
        assert section.assessment.epsilon_rdp is not None
        assert section.budget.y[-1] == pytest.approx(section.assessment.epsilon_rdp, rel=1e-9)
        assert section.budget.y[-1] >= section.assessment.epsilon * (1 - 1e-3)
        assert all(
            b >= a - 1e-12 for a, b in zip(section.budget.y, section.budget.y[1:], strict=False)
        )
        assert section.budget.x[-1] == section.assessment.entries


def test_hashes_identify_the_inputs(inputs: Inputs) -> None:
    import hashlib

    ledger, policy, runs = inputs
    report = build_report(ledger, policy, runs=[runs])
    assert report.ledger_sha256 == hashlib.sha256(ledger.read_bytes()).hexdigest()
    assert report.policy_sha256 == hashlib.sha256(policy.read_bytes()).hexdigest()
    assert report.approvers == ("J. Doe (DPO)", "R. Roe (ML lead)")


def test_review_id_changes_with_the_ledger(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = build_report(*write_inputs(tmp_path / "a")[:2])
    second = build_report(*write_inputs(tmp_path / "b", extra_steps=10)[:2])
    assert first.review_id != second.review_id


def test_tampered_ledger_gets_no_report(inputs: Inputs) -> None:
    ledger, policy, _ = inputs
    lines = ledger.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace('"epoch":2', '"epoch":7')
    ledger.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(LedgerIntegrityError):
        build_report(ledger, policy)


@pytest.mark.parametrize(
    ("epsilon", "rating"),
    [
        (0.3, "strong"),
        (1.0, "strong"),
        (1.01, "reasonable"),
        (10.0, "reasonable"),
        (10.5, "weak"),
        (float("inf"), "weak"),
    ],
)
def test_tier_rating_bands(epsilon: float, rating: str) -> None:
    assert tier_rating(epsilon) == rating


def test_dominated_compositions_are_dropped_and_the_rest_kept() -> None:
    from privaudit.mechanisms import Gaussian, Laplace
    from privaudit.report.model import _undominated

    g, lap = Gaussian(noise_multiplier=2.0), Laplace(scale=3.0)
    small = ((g, 3),)
    large = ((g, 5),)
    mixed = ((g, 1), (lap, 1))
    kept = _undominated([small, large, mixed])
    assert sorted(kept, key=len) == [large, mixed]


def test_profile_over_partitions_equals_the_worst_partition_pointwise(
    tmp_path: Path,
) -> None:
    # Silo a: 5 steps; silo b: 2 steps of the same release. Silo a dominates everywhere, and
    # the report's cumulative profile is silo a's own.
    from privaudit.accounting.profile import privacy_profile
    from privaudit.ledger import append_entry

    policy = tmp_path / "policy.yaml"
    write_inputs(tmp_path)  # writes the policy
    ledger = tmp_path / "silos.jsonl"
    release = {"type": "gaussian", "noise_multiplier": 5.0}
    for silo, steps in (("a", 5), ("b", 2)):
        for _ in range(steps):
            append_entry(ledger, dataset="digits", partition=silo, mechanism=release)
    report = build_report(ledger, policy)
    section = _section(report, "digits")
    assert section.profile is not None
    from privaudit.accounting.accountant import Method
    from privaudit.accounting.dp_events import NeighbouringRelation
    from privaudit.mechanisms import Gaussian

    silo_a = privacy_profile(
        {Gaussian(noise_multiplier=5.0): 5},
        section.profile.x,
        relation=NeighbouringRelation.ADD_OR_REMOVE_ONE,
        method=Method.PLD,
    )
    assert list(section.profile.y) == pytest.approx(list(silo_a), rel=1e-12, abs=1e-300)


def test_relocated_report_names_every_input_under_the_new_folder(inputs: Inputs) -> None:
    ledger, policy, runs = inputs
    before = ledger.parent
    report = build_report(ledger, policy, runs=[runs]).relocated(before, Path("/final"))
    assert report.ledger_path == "/final/ledger.jsonl"
    assert report.assessment.ledger is not None and report.assessment.policy is not None
    assert report.assessment.ledger.path == "/final/ledger.jsonl"
    assert report.assessment.policy.path == "/final/policy.yaml"
    assert all(p.startswith("/final/") for p in report.run_paths)
    assert not any(str(before) in c for c in report.commands)
