"""Assessment → exit code and CI output formats (text, json, junit, github, markdown).

Exit codes (DESIGN.md): 0 within budget (warnings allowed), 1 budget exceeded or the ledger is
broken, 2 bad input or usage (raised as :class:`privaudit.errors.InputError` before any
assessment exists).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from xml.etree import ElementTree as ET

from privaudit.assess import (
    Assessment,
    DatasetAssessment,
    Finding,
    FrameworkComparison,
    Severity,
    Status,
)
from privaudit.change import ADDED_NOTE, Change, DatasetChange, json_data
from privaudit.errors import EXIT_FAIL, EXIT_OK
from privaudit.formats import OutputFormat
from privaudit.rounding import given, percent_up, plural, up, up_fixed


def exit_code(assessment: Assessment) -> int:
    return EXIT_FAIL if assessment.status is Status.FAIL else EXIT_OK


def render(
    assessment: Assessment, output_format: OutputFormat, change: Change | None = None
) -> str:
    """``assessment`` in ``output_format``; with ``change``, also what the change did (the
    diff-aware gate: ``privaudit check --base``)."""
    renderers = {
        OutputFormat.TEXT: render_text,
        OutputFormat.JSON: render_json,
        OutputFormat.JUNIT: render_junit,
        OutputFormat.GITHUB: render_github,
        OutputFormat.MARKDOWN: render_markdown,
    }
    return renderers[output_format](assessment, change)


def to_json_data(assessment: Assessment, change: Change | None = None) -> dict[str, object]:
    """JSON document; an unbounded ε is ``null`` with ``"bounded": false`` beside it. With
    ``change``, a ``"change"`` object: the base, entry counts and every dataset's ε before and
    after (schemas only grow: without it the document is as before)."""
    # model_dump(mode="json") keeps inf as a float, which JSON cannot hold; Pydantic's JSON
    # serialiser writes every non-finite float (ε, used fraction, partition ε) as null.
    data: dict[str, Any] = json.loads(assessment.model_dump_json())
    for dataset, original in zip(data["datasets"], assessment.datasets, strict=True):
        dataset["bounded"] = math.isfinite(original.epsilon)
    if change is not None:
        data["change"] = json_data(change)
    return data


def render_json(assessment: Assessment, change: Change | None = None) -> str:
    return json.dumps(to_json_data(assessment, change), indent=2, allow_nan=False) + "\n"


def fmt_epsilon(value: float | None) -> str:
    """Four decimals, rounded up: a dataset over its limit by a hair never shows ε ≤ limit."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "∞"
    return up_fixed(value)


def fmt_up(value: float | None) -> str:
    """Four significant digits, rounded up: a shown ε or δ is never below the computed one."""
    return "n/a" if value is None else up(value)


