"""Assessment → exit code and the CI formats: each output parses and says what it must."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from privaudit.accounting.accountant import Method, account
from privaudit.accounting.dp_events import NeighbouringRelation
from privaudit.assess import (
    Assessment,
    DatasetAssessment,
    Finding,
    PartitionResult,
    Severity,
    Source,
    Status,
    assess,
    broken_ledger_assessment,
)
from privaudit.errors import EXIT_FAIL, EXIT_OK
from privaudit.gate import (
    OutputFormat,
    exit_code,
    render,
    render_github,
    render_json,
    render_junit,
    render_markdown,
    render_text,
)
from privaudit.ledger import append_entry, read_ledger
from privaudit.policy import parse_policy

REQUIRED_KEYS = {
    "dataset",
    "epsilon",
    "delta",
    "method",
    "epsilon_pld",
    "epsilon_rdp",
    "limit_epsilon",
    "used_fraction",
    "status",
    "findings",
}
# Markup, GitHub's escape sequences written literally, separators and line breaks.
HOSTILE = "a<b&\"c'> 50% used, %0A and %3A literally, x:y\nnext|line\r::error::injected"


# --- building assessments by hand (independent of the accountant) --------------------------


def finding(message: str = "something to know", severity: Severity = Severity.INFO) -> Finding:
    return Finding(code="note", severity=severity, message=message)


def dataset(
    name: str = "d",
    *,
    status: Status = Status.PASS,
    epsilon: float = 0.5,
    limit: float = 1.0,
    tolerance: float = 0.0,
    tier: str = "t",
    findings: tuple[Finding, ...] = (),
) -> DatasetAssessment:
    return DatasetAssessment(
        dataset=name,
        tier=tier,
        privacy_unit="example",
        size=10_000,
        entries=1,
        epsilon=epsilon,
        delta=1e-6,
        method=Method.PLD,
        relation=NeighbouringRelation.ADD_OR_REMOVE_ONE,
        epsilon_pld=epsilon,
        epsilon_rdp=epsilon * 1.1,
        rdp_order=8.0,
        limit_epsilon=limit,
        limit_delta=1e-6,
        tolerance=tolerance,
        warn_at=0.8,
        used_fraction=epsilon / limit,
        status=status,
        findings=findings,
        partitions=(
            PartitionResult(
                partition=None,
                entries=1,
                epsilon=epsilon,
                epsilon_pld=epsilon,
                epsilon_rdp=epsilon * 1.1,
            ),
        ),
        settings={"pld": {"accountant": "pld"}, "rdp": {"accountant": "rdp"}},
    )


def assessment(
    *datasets: DatasetAssessment,
    status: Status | None = None,
    findings: tuple[Finding, ...] = (),
    ledger_path: str = "ledger.jsonl",
) -> Assessment:
    order = [Status.PASS, Status.WARN, Status.FAIL]
    worst = max((ds.status for ds in datasets), key=order.index, default=Status.PASS)
    return Assessment(
        status=status or worst,
        generated_at="2026-01-02T03:04:05Z",
        ledger=Source(path=ledger_path, sha256="ab" * 32),
        ledger_entries=len(datasets),
        ledger_head="cd" * 32,
        policy=Source(path="policy.yaml", sha256="ef" * 32),
        datasets=datasets,
        findings=findings,
        versions={"dp-accounting": "0.6.0"},
    )


def mixed() -> Assessment:
    return assessment(
        dataset("ok", status=Status.PASS, epsilon=0.2),
        dataset("close", status=Status.WARN, epsilon=0.9),
        dataset("over", status=Status.FAIL, epsilon=3.0, findings=(finding("too much"),)),
    )


def strict_json(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


# --- exit code -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [(Status.PASS, EXIT_OK), (Status.WARN, EXIT_OK), (Status.FAIL, EXIT_FAIL)],
)
def test_exit_code_fails_only_a_failed_assessment(status: Status, code: int) -> None:
    assert exit_code(assessment(dataset(status=status))) == code


def test_exit_codes_are_zero_and_one() -> None:
    assert (EXIT_OK, EXIT_FAIL) == (0, 1)


def test_a_broken_ledger_exits_with_failure(tmp_path: Path) -> None:
    broken = broken_ledger_assessment(tmp_path / "ledger.jsonl", "line 2: hash mismatch")
    assert exit_code(broken) == 1


# --- json ----------------------------------------------------------------------------------


def test_json_is_strict_json_with_the_required_keys_per_dataset() -> None:
    data = strict_json(render_json(mixed()))
    assert data["status"] == "fail"
    assert [ds["dataset"] for ds in data["datasets"]] == ["ok", "close", "over"]
    for ds in data["datasets"]:
        assert set(ds) >= REQUIRED_KEYS
    assert data["datasets"][2]["findings"] == [
        {"code": "note", "severity": "info", "message": "too much"}
    ]


def test_json_finite_epsilon_is_a_number_and_bounded() -> None:
    (ds,) = strict_json(render_json(assessment(dataset(epsilon=0.25)))).get("datasets")
    assert ds["epsilon"] == 0.25
    assert ds["used_fraction"] == 0.25
    assert ds["bounded"] is True


def test_json_infinite_epsilon_is_null_and_unbounded() -> None:
    unbounded = dataset("leak", status=Status.FAIL, epsilon=math.inf)
    data = strict_json(render_json(assessment(unbounded, dataset("fine"))))
    leak, fine = data["datasets"]
    assert leak["epsilon"] is None
    assert leak["used_fraction"] is None
    assert leak["bounded"] is False
    assert fine["bounded"] is True


def test_json_of_an_assessed_ledger_with_a_non_private_release_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    append_entry(path, dataset="leak", mechanism={"type": "non_private"})
    append_entry(path, dataset="fine", mechanism={"type": "gaussian", "noise_multiplier": 5.0})
    policy = parse_policy(
        {
            "tiers": {"t": {"epsilon": 1.0, "delta": 1e-6}},
            "datasets": {
                "leak": {"tier": "t", "size": 10**4},
                "fine": {"tier": "t", "size": 10**4},
            },
        },
        "<test>",
    )
    data = strict_json(render(assess(read_ledger(path), policy), OutputFormat.JSON))
    by_name = {ds["dataset"]: ds for ds in data["datasets"]}
    assert by_name["leak"]["epsilon"] is None and by_name["leak"]["bounded"] is False
    assert by_name["leak"]["status"] == "fail"
    assert by_name["fine"]["bounded"] is True and by_name["fine"]["epsilon"] > 0


def test_json_of_a_broken_ledger_names_the_finding(tmp_path: Path) -> None:
    broken = broken_ledger_assessment(tmp_path / "ledger.jsonl", "line 2: hash mismatch")
    data = strict_json(render_json(broken))
    assert data["status"] == "fail"
    assert data["datasets"] == []
    assert data["findings"][0]["code"] == "ledger_chain_broken"


# --- junit ---------------------------------------------------------------------------------


def test_junit_counts_match_the_test_cases_and_failures() -> None:
    broken_chain = finding("chain broken", Severity.FAIL)
    root = ET.fromstring(render_junit(assessment(*mixed().datasets, findings=(broken_chain,))))
    (suite,) = root.iter("testsuite")
    cases = list(suite.iter("testcase"))
    failures = [case for case in cases if case.find("failure") is not None]
    assert len(cases) == 4 and len(failures) == 2
    for element in (root, suite):
        assert element.get("tests") == str(len(cases))
        assert element.get("failures") == str(len(failures))


def test_junit_failing_dataset_has_a_failure_and_a_passing_one_none() -> None:
    root = ET.fromstring(render_junit(mixed()))
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert cases["over within budget"].find("failure") is not None
    assert cases["ok within budget"].find("failure") is None
    assert cases["close within budget"].find("failure") is None


def test_junit_escapes_markup_in_dataset_ids_and_messages() -> None:
    name = 'a<b&"c'
    message = '1 < 2 & "3" > 0 ]]> \''
    over = dataset(name, status=Status.FAIL, findings=(finding(message, Severity.FAIL),))
    root = ET.fromstring(render_junit(assessment(over)))
    (case,) = root.iter("testcase")
    assert case.get("name") == f"{name} within budget"
    failure = case.find("failure")
    assert failure is not None and failure.text is not None
    assert message in failure.text


def test_junit_stays_well_formed_with_control_characters_from_the_ledger(tmp_path: Path) -> None:
    # Privacy units and run names are free text in the ledger and reach finding messages.
    path = tmp_path / "ledger.jsonl"
    unit = "user\x00\x1b[31m"
    append_entry(
        path,
        dataset="d",
        privacy_unit=unit,
        mechanism={"type": "gaussian", "noise_multiplier": 5.0},
    )
    policy = parse_policy(
        {
            "tiers": {"t": {"epsilon": 1.0, "delta": 1e-6}},
            "datasets": {"d": {"tier": "t", "size": 10**4}},
        },
        "<test>",
    )
    result = assess(read_ledger(path), policy)
    assert unit in result.datasets[0].findings[0].message  # the text reaches the gate as is
    root = ET.fromstring(render_junit(result))
    failure = root.find(".//failure")
    assert failure is not None and failure.text is not None
    assert "\\x00" in failure.text and "\\x1b" in failure.text


def test_junit_of_a_broken_ledger_is_one_failing_case(tmp_path: Path) -> None:
    broken = broken_ledger_assessment(tmp_path / "ledger.jsonl", "line 2: hash mismatch")
    root = ET.fromstring(render_junit(broken))
    (case,) = root.iter("testcase")
    failure = case.find("failure")
    assert failure is not None and "line 2: hash mismatch" in (failure.text or "")


# --- github --------------------------------------------------------------------------------

COMMAND = re.compile(r"^::(error|warning|notice) ([^:]*)::(.*)$")


def unescape_data(text: str) -> str:
    # GitHub Actions workflow commands (actions/toolkit, command.ts): %, CR and LF in data.
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    # Properties additionally escape ':' and ','.
    return unescape_data(text.replace("%3A", ":").replace("%2C", ","))


def commands(output: str) -> list[tuple[str, dict[str, str], str]]:
    """(command, properties, message) for every workflow command line, all unescaped."""
    parsed = []
    for line in output.splitlines():
        if not line.startswith("::"):
            continue
        match = COMMAND.match(line)
        assert match is not None, f"not an error/warning/notice command: {line!r}"
        name, props, data = match.groups()
        properties = dict(item.split("=", 1) for item in props.split(","))
        parsed.append(
            (name, {k: unescape_property(v) for k, v in properties.items()}, unescape_data(data))
        )
    return parsed


def test_github_lines_are_error_warning_or_notice_commands() -> None:
    output = render_github(mixed())
    lines = output.splitlines()
    assert lines[-1] == "privaudit: fail"
    assert all(line.startswith("::") for line in lines[:-1])
    assert {name for name, _, _ in commands(output)} == {"error", "warning", "notice"}


def test_github_failing_dataset_is_an_error_on_the_ledger_file() -> None:
    parsed = commands(render_github(mixed()))
    level = {props["title"]: name for name, props, _ in parsed}
    assert level["privaudit over fail"] == "error"
    assert level["privaudit close warn"] == "warning"
    assert level["privaudit ok pass"] == "notice"
    assert {props["file"] for _, props, _ in parsed} == {"ledger.jsonl"}


def test_github_escapes_properties_and_messages() -> None:
    over = dataset(HOSTILE, status=Status.FAIL, findings=(finding(HOSTILE, Severity.FAIL),))
    output = render_github(assessment(over, ledger_path="ci:run,1/100%/ledger.jsonl"))
    lines = output.splitlines()
    # No injected line: one summary, one finding and the closing line.
    assert len(lines) == 3
    parsed = commands(output)
    assert [name for name, _, _ in parsed] == ["error", "error"]
    (_, summary_props, summary), (_, finding_props, message) = parsed
    assert summary_props["file"] == "ci:run,1/100%/ledger.jsonl"
    assert summary_props["title"] == f"privaudit {HOSTILE} fail"
    assert finding_props["title"] == f"privaudit {HOSTILE}"
    assert summary.startswith(HOSTILE)
    assert message == HOSTILE


def test_github_escapes_a_top_level_finding() -> None:
    output = render_github(
        assessment(status=Status.FAIL, findings=(finding(HOSTILE, Severity.FAIL),))
    )
    ((name, _, message),) = commands(output)
    assert name == "error"
    assert message == HOSTILE


# --- markdown ------------------------------------------------------------------------------


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_has_the_table_header_and_one_row_per_dataset() -> None:
    lines = render_markdown(mixed()).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| dataset |"))
    columns = unescaped_pipes(lines[header]) - 1
    assert re.fullmatch(r"\|(-*:?-+:?\|)+", lines[header + 1])
    rows = lines[header + 2 : header + 5]
    assert [row.split("|")[1].strip() for row in rows] == ["ok", "close", "over"]
    assert all(unescaped_pipes(row) == columns + 1 for row in rows)


def test_markdown_escapes_pipes_and_line_breaks() -> None:
    over = dataset("d", tier="x|y", status=Status.FAIL, findings=(finding(HOSTILE, Severity.FAIL),))
    output = render_markdown(assessment(over))
    assert "\r" not in output
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| dataset |"))
    row = lines[header + 2]
    assert unescaped_pipes(row) == unescaped_pipes(lines[header])
    assert "x\\|y" in row
    (note,) = [line for line in lines if line.startswith("- `d`")]
    assert "next\\|line" in note
    assert unescaped_pipes(note) == 0


# --- text ----------------------------------------------------------------------------------


def test_text_names_each_dataset_with_status_epsilon_and_limit() -> None:
    output = render_text(mixed())
    for ds in mixed().datasets:
        (line,) = [line for line in output.splitlines() if line.startswith(f"{ds.dataset} ")]
        assert ds.status.value.upper() in line
        match = re.search(r"ε = ([0-9.]+)", line)
        assert match is not None and float(match.group(1)) == pytest.approx(ds.epsilon, abs=1e-4)
        assert re.search(r"limit 1\b", line)
    assert output.splitlines()[0] == "privaudit: FAIL"


def test_text_shows_an_unbounded_epsilon() -> None:
    output = render_text(assessment(dataset("leak", status=Status.FAIL, epsilon=math.inf)))
    (line,) = [line for line in output.splitlines() if line.startswith("leak ")]
    assert "ε = ∞" in line and "FAIL" in line


def test_text_prints_a_declared_tolerance() -> None:
    output = render_text(assessment(dataset(tolerance=0.05)))
    assert "+5% declared tolerance" in output


def test_text_prints_no_tolerance_when_none_is_declared() -> None:
    assert "tolerance" not in render_text(assessment(dataset()))


def test_text_lists_findings_with_their_severity() -> None:
    output = render_text(assessment(dataset(findings=(finding("check me", Severity.WARN),))))
    assert "  WARN: check me" in output.splitlines()


# --- no policy: figures without a verdict --------------------------------------------------------


@pytest.mark.parametrize(
    ("render_format", "headline"),
    [
        (render_text, "privaudit: no policy given: no verdict"),
        (render_markdown, "## privaudit: no policy given: no verdict"),
        (render_github, "privaudit: no policy given: no verdict"),
    ],
)
def test_without_a_policy_the_formats_give_no_verdict(render_format: Any, headline: str) -> None:
    unjudged = assessment(dataset()).model_copy(update={"policy_given": False, "policy": None})

    text = render_format(unjudged)

    assert headline in text.splitlines()
    assert "pass" not in text.lower()
    assert exit_code(unjudged) == EXIT_OK


def test_without_a_policy_a_failure_is_still_a_failure() -> None:
    failed = assessment(dataset(status=Status.FAIL)).model_copy(update={"policy_given": False})

    assert render_text(failed).startswith("privaudit: FAIL\n")
    assert exit_code(failed) == EXIT_FAIL


# --- rounding toward the limit (issue 18) --------------------------------------------------
#
# A dataset over its limit by a hair: the policy's limit is the accountant's own ε − 1e-6. Its
# ε (σ = 4 at δ = 1e-6: 1.06070186...) rounded to the nearest 4 decimals would be 1.0607, below
# the limit; every format must show it rounded up, above the limit.

HAIR_SIGMA = 4.0
HAIR_DELTA = 1e-6
HAIR_QUERY = 1.0
"""The ε at which the text format also shows δ (2.92427...e-6: nearest 4 digits go down)."""


def over_by_a_hair(tmp_path: Path) -> tuple[Assessment, float]:
    """The assessment of a one-release ledger whose dataset fails by 1e-6, and its limit."""
    path = tmp_path / "ledger.jsonl"
    append_entry(path, dataset="d", mechanism={"type": "gaussian", "noise_multiplier": HAIR_SIGMA})
    ledger = read_ledger(path)
    epsilon = account([entry.mechanism for entry in ledger.entries], HAIR_DELTA).epsilon
    limit = epsilon - 1e-6
    policy = parse_policy(
        {
            "tiers": {"t": {"epsilon": limit, "delta": HAIR_DELTA}},
            "datasets": {"d": {"tier": "t", "size": 10**7}},
        },
        "<test>",
    )
    result = assess(ledger, policy, epsilon=HAIR_QUERY)
    (ds,) = result.datasets
    assert ds.status is Status.FAIL and ds.epsilon == epsilon
    assert float(f"{epsilon:.4f}") < limit  # nearest rounding would show ε below the limit
    return result, limit


def shown_epsilon(text: str, pattern: str = r"ε = ([0-9.]+) at δ") -> float:
    match = re.search(pattern, text)
    assert match is not None, text
    return float(match.group(1))


def test_text_shows_a_failing_epsilon_above_its_limit(tmp_path: Path) -> None:
    result, limit = over_by_a_hair(tmp_path)
    (line,) = [line for line in render_text(result).splitlines() if line.startswith("d ")]
    assert "FAIL" in line
    assert shown_epsilon(line) > limit


def test_markdown_shows_a_failing_epsilon_above_its_limit(tmp_path: Path) -> None:
    result, limit = over_by_a_hair(tmp_path)
    (row,) = [line for line in render_markdown(result).splitlines() if line.startswith("| d |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert float(cells[2]) > limit


def test_junit_shows_a_failing_epsilon_above_its_limit(tmp_path: Path) -> None:
    result, limit = over_by_a_hair(tmp_path)
    failure = ET.fromstring(render_junit(result)).find(".//failure")
    assert failure is not None
    assert shown_epsilon(failure.get("message", "")) > limit


def test_github_shows_a_failing_epsilon_above_its_limit(tmp_path: Path) -> None:
    result, limit = over_by_a_hair(tmp_path)
    (summary,) = [
        message
        for level, props, message in commands(render_github(result))
        if level == "error" and message.startswith("d: ")
    ]
    assert shown_epsilon(summary) > limit


def test_text_shows_the_limit_as_the_policy_gives_it(tmp_path: Path) -> None:
    # Rounded to 6 digits (1.06070) the limit would read below the exact one and close to the ε.
    result, limit = over_by_a_hair(tmp_path)
    assert f"limit {limit!r};" in render_text(result)


def test_used_fraction_of_a_failing_dataset_is_shown_above_100_percent(tmp_path: Path) -> None:
    result, _ = over_by_a_hair(tmp_path)
    (line,) = [line for line in render_text(result).splitlines() if line.startswith("d ")]
    used = re.search(r"used ([0-9.]+)%", line)
    assert used is not None and float(used.group(1)) > 100


def test_text_shows_a_delta_at_epsilon_no_smaller_than_the_exact_one(tmp_path: Path) -> None:
    result, _ = over_by_a_hair(tmp_path)
    exact = result.datasets[0].delta_at_epsilon
    assert exact is not None and float(f"{exact:.4g}") < exact  # nearest would go below
    match = re.search(r"δ at ε = 1: (\S+) \(PLD", render_text(result))
    assert match is not None
    assert float(match.group(1)) >= exact


def test_json_keeps_the_exact_epsilon_of_a_dataset_over_by_a_hair(tmp_path: Path) -> None:
    result, _ = over_by_a_hair(tmp_path)
    (ds,) = strict_json(render_json(result))["datasets"]
    assert ds["epsilon"] == result.datasets[0].epsilon
