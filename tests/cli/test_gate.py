"""``privaudit account`` and ``privaudit check``: the reference ε, exit codes of the CI gate, its
output formats, broken ledgers as failing verdicts, and any bytes as input never crashing it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privaudit.ledger import GENESIS, canonical_json, entry_hash
from tests.accounting.oracles import gaussian_delta
from tests.cli.helpers import (
    DPSGD_MNIST,
    EPSILON_GAUSSIAN_2,
    cli,
    one_error_line,
    policy_text,
    write_policy,
)
from tests.cli.tampering import edit_line, every_tampering, tamper
from tests.test_gate import REQUIRED_KEYS

# --- account: the done-criterion ---------------------------------------------------------------


def test_account_mnist_dpsgd_matches_the_reference_epsilon(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "mnist.jsonl"
    added = cli(
        capsys, "ledger", "add", path, "--dataset", "mnist", "--mechanism", json.dumps(DPSGD_MNIST)
    )

    result = cli(capsys, "account", path, "--delta", "1e-5", "--format", "json")

    assert added.code == 0, added.err
    assert result.code == 0, result.err
    [dataset] = json.loads(result.out)["datasets"]
    assert dataset["dataset"] == "mnist"
    assert dataset["delta"] == 1e-5
    assert dataset["method"] == "pld"
    assert 2.3800 <= dataset["epsilon_pld"] <= 2.3936
    assert dataset["epsilon"] == dataset["epsilon_pld"]
    assert dataset["epsilon_rdp"] >= dataset["epsilon_pld"]


def test_account_text_shows_pld_and_rdp(capsys: pytest.CaptureFixture[str], ledger: Path) -> None:
    result = cli(capsys, "account", ledger, "--delta", "1e-6")

    pld = re.search(r"PLD ε = (\d+\.\d+)", result.out)
    rdp = re.search(r"RDP ε = (\d+\.\d+)", result.out)
    assert result.code == 0
    assert pld is not None and rdp is not None, result.out
    assert EPSILON_GAUSSIAN_2 <= float(pld.group(1)) + 5e-5 <= EPSILON_GAUSSIAN_2 * 1.005 + 1e-4
    assert float(rdp.group(1)) >= float(pld.group(1))


def test_account_reports_delta_at_a_given_epsilon(
    capsys: pytest.CaptureFixture[str], ledger: Path
) -> None:
    result = cli(capsys, "account", ledger, "--epsilon", "1.5", "--format", "json")

    [dataset] = json.loads(result.out)["datasets"]
    exact = gaussian_delta(1.5, 1 / 2.0)
    assert result.code == 0
    assert dataset["epsilon_query"] == 1.5
    assert exact <= dataset["delta_at_epsilon"] <= exact * 1.01
    assert dataset["delta_at_epsilon_rdp"] >= dataset["delta_at_epsilon_pld"]


def test_account_uses_the_policy_delta(
    capsys: pytest.CaptureFixture[str], ledger: Path, policy: Path
) -> None:
    result = cli(capsys, "account", ledger, "--policy", policy, "--format", "json")

    [dataset] = json.loads(result.out)["datasets"]
    assert result.code == 0
    assert dataset["delta"] == 1e-6
    assert dataset["limit_epsilon"] == 10.0


# --- check: a tampered ledger is a failing verdict ---------------------------------------------


@every_tampering
def test_check_fails_naming_the_tampered_line(
    capsys: pytest.CaptureFixture[str],
    five: Path,
    policy: Path,
    name: str,
    change: Callable[[list[bytes], int], list[bytes]],
    n: int,
) -> None:
    tampered = tamper(five, change, n)

    result = cli(capsys, "check", five, "--policy", policy)

    assert result.code == 1
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith(f"privaudit: {five}: line {n}: "), result.err
    assert result.out.startswith("privaudit: FAIL")
    assert f"FAIL: {five}: line {n}: " in result.out
    assert five.read_bytes() == tampered


def test_check_json_reports_a_broken_chain(
    capsys: pytest.CaptureFixture[str], five: Path, policy: Path
) -> None:
    tamper(five, edit_line, 3)

    result = cli(capsys, "check", five, "--policy", policy, "--format", "json")

    data = json.loads(result.out)
    assert result.code == 1
    assert data["status"] == "fail"
    assert data["datasets"] == []
    [finding] = data["findings"]
    assert finding["code"] == "ledger_chain_broken"
    assert "line 3" in finding["message"]


# --- check: exit codes -------------------------------------------------------------------------


def test_check_within_budget_passes(
    capsys: pytest.CaptureFixture[str], ledger: Path, policy: Path
) -> None:
    result = cli(capsys, "check", ledger, "--policy", policy)

    assert result.code == 0, result.text
    assert result.out.startswith("privaudit: PASS")
    assert "ds [t] PASS" in result.out
    assert "WARN" not in result.out
    assert result.err == ""


def test_check_over_the_tier_limit_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ledger: Path
) -> None:
    policy = write_policy(tmp_path / "tight.yaml", 2.0)  # ε ≈ 2.254 > 2

    result = cli(capsys, "check", ledger, "--policy", policy)

    assert result.code == 1
    assert result.out.startswith("privaudit: FAIL")
    assert "ds [t] FAIL" in result.out
    assert "limit 2;" in result.out


def test_check_in_the_warn_zone_passes_with_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ledger: Path
) -> None:
    policy = write_policy(tmp_path / "warn.yaml", 2.6)  # 2.254 / 2.6 ≈ 87% ≥ warn_at 80%

    result = cli(capsys, "check", ledger, "--policy", policy)

    assert result.code == 0
    assert result.out.startswith("privaudit: WARN")
    assert "ds [t] WARN" in result.out
    assert re.search(r"used 8\d\.\d%", result.out), result.out


def test_check_just_below_warn_at_passes_without_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ledger: Path
) -> None:
    policy = write_policy(tmp_path / "edge.yaml", EPSILON_GAUSSIAN_2 / 0.79)  # ≈ 79% used

    result = cli(capsys, "check", ledger, "--policy", policy)

    assert result.code == 0
    assert result.out.startswith("privaudit: PASS")


def test_check_fails_a_dataset_missing_from_the_policy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ledger: Path
) -> None:
    policy = write_policy(tmp_path / "other.yaml", 10.0, dataset="other")

    result = cli(capsys, "check", ledger, "--policy", policy)

    assert result.code == 1
    assert "dataset 'ds' is in the ledger but not in the policy" in result.out


# --- check: output formats ---------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """A policy whose limit puts the ``ledger`` fixture at ``status``, and what check answers."""

    policy: Path
    limit: float
    status: str
    code: int
    level: str
    """The GitHub annotation level of the status."""


VERDICTS = [(10.0, "pass", 0, "notice"), (2.6, "warn", 0, "warning"), (2.0, "fail", 1, "error")]


@pytest.fixture(params=VERDICTS, ids=[status for _, status, _, _ in VERDICTS])
def verdict(request: pytest.FixtureRequest, tmp_path: Path) -> Verdict:
    limit, status, code, level = request.param
    return Verdict(write_policy(tmp_path / "p.yaml", limit), limit, status, code, level)


def test_check_json_has_the_documented_keys(
    capsys: pytest.CaptureFixture[str], ledger: Path, verdict: Verdict
) -> None:
    result = cli(capsys, "check", ledger, "--policy", verdict.policy, "--format", "json")

    data = json.loads(result.out)
    assert result.code == verdict.code
    assert {"status", "datasets"} <= data.keys()
    assert data["status"] == verdict.status
    [dataset] = data["datasets"]
    assert dataset.keys() >= REQUIRED_KEYS
    assert dataset["status"] == verdict.status
    assert dataset["limit_epsilon"] == verdict.limit
    assert dataset["used_fraction"] == pytest.approx(dataset["epsilon"] / verdict.limit)
    assert dataset["epsilon"] == pytest.approx(EPSILON_GAUSSIAN_2, abs=1e-3)


def test_check_junit_has_a_failure_exactly_when_failing(
    capsys: pytest.CaptureFixture[str], ledger: Path, verdict: Verdict
) -> None:
    result = cli(capsys, "check", ledger, "--policy", verdict.policy, "--format", "junit")

    root = ET.fromstring(result.out)
    failures = list(root.iter("failure"))
    assert result.code == verdict.code
    assert root.tag == "testsuites"
    assert [case.get("name") for case in root.iter("testcase")] == ["ds within budget"]
    assert len(failures) == (1 if verdict.status == "fail" else 0)
    assert root.get("failures") == str(len(failures))


def test_check_github_writes_workflow_commands(
    capsys: pytest.CaptureFixture[str], ledger: Path, verdict: Verdict
) -> None:
    result = cli(capsys, "check", ledger, "--policy", verdict.policy, "--format", "github")

    *annotations, summary = result.out.splitlines()
    assert result.code == verdict.code
    assert annotations
    for line in annotations:
        assert re.match(r"::(error|warning|notice) ", line), line
    assert annotations[0].startswith(f"::{verdict.level} file={ledger},")
    assert summary == f"privaudit: {verdict.status}"


def test_check_markdown_has_a_table(
    capsys: pytest.CaptureFixture[str], ledger: Path, policy: Path
) -> None:
    result = cli(capsys, "check", ledger, "--policy", policy, "--format", "markdown")

    lines = result.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| dataset |"))
    assert result.code == 0
    assert lines[0].startswith("## privaudit:")
    assert "| ε |" in lines[header]
    assert lines[header + 1].startswith("|---|")
    assert lines[header + 2].startswith("| ds | t |")


@pytest.mark.parametrize("output_format", ["json", "junit", "markdown", "github", "text"])
def test_check_output_writes_the_format_to_the_file_and_text_to_stdout(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    ledger: Path,
    policy: Path,
    output_format: str,
) -> None:
    target = tmp_path / f"result.{output_format}"

    result = cli(
        capsys, "check", ledger, "--policy", policy, "--format", output_format, "--output", target
    )
    direct = cli(capsys, "check", ledger, "--policy", policy, "--format", output_format)

    written = target.read_text(encoding="utf-8")
    assert result.code == 0
    assert result.out.startswith("privaudit: PASS\n")
    assert "ds [t] PASS" in result.out
    # The same document as without --output, except for its generation time.
    assert _without_times(written) == _without_times(direct.out)


def _without_times(text: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>", text)


def test_check_output_json_file_parses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ledger: Path, policy: Path
) -> None:
    target = tmp_path / "result.json"

    result = cli(
        capsys, "check", ledger, "--policy", policy, "--format", "json", "--output", target
    )

    assert result.code == 0
    assert json.loads(target.read_text(encoding="utf-8"))["status"] == "pass"
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.out)  # stdout holds the text summary, not the document


# --- fuzzing: any bytes as ledger or policy ----------------------------------------------------


@cache
def _valid_ledger_bytes() -> bytes:
    lines: list[bytes] = []
    prev = GENESIS
    for seq, sigma in enumerate((2.0, 3.0, 4.0), start=1):
        obj: dict[str, Any] = {
            "seq": seq,
            "time": "2026-01-02T03:04:05.000006Z",
            "dataset": "ds",
            "partition": None if seq == 1 else f"p{seq}",
            "privacy_unit": "example",
            "run": None,
            "mechanism": {"type": "gaussian", "noise_multiplier": sigma},
            "meta": {},
            "prev": prev,
        }
        obj["hash"] = prev = entry_hash(obj)
        lines.append(canonical_json(obj) + b"\n")
    return b"".join(lines)


def _mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    """``valid`` with a random slice replaced by random bytes (near-misses of a good file)."""
    return st.tuples(st.integers(0, len(valid)), st.integers(0, 24), st.binary(max_size=24)).map(
        lambda cut: valid[: cut[0]] + cut[2] + valid[cut[0] + cut[1] :]
    )


ANY_BYTES = st.binary(max_size=1024)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _check_survives(capsys: pytest.CaptureFixture[str], ledger: Path, policy: Path) -> None:
    before = (ledger.read_bytes(), policy.read_bytes())

    result = cli(capsys, "check", ledger, "--policy", policy)

    assert result.code in {0, 1, 2}
    assert "Traceback" not in result.text
    assert "internal error" not in result.err
    if result.code == 2:
        one_error_line(result)
    assert (ledger.read_bytes(), policy.read_bytes()) == before


@FUZZ
@given(data=st.one_of(ANY_BYTES, _mutations(_valid_ledger_bytes())))
def test_any_bytes_as_ledger_never_crash_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: bytes
) -> None:
    ledger = tmp_path / "fuzz.jsonl"
    ledger.write_bytes(data)
    policy = write_policy(tmp_path / "fuzz-policy.yaml", 10.0)

    _check_survives(capsys, ledger, policy)


@FUZZ
@given(data=st.one_of(ANY_BYTES, _mutations(policy_text(10.0).encode())))
def test_any_bytes_as_policy_never_crash_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: bytes
) -> None:
    ledger = tmp_path / "fuzz.jsonl"
    ledger.write_bytes(_valid_ledger_bytes())
    policy = tmp_path / "fuzz-policy.yaml"
    policy.write_bytes(data)

    _check_survives(capsys, ledger, policy)


def test_the_help_text_names_the_default_delta_the_assessment_uses() -> None:
    # The CLI repeats the constant so that `--help` does not load the accountant.
    from privaudit import assess
    from privaudit.cli import gate as cli_gate

    assert cli_gate.DEFAULT_DELTA == assess.DEFAULT_DELTA


# --- --delta with a policy may only tighten the tiers' δ (issue 18) ----------------------------

FINANCIAL = (
    "version: 1\n"
    "tiers:\n"
    "  financial:\n"
    "    epsilon: 1\n"
    "    delta: 1.0e-6\n"
    "    privacy_unit: example\n"
    "datasets:\n"
    "  ds:\n"
    "    tier: financial\n"
    "    size: 1000\n"
)
"""The reproduction: one Gaussian release with σ = 4 is ε ≈ 1.061 at δ = 1e-6, over ε ≤ 1."""


def _financial(tmp_path: Path) -> tuple[Path, Path]:
    from privaudit.ledger import append_entry

    ledger = tmp_path / "financial.jsonl"
    append_entry(ledger, dataset="ds", mechanism={"type": "gaussian", "noise_multiplier": 4.0})
    policy = tmp_path / "financial.yaml"
    policy.write_text(FINANCIAL, encoding="utf-8")
    return ledger, policy


def test_check_refuses_a_delta_looser_than_the_tier(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ledger, policy = _financial(tmp_path)

    failing = cli(capsys, "check", ledger, "--policy", policy)
    loosened = cli(capsys, "check", ledger, "--policy", policy, "--delta", "5e-4")

    assert failing.code == 1
    line = one_error_line(loosened)
    assert loosened.code == 2, loosened.out
    assert "PASS" not in loosened.out
    assert line.startswith("privaudit: error: --delta: ")
    assert "0.0005" in line and "'financial'" in line and "1e-6" in line


def test_account_with_a_policy_refuses_a_delta_looser_than_the_tier(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ledger, policy = _financial(tmp_path)

    result = cli(capsys, "account", ledger, "--policy", policy, "--delta", "5e-4")

    line = one_error_line(result)
    assert result.code == 2
    assert "--delta" in line and "'financial'" in line


@pytest.mark.parametrize("output_format", ["text", "json", "markdown", "junit", "github"])
def test_check_with_a_tighter_delta_says_so_in_every_format(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, output_format: str
) -> None:
    ledger, policy = _financial(tmp_path)

    result = cli(
        capsys, "check", ledger, "--policy", policy, "--delta", "1e-7", "--format", output_format
    )

    said = result.out
    if output_format == "json":
        said = json.dumps(json.loads(result.out), ensure_ascii=False)
    assert result.code == 1, result.err  # a tighter δ only makes ε larger: still over the limit
    assert "δ = 1e-7 is tighter than the policy's δ = 1e-6 (tier financial)" in said


# --- account without a policy: figures, no verdict (issue 18) ----------------------------------


def test_account_without_a_policy_gives_no_verdict(
    capsys: pytest.CaptureFixture[str], ledger: Path
) -> None:
    result = cli(capsys, "account", ledger)

    assert result.code == 0, result.err
    assert result.out.startswith("privaudit: no policy given: no verdict\n")
    assert "PASS" not in result.out
    assert "limit no limit" not in result.out
    assert re.search(r"ds: ε = \d+\.\d+ at δ = 1e-05", result.out), result.out


def test_account_json_without_a_policy_says_no_policy_was_given(
    capsys: pytest.CaptureFixture[str], ledger: Path, policy: Path
) -> None:
    without = cli(capsys, "account", ledger, "--format", "json")
    with_policy = cli(capsys, "account", ledger, "--policy", policy, "--format", "json")

    assert json.loads(without.out)["policy_given"] is False
    assert json.loads(with_policy.out)["policy_given"] is True
