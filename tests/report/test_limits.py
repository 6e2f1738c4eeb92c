"""Group privacy: the closed form of the geometric series, its bounds, and the rows a report
shows for a dataset."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privaudit.report.limits import GROUP_SIZES, group_delta, group_privacy
from privaudit.report.model import build_report
from tests.report.conftest import write_inputs


@given(
    epsilon=st.floats(0.01, 5),
    delta=st.floats(1e-12, 1e-3),
    k=st.integers(1, 30),
)
def test_group_delta_is_the_geometric_series_and_below_dwork_roths_bound(
    epsilon: float, delta: float, k: int
) -> None:
    closed = delta * math.expm1(k * epsilon) / math.expm1(epsilon)
    shown = group_delta(epsilon, delta, k)
    assert shown == pytest.approx(min(closed, 1.0), rel=1e-9)
    assert shown <= min(1.0, k * math.exp((k - 1) * epsilon) * delta) * (1 + 1e-12)
    assert shown >= min(closed, 1.0)  # never below the series it bounds
    assert shown >= min(delta, 1.0)


def test_group_delta_of_one_unit_is_delta() -> None:
    assert group_delta(0.7, 1e-6, 1) == pytest.approx(1e-6, rel=1e-12)


def test_group_delta_saturates_at_one_without_overflow() -> None:
    assert group_delta(50.0, 1e-6, 100) == 1.0


def test_group_rows_multiply_epsilon_by_k(tmp_path: Path) -> None:
    ledger, policy, runs = write_inputs(tmp_path)
    report = build_report(ledger, policy, runs=[runs])
    for group, section in zip(report.groups, report.datasets, strict=True):
        epsilon = section.assessment.epsilon
        assert {row.k for row in group.rows} >= set(GROUP_SIZES)
        for row in group.rows:
            assert row.epsilon == pytest.approx(row.k * epsilon, rel=1e-12)
            assert row.epsilon >= row.k * epsilon
        (typical,) = [row for row in group.rows if row.typical]
        assert typical.k == group.typical_k


@pytest.mark.parametrize(("unit", "k"), [("example", 10), ("transaction", 10), ("user", 4)])
def test_typical_group_depends_on_whether_the_unit_is_a_person(
    tmp_path: Path, unit: str, k: int
) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    text = policy.read_text(encoding="utf-8")
    policy.write_text(text.replace("privacy_unit: example", f"privacy_unit: {unit}"), "utf-8")
    report = build_report(ledger, policy)
    assert {group.typical_k for group in report.groups} == {k}


def test_no_group_figure_without_releases(tmp_path: Path) -> None:
    ledger, policy, _ = write_inputs(tmp_path)
    report = build_report(ledger, policy)
    empty = report.datasets[0].assessment.model_copy(update={"entries": 0})
    assert group_privacy(empty) is None


def test_limitations_section_is_in_the_html_with_the_group_figures(tmp_path: Path) -> None:
    from privaudit.report.render import evidence_for, format_delta, format_epsilon, render_html

    ledger, policy, runs = write_inputs(tmp_path)
    report = build_report(ledger, policy, runs=[runs])
    html = render_html(report, evidence_for(report), charts={})
    section = html[html.index('id="s3"') : html.index('id="s4"')]
    assert "Group privacy" in section and "does not cover" in section
    for group in report.groups:
        (typical,) = [row for row in group.rows if row.typical]
        assert f"ε ≤ {format_epsilon(typical.epsilon)} at δ ≤ {format_delta(typical.delta)}" in (
            section
        )
    # The run record supplied but absent from the ledger is named as not charged.
    assert "forgotten" in section