def fmt_delta(value: float | None) -> str:
    """A computed δ, four significant digits rounded up (never below the computed one)."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "∞"
    return up(value)


def fmt_fraction(value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "∞"
    return percent_up(value)


def _limit(ds: DatasetAssessment) -> str:
    if ds.limit_epsilon is None:
        return "no limit"
    text = given(ds.limit_epsilon)
    if ds.tolerance:
        text += f" (+{100 * ds.tolerance:g}% declared tolerance)"
    return text


NO_VERDICT = "no policy given: no verdict"
"""Said instead of PASS (or WARN) when no policy was given: figures without limits judge
nothing. A failure (a broken ledger, an unbounded ε) is still a failure."""


def _verdict(assessment: Assessment, status: Status | None = None) -> str | None:
    """:data:`NO_VERDICT` when there is no policy and nothing failed; else None (say the
    status)."""
    status = assessment.status if status is None else status
    return NO_VERDICT if not assessment.policy_given and status is not Status.FAIL else None


def render_text(assessment: Assessment, change: Change | None = None) -> str:
    lines = [f"privaudit: {_verdict(assessment) or assessment.status.value.upper()}"]
    if assessment.ledger is not None:
        entries = plural(assessment.ledger_entries, "entry", "entries")
        lines.append(
            f"ledger {assessment.ledger.path}: {entries}, sha256 {assessment.ledger.sha256[:12]}"
        )
    if assessment.policy is not None:
        lines.append(f"policy {assessment.policy.path}: sha256 {assessment.policy.sha256[:12]}")
    for finding in assessment.findings:
        lines.append(f"  {finding.severity.value.upper()}: {finding.message}")
    for ds in assessment.datasets:
        method = ds.method.value.upper() if ds.method else "none"
        lines.append("")
        # Without a policy: the figures, no tier, limit or status word (NO_VERDICT instead).
        no_verdict = _verdict(assessment, ds.status)
        name = ds.dataset if no_verdict else f"{ds.dataset} [{ds.tier or 'no tier'}]"
        lines.append(
            f"{name}{'' if no_verdict else ' ' + ds.status.value.upper()}:"
            f" ε = {fmt_epsilon(ds.epsilon)} at δ = {given(ds.delta)} ({method},"
            f" {ds.relation.value}); "
            + (no_verdict or f"limit {_limit(ds)}; used {fmt_fraction(ds.used_fraction)}")
        )
        lines.append(
            f"  PLD ε = {fmt_epsilon(ds.epsilon_pld)}   RDP ε = {fmt_epsilon(ds.epsilon_rdp)}"
            + (f" (order {ds.rdp_order:g})" if ds.rdp_order else "")
            + f"   entries {ds.entries}"
            + (f", {len(ds.partitions)} partitions" if len(ds.partitions) > 1 else "")
        )
        if ds.epsilon_query is not None:
            lines.append(
                f"  δ at ε = {given(ds.epsilon_query)}: {fmt_delta(ds.delta_at_epsilon)}"
                f" (PLD {fmt_delta(ds.delta_at_epsilon_pld)},"
                f" RDP {fmt_delta(ds.delta_at_epsilon_rdp)})"
            )
        lines += _framework_lines(ds.frameworks)
        for finding in ds.findings:
            lines.append(f"  {finding.severity.value.upper()}: {finding.message}")
    if change is not None:
        lines += ["", *_change_lines(change)]
    # Ids, run names and units come from the ledger: escape control characters so a crafted
    # entry cannot rewrite the terminal (ANSI escapes) or forge lines in a CI log.
    return "\n".join(_printable(line) for line in lines) + "\n"


_FRAMEWORK_COLUMNS = ("run", "framework", "framework ε", "PLD ε", "RDP ε", "δ")


def _framework_cells(comparison: FrameworkComparison) -> list[str]:
    return [
        comparison.run if comparison.run is not None else "(no run name)",
        comparison.label,
        fmt_up(comparison.framework_epsilon),
        fmt_up(comparison.epsilon_pld),
        fmt_up(comparison.epsilon_rdp),
        fmt_up(comparison.delta),
    ]


def _framework_lines(comparisons: tuple[FrameworkComparison, ...]) -> list[str]:
    """Each imported or guarded run: the framework's own ε beside privaudit's, in columns."""
    if not comparisons:
        return []
    rows = [list(_FRAMEWORK_COLUMNS)] + [_framework_cells(c) for c in comparisons]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_FRAMEWORK_COLUMNS))]
    marks = [""] + [
        "  below privaudit's certified ε" if c.below_certified else "" for c in comparisons
    ]
    lines = [
        "  framework figures (each run's ε from its own framework, beside privaudit's certified"
        " ε for the same entries at the same δ):"
    ]
    for row, mark in zip(rows, marks, strict=True):
        text = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append(("    " + text).rstrip() + mark)
    return lines


def render_markdown(assessment: Assessment, change: Change | None = None) -> str:
    if change is not None:
        return _markdown_change(assessment, change)
    icon = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌"}
    verdict = _verdict(assessment)
    headline = (
        f"{icon[assessment.status]} {assessment.status.value}" if verdict is None else verdict
    )
    lines = [f"## privaudit: {headline}", ""]
    for finding in assessment.findings:
        lines.append(f"- **{finding.severity.value}**: {_md(finding.message)}")
    if assessment.datasets:
        lines += [
            "| dataset | tier | ε | δ | method | PLD ε | RDP ε | limit | used | status |",
            "|---|---|---:|---:|---|---:|---:|---:|---:|---|",
        ]
        for ds in assessment.datasets:
            lines.append(
                f"| {_md(ds.dataset)} | {_md(ds.tier or '')} | {fmt_epsilon(ds.epsilon)} |"
                f" {given(ds.delta)} | {ds.method.value if ds.method else 'none'} |"
                f" {fmt_epsilon(ds.epsilon_pld)} | {fmt_epsilon(ds.epsilon_rdp)} |"
                f" {_md(_limit(ds))} | {fmt_fraction(ds.used_fraction)} |"
                f" {_status_cell(assessment, ds, icon)} |"
            )
        compared = [(ds.dataset, c) for ds in assessment.datasets for c in ds.frameworks]
        if compared:
            lines += [
                "",
                "### Framework figures",
                "",
                "The framework's own ε beside privaudit's certified ε for the same entries, at"
                " the same δ; the verdict uses privaudit's.",
                "",
                "| dataset | " + " | ".join(_FRAMEWORK_COLUMNS) + " |",
                "|---|---|---|---:|---:|---:|---:|",
            ]
            for name, comparison in compared:
                cells = [name, *_framework_cells(comparison)]
                if comparison.below_certified:
                    cells[3] = f"⚠️ {cells[3]}"
                lines.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
        notes = [(ds.dataset, f) for ds in assessment.datasets for f in ds.findings]
        if notes:
            lines += ["", "### Findings", ""]
            lines += [
                f"- `{_md(name)}` **{f.severity.value}**: {_md(f.message)}" for name, f in notes
            ]
    return "\n".join(lines) + "\n"


def _status_cell(assessment: Assessment, ds: DatasetAssessment, icon: dict[Status, str]) -> str:
    return (
        "no verdict" if _verdict(assessment, ds.status) else f"{icon[ds.status]} {ds.status.value}"
    )


def _md(text: str) -> str:
    # CommonMark ends a line at CR as well as LF: either would cut a table row in two.
    return _printable(text.replace("|", "\\|").replace("\r", " ").replace("\n", " "))


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def render_github(assessment: Assessment, change: Change | None = None) -> str:
    """GitHub Actions workflow commands: annotations on the ledger file, one per problem."""
    command = {Severity.FAIL: "error", Severity.WARN: "warning", Severity.INFO: "notice"}
    path = assessment.ledger.path if assessment.ledger else ""
    lines = [
        f"::{command[f.severity]} file={_gh_property(path)},title=privaudit::{_gh_data(f.message)}"
        for f in assessment.findings
    ]
    if change is not None:
        lines.append(
            f"::notice file={_gh_property(path)},title=privaudit change::"
            f"{_gh_data(_change_headline(change))}"
        )
    changed = _by_dataset(change)
    for ds in assessment.datasets:
        summary = (
            f"{ds.dataset}: ε = {fmt_epsilon(ds.epsilon)} at δ = {given(ds.delta)}, limit"
            f" {_limit(ds)}, used {fmt_fraction(ds.used_fraction)}"
        ) + _change_clause(changed.get(ds.dataset), change)
        level = {Status.FAIL: "error", Status.WARN: "warning", Status.PASS: "notice"}[ds.status]
        word = "no verdict" if _verdict(assessment, ds.status) else ds.status.value
        title = _gh_property(f"privaudit {ds.dataset} {word}")
        lines.append(f"::{level} file={_gh_property(path)},title={title}::{_gh_data(summary)}")
        for f in ds.findings:
            lines.append(
                f"::{command[f.severity]} file={_gh_property(path)},"
                f"title={_gh_property('privaudit ' + ds.dataset)}::{_gh_data(f.message)}"
            )
    lines.append(f"privaudit: {_verdict(assessment) or assessment.status.value}")
    return "\n".join(lines) + "\n"


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def render_junit(assessment: Assessment, change: Change | None = None) -> str:
    """JUnit XML: one test case per dataset; a failed budget is a <failure>."""
    changed = _by_dataset(change)
    cases: list[ET.Element] = []
    for finding in assessment.findings:
        case = ET.Element("testcase", name="ledger integrity", classname="privaudit.ledger")
        _junit_outcome(case, finding.severity, finding.message, [finding])
        cases.append(case)
    for ds in assessment.datasets:
        case = ET.Element(
            "testcase", name=_xml_safe(f"{ds.dataset} within budget"), classname="privaudit.budget"
        )
        message = (
            f"ε = {fmt_epsilon(ds.epsilon)} at δ = {given(ds.delta)}; limit {_limit(ds)};"
            f" used {fmt_fraction(ds.used_fraction)}"
        ) + _change_clause(changed.get(ds.dataset), change)
        severity = {
            Status.FAIL: Severity.FAIL,
            Status.WARN: Severity.WARN,
            Status.PASS: Severity.INFO,
        }
        _junit_outcome(case, severity[ds.status], message, list(ds.findings))
        cases.append(case)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    suite = ET.Element(
        "testsuite",
        name="privaudit",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped="0",
        timestamp=assessment.generated_at,
    )
    if change is not None:
        properties = ET.SubElement(suite, "properties")
        for name, value in (
            ("privaudit.base", change.base_source),
            ("privaudit.base_entries", str(change.base_entries)),
            ("privaudit.new_entries", str(change.new_entries)),
            ("privaudit.change", _change_headline(change)),
        ):
            ET.SubElement(properties, "property", name=name, value=_xml_safe(value))
    suite.extend(cases)
    suites = ET.Element(
        "testsuites", name="privaudit", tests=str(len(cases)), failures=str(failures)
    )
    suites.append(suite)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def _junit_outcome(
    case: ET.Element, severity: Severity, message: str, findings: list[Finding]
) -> None:
    message = _xml_safe(message)
    details = _xml_safe("\n".join(f"{f.severity.value}: {f.message}" for f in findings))
    if severity is Severity.FAIL:
        failure = ET.SubElement(case, "failure", message=message, type="privacy_budget")
        failure.text = details or message
    else:
        out = ET.SubElement(case, "system-out")
        out.text = message + ("\n" + details if details else "")


_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(text: str) -> str:
    # ElementTree escapes <, & and quotes but writes control characters as they are, which no
    # XML parser reads back. Run names and privacy units come from the ledger and may hold them.
    return _XML_ILLEGAL.sub(lambda match: repr(match.group())[1:-1], text)


# --- the change against a base (``privaudit check --base``) -----------------------------------
#
# Rounding: ε before and ε after are each rounded up, like every ε shown; "added" is computed on
# the unrounded values (after − before) and then rounded up, so no shown figure understates what
# it stands for. The shown added may therefore exceed the difference of the shown before and
# after by one unit in the last digit; it is never below the true difference.

_CHANGE_COLUMNS = ("dataset", "ε before", "ε after", "added", "limit", "used", "status")


def _eps_up(value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "∞"
    return up(value)


def _added(value: float | None) -> str:
    text = _eps_up(value)
    return f"+{text}" if value is not None and value > 0 else text


def _change_limit(item: DatasetChange) -> str:
    return "no limit" if item.limit_epsilon is None else given(item.limit_epsilon)


def _change_cells(item: DatasetChange) -> list[str]:
    return [
        item.dataset,
        _eps_up(item.epsilon_before),
        _eps_up(item.epsilon_after),
        _added(item.added),
        _change_limit(item),
        fmt_fraction(item.used_fraction),
        item.status.value,
    ]


def _by_dataset(change: Change | None) -> dict[str, DatasetChange]:
    return {} if change is None else {item.dataset: item for item in change.datasets}


def _change_headline(change: Change, source: str | None = None) -> str:
    """One sentence: the base, the entry counts, append or rewrite. ``source`` is the base as
    the format quotes it (default: as given)."""
    source = change.base_source if source is None else source
    if change.base_missing:
        base = f"base {source}: the ledger did not exist there (a new ledger), so the base is empty"
    else:
        base = f"base {source}"
    if change.prefix:
        what = f"{_entries(change.new_entries - change.base_entries)} appended"
    else:
        what = f"history rewritten from entry {change.first_difference}"
    return (
        f"change against {base}: {_entries(change.base_entries)} before,"
        f" {change.new_entries} after ({what})"
    )


def _entries(count: int, *, sign: bool = False) -> str:
    number = f"{count:+d}" if sign else str(count)
    return number + (" entry" if abs(count) == 1 else " entries")


def _change_clause(item: DatasetChange | None, change: Change | None) -> str:
    """The dataset's change, appended to its one-line summary (JUnit and GitHub messages)."""
    if item is None or change is None:
        return ""
    return (
        f"; this change adds ε {_added(item.added)} (ε {_eps_up(item.epsilon_before)} →"
        f" {_eps_up(item.epsilon_after)}, {_entries(item.entries_added, sign=True)}) against base"
        f" {change.base_source} (a difference of certified ε values, not a DP guarantee)"
    )


