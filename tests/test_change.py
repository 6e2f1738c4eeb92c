"""A change to a ledger: the prefix check, ε before and after per dataset, and how every output
format of the gate shows it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from markdown_it import MarkdownIt

from privaudit.accounting.accountant import account
from privaudit.assess import Assessment, Severity, Status, assess
from privaudit.change import HISTORY_REWRITTEN, Change, compare, first_difference, with_change
from privaudit.gate import (
    exit_code,
    render_github,
    render_json,
    render_junit,
    render_markdown,
    render_text,
)
from privaudit.ledger import GENESIS, Ledger, append_entry, canonical_json, entry_hash, read_ledger
from privaudit.mechanisms import parse_mechanism
from privaudit.policy import Policy, load_yaml, parse_policy
from privaudit.rounding import up

DELTA = 1e-6
POLICY = f"""
version: 1
tiers:
  t: {{epsilon: 2.0, delta: {DELTA!r}, warn_at: 0.9, privacy_unit: example}}
datasets:
  ds: {{tier: t, size: 100000}}
  other: {{tier: t, size: 100000}}
"""


def gaussian(sigma: float) -> dict[str, Any]:
    return {"type": "gaussian", "noise_multiplier": sigma}


def policy() -> Policy:
    return parse_policy(load_yaml(POLICY, "policy.yaml"), "policy.yaml")


def ledger(path: Path, *releases: tuple[str, float]) -> Ledger:
    """Append ``(dataset, σ)`` releases to ``path`` and return the verified ledger."""
    for name, sigma in releases:
        append_entry(path, dataset=name, mechanism=gaussian(sigma), privacy_unit="example")
    return read_ledger(path)


def rewritten(source: Path, target: Path, position: int) -> Ledger:
    """``source`` with entry ``position`` edited and the whole chain re-hashed: a valid ledger
    that diverges from ``source`` at ``position``."""
    prev = GENESIS
    lines = []
    for number, raw in enumerate(source.read_bytes().splitlines(), start=1):
        obj = json.loads(raw)
        if number == position:
            obj["mechanism"]["noise_multiplier"] += 1.0
        obj["prev"] = prev
        obj["hash"] = entry_hash(obj)
        prev = obj["hash"]
        lines.append(canonical_json(obj) + b"\n")
    target.write_bytes(b"".join(lines))
    return read_ledger(target)


def change_of(base: Ledger, new: Ledger, source: str = "base.jsonl") -> tuple[Assessment, Change]:
    after = assess(new, policy())
    return after, compare(base, new, after, policy(), base_source=source)


def oracle_epsilon(*sigmas: float) -> float:
    """ε at the policy's δ of the composed Gaussian releases, straight from the accountant."""
    if not sigmas:
        return 0.0
    return account([parse_mechanism(gaussian(s)) for s in sigmas], DELTA).epsilon


# --- the prefix check -------------------------------------------------------------------------


def test_an_appended_ledger_has_the_base_as_prefix(tmp_path: Path) -> None:
    base = ledger(tmp_path / "l.jsonl", ("ds", 3.0), ("ds", 4.0))
    new = ledger(tmp_path / "l.jsonl", ("ds", 5.0))

    assert first_difference(base.entries, new.entries) is None


def test_an_empty_base_is_a_prefix_of_anything(tmp_path: Path) -> None:
    new = ledger(tmp_path / "l.jsonl", ("ds", 3.0))

    assert first_difference((), new.entries) is None


def test_an_edited_and_rehashed_entry_is_the_first_difference(tmp_path: Path) -> None:
    base = ledger(tmp_path / "l.jsonl", ("ds", 3.0), ("ds", 4.0), ("ds", 5.0))
    new = rewritten(tmp_path / "l.jsonl", tmp_path / "new.jsonl", 2)

    assert first_difference(base.entries, new.entries) == 2


def test_a_base_longer_than_the_ledger_differs_after_the_ledgers_end(tmp_path: Path) -> None:
    new = ledger(tmp_path / "l.jsonl", ("ds", 3.0))
    (tmp_path / "base.jsonl").write_bytes(new.path.read_bytes())
    base = ledger(tmp_path / "base.jsonl", ("ds", 4.0), ("ds", 5.0))

    assert first_difference(base.entries, new.entries) == 2