def _change_lines(change: Change) -> list[str]:
    """The change as a table of columns, for the text format."""
    header = [*_CHANGE_COLUMNS[:4], "entries added", *_CHANGE_COLUMNS[4:]]
    rows = [header] + [
        [*cells[:4], f"{item.entries_added:+d}", *cells[4:]]
        for item in change.datasets
        for cells in [_change_cells(item)]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [_change_headline(change)]
    for row in rows:
        text = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append(("  " + text).rstrip())
    lines.append(f"  {ADDED_NOTE}")
    return lines


def _markdown_change(assessment: Assessment, change: Change) -> str:
    """A pull-request comment: the verdict, the change per dataset in a table, the findings.

    No emoji: the status word is the verdict, readable where emoji are not rendered.
    """
    deltas = ", ".join(f"{_md(ds.dataset)} {given(ds.delta)}" for ds in assessment.datasets)
    lines = [
        f"## privaudit: {assessment.status.value.upper()}",
        "",
        _capitalised(_change_headline(change, _md_code(change.base_source))) + ".",
        "",
        "| " + " | ".join(_CHANGE_COLUMNS) + " |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        "| " + " | ".join(_md(cell) for cell in _change_cells(item)) + " |"
        for item in change.datasets
    ]
    lines += [
        "",
        f"ε at each dataset's δ ({deltas or 'none'}), rounded up. {_md(ADDED_NOTE)}.",
    ]
    notes = [("", f) for f in assessment.findings] + [
        (ds.dataset, f) for ds in assessment.datasets for f in ds.findings
    ]
    if notes:
        lines += ["", "### Findings", ""]
        lines += [
            f"- {f'`{_md(name)}` ' if name else ''}**{f.severity.value}**: {_md(f.message)}"
            for name, f in notes
        ]
    return "\n".join(lines) + "\n"


def _md_code(text: str) -> str:
    """``text`` as an inline code span (a base path or revision is user input: inside a code
    span no character of it is markup)."""
    text = _md(text)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