def test_a_rewrite_fails_the_assessment_with_a_history_finding(tmp_path: Path) -> None:
    base = ledger(tmp_path / "l.jsonl", ("ds", 3.0), ("ds", 4.0))
    new = rewritten(tmp_path / "l.jsonl", tmp_path / "new.jsonl", 1)
    after, change = change_of(base, new)

    result = with_change(after, change)

    assert after.status is Status.PASS
    assert result.status is Status.FAIL
    assert exit_code(result) == 1
    [finding] = result.findings
    assert finding.code == HISTORY_REWRITTEN
    assert finding.severity is Severity.FAIL
    assert "entry 1 differs" in finding.message


def test_a_removal_names_the_removed_entries(tmp_path: Path) -> None:
    new = ledger(tmp_path / "l.jsonl", ("ds", 3.0))
    (tmp_path / "base.jsonl").write_bytes(new.path.read_bytes())
    base = ledger(tmp_path / "base.jsonl", ("ds", 4.0), ("ds", 5.0))
    after, change = change_of(base, new)

    [finding] = with_change(after, change).findings

    assert change.entries_removed == 2
    assert "entries 2-3 of base base.jsonl were removed" in finding.message


def test_an_append_leaves_the_assessment_as_it_is(tmp_path: Path) -> None:
    base = ledger(tmp_path / "l.jsonl", ("ds", 3.0))
    new = ledger(tmp_path / "l.jsonl", ("ds", 4.0))
    after, change = change_of(base, new)

    assert with_change(after, change) == after
    assert change.prefix and change.first_difference is None


# --- ε before and after -----------------------------------------------------------------------


def test_added_is_after_minus_before_by_the_accountant(tmp_path: Path) -> None:
    base = ledger(tmp_path / "l.jsonl", ("ds", 3.0), ("ds", 4.0))
    new = ledger(tmp_path / "l.jsonl", ("ds", 5.0))
    _, change = change_of(base, new)

    ds = next(item for item in change.datasets if item.dataset == "ds")

    assert ds.epsilon_before == oracle_epsilon(3.0, 4.0)
    assert ds.epsilon_after == oracle_epsilon(3.0, 4.0, 5.0)
    assert ds.added == oracle_epsilon(3.0, 4.0, 5.0) - oracle_epsilon(3.0, 4.0)
    assert (ds.entries_before, ds.entries_after, ds.entries_added) == (2, 3, 1)


def test_a_dataset_the_change_starts_has_zero_before(tmp_path: Path) -> None:
    base = ledger(tmp_path / "l.jsonl", ("ds", 3.0))
    new = ledger(tmp_path / "l.jsonl", ("other", 4.0))
    _, change = change_of(base, new)

    other = next(item for item in change.datasets if item.dataset == "other")

    assert other.epsilon_before == 0.0
    assert other.added == other.epsilon_after == oracle_epsilon(4.0)
    assert other.entries_added == 1


def test_a_change_over_the_limit_fails_after_and_passed_before(tmp_path: Path) -> None:
    base = ledger(tmp_path / "l.jsonl", ("ds", 3.0))
    new = ledger(tmp_path / "l.jsonl", ("ds", 1.0))
    _, change = change_of(base, new)

    ds = next(item for item in change.datasets if item.dataset == "ds")

    assert oracle_epsilon(3.0, 1.0) > 2.0 > oracle_epsilon(3.0)  # the fixture's premise
    assert (ds.status_before, ds.status) == (Status.PASS, Status.FAIL)
    assert ds.limit_epsilon == 2.0


def test_the_base_is_assessed_at_the_same_delta_as_the_ledger(tmp_path: Path) -> None:
    base = ledger(tmp_path / "l.jsonl", ("ds", 3.0))
    new = ledger(tmp_path / "l.jsonl", ("ds", 4.0))
    after = assess(new, policy(), delta=1e-9)

    change = compare(base, new, after, policy(), base_source="b", delta=1e-9)

    ds = next(item for item in change.datasets if item.dataset == "ds")
    expected = account([parse_mechanism(gaussian(3.0))], 1e-9).epsilon
    assert ds.epsilon_before == expected


# --- the change in every format ---------------------------------------------------------------


@pytest.fixture
def appended(tmp_path: Path) -> tuple[Assessment, Change]:
    base = ledger(tmp_path / "l.jsonl", ("ds", 6.0))
    new = ledger(tmp_path / "l.jsonl", ("ds", 7.0), ("ds", 8.0))
    result = change_of(base, new, source="git:origin/main")
    assert result[0].status is Status.PASS  # the fixture's premise: well within the limit
    return result


def test_json_has_the_change_object(appended: tuple[Assessment, Change]) -> None:
    after, change = appended

    data = json.loads(render_json(after, change))["change"]

    assert data["base_source"] == "git:origin/main"
    assert (data["base_entries"], data["new_entries"]) == (1, 3)
    assert data["prefix"] is True
    [ds, other] = data["datasets"]
    assert ds["dataset"] == "ds"
    assert ds["added"] == ds["epsilon_after"] - ds["epsilon_before"]
    assert ds["entries_added"] == 2
    assert other["entries_added"] == 0


def test_json_without_a_change_has_no_change_key(appended: tuple[Assessment, Change]) -> None:
    after, _ = appended

    assert "change" not in json.loads(render_json(after))


def test_text_shows_the_added_epsilon_rounded_up(appended: tuple[Assessment, Change]) -> None:
    after, change = appended
    ds = change.datasets[0]
    assert ds.added is not None

    text = render_text(after, change)

    table = text.split("\nchange against base git:origin/main:", 1)[1].splitlines()
    row = next(line for line in table if line.strip().startswith("ds "))
    assert row.split()[1:4] == [up(ds.epsilon_before), up(ds.epsilon_after), f"+{up(ds.added)}"]
    assert "not itself a DP guarantee" in text


def markdown_table(text: str) -> list[list[str]]:
    """The first table of a GitHub-flavoured markdown document: header row, then body rows."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    rows: list[list[str]] = []
    row: list[str] | None = None
    inside = False
    for token in tokens:
        if token.type == "table_open":
            inside = True
        elif token.type == "table_close":
            break
        elif inside and token.type == "tr_open":
            row = []
        elif inside and token.type == "tr_close" and row is not None:
            rows.append(row)
        elif inside and token.type == "inline" and row is not None:
            row.append(token.content)
    return rows


def test_markdown_is_a_table_of_the_change(appended: tuple[Assessment, Change]) -> None:
    after, change = appended

    text = render_markdown(after, change)
    rows = markdown_table(text)

    assert text.startswith("## privaudit: PASS\n")
    assert rows[0] == ["dataset", "ε before", "ε after", "added", "limit", "used", "status"]
    assert [row[0] for row in rows[1:]] == ["ds", "other"]
    assert rows[1][3] == f"+{up(change.datasets[0].added or 0)}"
    assert rows[1][6] == "pass"


def test_markdown_escapes_a_pipe_in_a_cell(appended: tuple[Assessment, Change]) -> None:
    after, change = appended
    # Ledger ids cannot hold a pipe, but the renderer must not rely on that.
    hostile = change.datasets[0].model_copy(update={"dataset": "a|b"})
    change = change.model_copy(update={"datasets": (hostile, *change.datasets[1:])})

    rows = markdown_table(render_markdown(after, change))

    assert [len(row) for row in rows] == [7, 7, 7]
    assert rows[1][0] == "a|b"


def test_markdown_lists_the_history_finding(tmp_path: Path) -> None:
    base = ledger(tmp_path / "l.jsonl", ("ds", 3.0), ("ds", 4.0))
    new = rewritten(tmp_path / "l.jsonl", tmp_path / "new.jsonl", 2)
    after, change = change_of(base, new)

    text = render_markdown(with_change(after, change), change)

    assert text.startswith("## privaudit: FAIL\n")
    assert "### Findings" in text
    assert "entry 2 differs" in text


def test_junit_dataset_message_has_the_added_epsilon(
    appended: tuple[Assessment, Change],
) -> None:
    after, change = appended
    ds = change.datasets[0]
    assert ds.added is not None

    root = ET.fromstring(render_junit(after, change))

    out = root.find(".//testcase[@name='ds within budget']/system-out")
    assert out is not None and out.text is not None
    assert f"this change adds ε +{up(ds.added)}" in out.text
    names = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert names["privaudit.base"] == "git:origin/main"


def test_github_dataset_annotation_has_the_added_epsilon(
    appended: tuple[Assessment, Change],
) -> None:
    after, change = appended
    ds = change.datasets[0]
    assert ds.added is not None

    lines = render_github(after, change).splitlines()

    [line] = [line for line in lines if "title=privaudit ds pass" in line]
    assert f"this change adds ε +{up(ds.added)}" in line


def test_an_unbounded_after_adds_infinity() -> None:
    from privaudit.change import _added

    assert _added(1.0, math.inf) == math.inf
    assert _added(math.inf, math.inf) is None
