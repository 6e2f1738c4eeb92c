"""Tests of the command line: exit codes, messages and output formats of ``privaudit``.

Most tests call :func:`privaudit.cli.main` in-process and capture its output with ``capsys``;
a few run the real interpreter (``python -m privaudit.cli`` and the installed console script)
to prove that what a CI job sees is one line on stderr and never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privaudit.cli import main
from privaudit.ledger import GENESIS, append_entry, canonical_json, entry_hash
from privaudit.policy import load_policy
from tests.accounting.oracles import gaussian_delta, gaussian_epsilon

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_POLICIES = sorted(
    [ROOT / "policies" / "tiers.yaml", *(ROOT / "policies" / "examples").glob("*.yaml")]
)

GAUSSIAN_2 = {"type": "gaussian", "noise_multiplier": 2.0}
"""One Gaussian release, σ = 2."""
EPSILON_GAUSSIAN_2 = gaussian_epsilon(1e-6, 1 / 2.0)
"""Its exact ε at δ = 1e-6 (Balle & Wang 2018), ≈ 2.254."""

# The done-criterion run: MNIST DP-SGD of Abadi et al. 2016 (σ 1.1, batch 256 of 60,000,
# 60 epochs = 14,062 steps, Poisson sampling). Reference ε at δ = 1e-5 from dp_accounting's PLD
# and Opacus' PRV accountant: 2.38-2.39.
DPSGD_MNIST = {
    "type": "dpsgd",
    "noise_multiplier": 1.1,
    "sampling_rate": 256 / 60000,
    "steps": 14062,
    "sampling": "poisson",
}

JSON_DATASET_KEYS = {
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


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Result:
    capsys.readouterr()  # drop anything printed before this call
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def run_python(*args: str | Path, cwd: Path, executable: str | Path = sys.executable) -> Result:
    env = {key: value for key, value in os.environ.items() if key != "PRIVAUDIT_DEBUG"}
    argv = [str(executable), *(str(arg) for arg in args)]
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return Result(done.returncode, done.stdout, done.stderr)


def policy_text(epsilon: float = 10.0, *, dataset: str = "ds", warn_at: float = 0.8) -> str:
    return (
        "version: 1\n"
        "tiers:\n"
        "  t:\n"
        f"    epsilon: {epsilon!r}\n"
        "    delta: 1.0e-6\n"
        f"    warn_at: {warn_at!r}\n"
        "    privacy_unit: example\n"
        "datasets:\n"
        f"  {dataset}:\n"
        "    tier: t\n"
        "    size: 100000\n"
    )


def write_policy(path: Path, epsilon: float = 10.0, **kwargs: Any) -> Path:
    path.write_text(policy_text(epsilon, **kwargs), encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def one_error_line(result: Result) -> str:
    """The single stderr line of a usage error, after checking its shape."""
    assert result.err.endswith("\n"), result.err
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.text
    assert "internal error" not in result.err
    return result.err.rstrip("\n")


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A valid ledger: one Gaussian release (σ = 2) on dataset ``ds``."""
    path = tmp_path / "ledger.jsonl"
    append_entry(path, dataset="ds", mechanism=GAUSSIAN_2, privacy_unit="example")
    return path


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """A policy with ``ds`` under a tier of ε ≤ 10, δ = 1e-6: the ledger above passes."""
    return write_policy(tmp_path / "policy.yaml", 10.0)


# --- policy ------------------------------------------------------------------------------------


def test_shipped_policies_are_found() -> None:
    names = [path.name for path in SHIPPED_POLICIES]

    assert "tiers.yaml" in names
    assert len(names) >= 4


@pytest.mark.parametrize("path", SHIPPED_POLICIES, ids=lambda path: path.name)
def test_policy_validate_accepts_every_shipped_policy(
    capsys: pytest.CaptureFixture[str], path: Path
) -> None:
    result = cli(capsys, "policy", "validate", path)

    assert result.code == 0, result.err
    assert f"{path}: valid policy with" in result.out
    assert result.err == ""


def test_policy_validate_json_reports_the_parsed_policy(
    capsys: pytest.CaptureFixture[str], policy: Path
) -> None:
    result = cli(capsys, "policy", "validate", policy, "--format", "json")

    data = json.loads(result.out)
    assert result.code == 0
    assert data["valid"] is True
    assert data["policy"]["tiers"]["t"]["epsilon"] == 10.0
    assert data["policy"]["datasets"]["ds"]["size"] == 100000


def test_policy_schema_prints_a_json_schema_with_tiers(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "policy", "schema")

    schema = json.loads(result.out)
    assert result.code == 0
    assert "tiers" in schema["properties"]
    assert "tiers" in schema.get("required", [])


def test_policy_init_writes_a_policy_that_validates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "new-policy.yaml"

    written = cli(capsys, "policy", "init", target)
    validated = cli(capsys, "policy", "validate", target)

    assert written.code == 0
    assert target.is_file()
    assert validated.code == 0, validated.err
    assert load_policy(target).tiers


def test_policy_init_refuses_to_overwrite_without_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "existing.yaml"
    target.write_text("# my own policy\n", encoding="utf-8")

    result = cli(capsys, "policy", "init", target)

    line = one_error_line(result)
    assert result.code == 2
    assert str(target) in line
    assert "--force" in line
    assert target.read_text(encoding="utf-8") == "# my own policy\n"


def test_policy_init_force_overwrites(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "existing.yaml"
    target.write_text("# my own policy\n", encoding="utf-8")

    result = cli(capsys, "policy", "init", target, "--force")

    assert result.code == 0
    assert "tiers:" in target.read_text(encoding="utf-8")


# --- ledger add / verify -----------------------------------------------------------------------


def test_ledger_add_from_json_text_then_verify(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "new.jsonl"

    added = cli(
        capsys, "ledger", "add", path, "--dataset", "ds", "--mechanism", json.dumps(GAUSSIAN_2)
    )
    verified = cli(capsys, "ledger", "verify", path)

    assert added.code == 0, added.err
    assert "appended entry 1" in added.out
    assert verified.code == 0
    assert "1 entries, hash chain intact" in verified.out


def test_ledger_add_from_file_then_verify_counts_entries(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ledger: Path
) -> None:
    mechanism = tmp_path / "mechanism.json"
    mechanism.write_text(json.dumps(DPSGD_MNIST), encoding="utf-8")

    added = cli(capsys, "ledger", "add", ledger, "--dataset", "ds", "--mechanism", f"@{mechanism}")
    verified = cli(capsys, "ledger", "verify", ledger, "--format", "json")

    assert added.code == 0, added.err
    assert "appended entry 2 (dpsgd(" in added.out
    assert verified.code == 0
    assert json.loads(verified.out)["entries"] == 2


def test_ledger_add_json_output_echoes_the_entry(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "new.jsonl"

    result = cli(
        capsys,
        "ledger",
        "add",
        path,
        "--dataset",
        "ds",
        "--partition",
        "silo-1",
        "--run",
        "run-7",
        "--meta",
        '{"lr": 0.1}',
        "--mechanism",
        json.dumps(GAUSSIAN_2),
        "--format",
        "json",
    )

    entry = json.loads(result.out)
    assert result.code == 0
    assert entry["seq"] == 1
    assert entry["prev"] == GENESIS
    assert entry["partition"] == "silo-1"
    assert entry["run"] == "run-7"
    assert entry["meta"] == {"lr": 0.1}
    assert entry["mechanism"] == GAUSSIAN_2
    assert entry["hash"] == json.loads(path.read_bytes())["hash"]


def test_ledger_verify_json_output_parses(capsys: pytest.CaptureFixture[str], ledger: Path) -> None:
    result = cli(capsys, "ledger", "verify", ledger, "--format", "json")

    data = json.loads(result.out)
    assert result.code == 0
    assert data["valid"] is True
    assert data["entries"] == 1
    assert data["head"] == json.loads(ledger.read_bytes())["hash"]


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


# --- tampering ---------------------------------------------------------------------------------

TAMPER_ENTRIES = 5


@pytest.fixture
def five(tmp_path: Path) -> Path:
    """Five Gaussian releases on ``ds`` (σ = 3..7); well within the policy fixture's ε ≤ 10."""
    path = tmp_path / "five.jsonl"
    for i in range(TAMPER_ENTRIES):
        append_entry(path, dataset="ds", mechanism={"type": "gaussian", "noise_multiplier": 3 + i})
    return path


def edit_line(lines: list[bytes], n: int) -> list[bytes]:
    """Change the noise multiplier on line ``n``; the line stays valid, canonical JSON."""
    obj = json.loads(lines[n - 1])
    obj["mechanism"]["noise_multiplier"] += 0.5
    return [*lines[: n - 1], canonical_json(obj) + b"\n", *lines[n:]]


def delete_line(lines: list[bytes], n: int) -> list[bytes]:
    return lines[: n - 1] + lines[n:]


def swap_lines(lines: list[bytes], n: int) -> list[bytes]:
    """Swap line ``n`` with line ``n + 1``."""
    swapped = list(lines)
    swapped[n - 1], swapped[n] = swapped[n], swapped[n - 1]
    return swapped


TAMPERINGS: list[tuple[str, Callable[[list[bytes], int], list[bytes]], int]] = [
    *(("edit", edit_line, n) for n in range(1, TAMPER_ENTRIES + 1)),
    # Deleting the last line leaves a valid, shorter chain: see test_deleting_the_last_line_...
    *(("delete", delete_line, n) for n in range(1, TAMPER_ENTRIES)),
    *(("swap", swap_lines, n) for n in range(1, TAMPER_ENTRIES)),
]
TAMPER_IDS = [f"{name}-line-{n}" for name, _, n in TAMPERINGS]


def tamper(path: Path, change: Callable[[list[bytes], int], list[bytes]], n: int) -> bytes:
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == TAMPER_ENTRIES
    changed = b"".join(change(lines, n))
    for line in changed.splitlines():
        json.loads(line)  # every tampering keeps each line valid JSON
    path.write_bytes(changed)
    return changed


@pytest.mark.parametrize(("name", "change", "n"), TAMPERINGS, ids=TAMPER_IDS)
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


@pytest.mark.parametrize(("name", "change", "n"), TAMPERINGS, ids=TAMPER_IDS)
def test_ledger_verify_fails_naming_the_tampered_line(
    capsys: pytest.CaptureFixture[str],
    five: Path,
    name: str,
    change: Callable[[list[bytes], int], list[bytes]],
    n: int,
) -> None:
    tamper(five, change, n)

    result = cli(capsys, "ledger", "verify", five)

    assert result.code == 1
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith(f"privaudit: error: {five}: line {n}: "), result.err
    assert result.out == ""


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


def test_deleting_the_last_line_is_not_claimed_to_be_detected(
    capsys: pytest.CaptureFixture[str], five: Path, policy: Path
) -> None:
    # A hash chain cannot see its own end cut off (ledger.py documents this): the shorter
    # ledger verifies, and only a head recorded elsewhere reveals the deletion.
    original = cli(capsys, "ledger", "verify", five, "--format", "json")
    tamper(five, delete_line, TAMPER_ENTRIES)

    verified = cli(capsys, "ledger", "verify", five, "--format", "json")
    checked = cli(capsys, "check", five, "--policy", policy)

    assert verified.code == 0
    assert json.loads(verified.out)["entries"] == TAMPER_ENTRIES - 1
    assert json.loads(verified.out)["head"] != json.loads(original.out)["head"]
    assert checked.code == 0
    assert f"{TAMPER_ENTRIES - 1} entries" in checked.out


def test_ledger_add_refuses_to_extend_a_tampered_ledger(
    capsys: pytest.CaptureFixture[str], five: Path
) -> None:
    tampered = tamper(five, edit_line, 2)

    result = cli(
        capsys, "ledger", "add", five, "--dataset", "ds", "--mechanism", json.dumps(GAUSSIAN_2)
    )

    assert result.code == 1
    assert f"{five}: line 2: " in result.err
    assert five.read_bytes() == tampered


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

VERDICTS = [(10.0, "pass", 0), (2.6, "warn", 0), (2.0, "fail", 1)]
VERDICT_IDS = [status for _, status, _ in VERDICTS]


@pytest.mark.parametrize(("limit", "status", "code"), VERDICTS, ids=VERDICT_IDS)
def test_check_json_has_the_documented_keys(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    ledger: Path,
    limit: float,
    status: str,
    code: int,
) -> None:
    policy = write_policy(tmp_path / "p.yaml", limit)

    result = cli(capsys, "check", ledger, "--policy", policy, "--format", "json")

    data = json.loads(result.out)
    assert result.code == code
    assert {"status", "datasets"} <= data.keys()
    assert data["status"] == status
    [dataset] = data["datasets"]
    assert dataset.keys() >= JSON_DATASET_KEYS
    assert dataset["status"] == status
    assert dataset["limit_epsilon"] == limit
    assert dataset["used_fraction"] == pytest.approx(dataset["epsilon"] / limit)
    assert dataset["epsilon"] == pytest.approx(EPSILON_GAUSSIAN_2, abs=1e-3)


@pytest.mark.parametrize(("limit", "status", "code"), VERDICTS, ids=VERDICT_IDS)
def test_check_junit_has_a_failure_exactly_when_failing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    ledger: Path,
    limit: float,
    status: str,
    code: int,
) -> None:
    policy = write_policy(tmp_path / "p.yaml", limit)

    result = cli(capsys, "check", ledger, "--policy", policy, "--format", "junit")

    root = ET.fromstring(result.out)
    failures = list(root.iter("failure"))
    assert result.code == code
    assert root.tag == "testsuites"
    assert [case.get("name") for case in root.iter("testcase")] == ["ds within budget"]
    assert len(failures) == (1 if status == "fail" else 0)
    assert root.get("failures") == str(len(failures))


@pytest.mark.parametrize(
    ("limit", "status", "code", "level"),
    [(10.0, "pass", 0, "notice"), (2.6, "warn", 0, "warning"), (2.0, "fail", 1, "error")],
    ids=VERDICT_IDS,
)
def test_check_github_writes_workflow_commands(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    ledger: Path,
    limit: float,
    status: str,
    code: int,
    level: str,
) -> None:
    policy = write_policy(tmp_path / "p.yaml", limit)

    result = cli(capsys, "check", ledger, "--policy", policy, "--format", "github")

    *annotations, summary = result.out.splitlines()
    assert result.code == code
    assert annotations
    for line in annotations:
        assert re.match(r"::(error|warning|notice) ", line), line
    assert annotations[0].startswith(f"::{level} file={ledger},")
    assert summary == f"privaudit: {status}"


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


# --- malformed input: exit 2, one line naming file and field, nothing changed -----------------


@dataclass(frozen=True)
class Bad:
    """A malformed invocation: extra files to create, argv, and what the message must name."""

    id: str
    argv: tuple[str, ...]
    names: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()


def _mechanism(**fields: Any) -> str:
    return json.dumps(fields)


def _add(mechanism: str, *more: str) -> tuple[str, ...]:
    return ("ledger", "add", "{ledger}", "--dataset", "ds", "--mechanism", mechanism, *more)


def _check(ledger: str = "{ledger}", policy: str = "{policy}", *more: str) -> tuple[str, ...]:
    return ("check", ledger, "--policy", policy, *more)


@cache
def _hand_ledger_with_unknown_type() -> bytes:
    # A correctly hashed line whose mechanism names a Python callable: parsing must not follow it.
    obj: dict[str, Any] = {
        "seq": 1,
        "time": "2026-01-02T03:04:05.000006Z",
        "dataset": "ds",
        "partition": None,
        "privacy_unit": None,
        "run": None,
        "mechanism": {"type": "os.system", "command": "echo hacked"},
        "meta": {},
        "prev": GENESIS,
    }
    obj["hash"] = entry_hash(obj)
    return canonical_json(obj) + b"\n"


BAD_INPUTS = [
    Bad(
        "policy-bad-yaml",
        _check(policy="{dir}/bad.yaml"),
        ("bad.yaml", "line 2", "invalid YAML"),
        (("bad.yaml", b"tiers: [\n"),),
    ),
    Bad(
        "policy-unknown-field",
        _check(policy="{dir}/bad.yaml"),
        ("bad.yaml", "tiers.t.epsilonn", "unknown field"),
        (("bad.yaml", b"tiers:\n  t: {epsilonn: 1.0, delta: 1.0e-6}\n"),),
    ),
    Bad(
        "policy-nan",
        _check(policy="{dir}/bad.yaml"),
        ("bad.yaml", "tiers.t.epsilon", "NaN"),
        (("bad.yaml", b"tiers:\n  t: {epsilon: .nan, delta: 1.0e-6}\n"),),
    ),
    Bad(
        "policy-unknown-tier",
        _check(policy="{dir}/bad.yaml"),
        ("bad.yaml", "datasets.ds.tier", "nope"),
        (
            (
                "bad.yaml",
                b"tiers:\n  t: {epsilon: 1.0, delta: 1.0e-6}\n"
                b"datasets:\n  ds: {tier: nope, size: 10}\n",
            ),
        ),
    ),
    Bad(
        "policy-missing",
        _check(policy="{dir}/missing.yaml"),
        ("missing.yaml", "no such file"),
    ),
    Bad(
        "sigma-zero",
        _add(_mechanism(type="gaussian", noise_multiplier=0)),
        ("--mechanism", "mechanism.noise_multiplier", "found 0"),
    ),
    Bad(
        "sigma-negative",
        _add(_mechanism(type="dpsgd", noise_multiplier=-1.1, sampling_rate=0.01, steps=10)),
        ("--mechanism", "mechanism.noise_multiplier", "found -1.1"),
    ),
    Bad(
        "sampling-rate-above-one",
        _add(_mechanism(type="dpsgd", noise_multiplier=1.1, sampling_rate=1.5, steps=10)),
        ("--mechanism", "mechanism.sampling_rate", "found 1.5"),
    ),
    Bad(
        "noise-as-string",
        _add(_mechanism(type="gaussian", noise_multiplier="1.1")),
        ("--mechanism", "mechanism.noise_multiplier", "'1.1'"),
    ),
    Bad(
        "fractional-steps",
        _add(_mechanism(type="dpsgd", noise_multiplier=1.1, sampling_rate=0.01, steps=10.5)),
        ("--mechanism", "mechanism.steps", "10.5"),
    ),
    Bad(
        "unknown-mechanism-type",
        _add(_mechanism(type="os.system", command="echo hacked")),
        ("--mechanism", "mechanism.type", "os.system"),
    ),
    Bad(
        "mechanism-nan",
        _add('{"type": "gaussian", "noise_multiplier": NaN}'),
        ("--mechanism", "NaN"),
    ),
    Bad(
        "mechanism-file-bad-sigma",
        _add("@{dir}/mechanism.json"),
        ("mechanism.json", "mechanism.noise_multiplier"),
        (("mechanism.json", b'{"type": "gaussian", "noise_multiplier": -2}'),),
    ),
    Bad(
        "mechanism-file-missing",
        _add("@{dir}/absent.json"),
        ("absent.json", "--mechanism"),
    ),
    Bad(
        "bad-meta-json",
        _add(json.dumps(GAUSSIAN_2), "--meta", "{not json"),
        ("--meta", "invalid JSON"),
    ),
    Bad(
        "meta-not-an-object",
        _add(json.dumps(GAUSSIAN_2), "--meta", "[1, 2]"),
        ("--meta", "expected a JSON object"),
    ),
    Bad(
        "bad-dataset-id",
        (
            "ledger",
            "add",
            "{ledger}",
            "--dataset",
            "no spaces",
            "--mechanism",
            '{"type": "gaussian", "noise_multiplier": 2}',
        ),
        ("--dataset", "dataset", "'no spaces'"),
    ),
    Bad(
        "empty-ledger",
        _check(ledger="{dir}/empty.jsonl"),
        ("empty.jsonl", "empty"),
        (("empty.jsonl", b""),),
    ),
    Bad(
        "binary-ledger",
        _check(ledger="{dir}/garbage.jsonl"),
        ("garbage.jsonl", "line 1"),
        (("garbage.jsonl", bytes(range(256)) * 4),),
    ),
    Bad(
        "non-utf8-ledger",
        _check(ledger="{dir}/latin1.jsonl"),
        ("latin1.jsonl", "line 1", "UTF-8"),
        (("latin1.jsonl", '{"dataset": "café"}\n'.encode("latin-1")),),
    ),
    Bad(
        "ledger-line-with-unknown-mechanism-type",
        _check(ledger="{dir}/hand.jsonl"),
        ("hand.jsonl", "line 1: mechanism.type", "os.system"),
        (("hand.jsonl", _hand_ledger_with_unknown_type()),),
    ),
    Bad(
        "missing-ledger",
        _check(ledger="{dir}/missing.jsonl"),
        ("missing.jsonl", "no such ledger file"),
    ),
    Bad("delta-above-one", _check("{ledger}", "{policy}", "--delta", "2"), ("--delta", "2")),
    Bad("delta-zero", ("account", "{ledger}", "--delta", "0"), ("--delta", "(0, 1)")),
    Bad("delta-not-a-number", _check("{ledger}", "{policy}", "--delta", "abc"), ("--delta",)),
    Bad("unknown-option", _check("{ledger}", "{policy}", "--bogus"), ("--bogus",)),
    Bad(
        "bad-format-choice", _check("{ledger}", "{policy}", "--format", "xml"), ("--format", "xml")
    ),
    Bad(
        "account-format-is-text-or-json",
        ("account", "{ledger}", "--format", "junit"),
        ("--format",),
    ),
    Bad("missing-policy-option", ("check", "{ledger}"), ("--policy",)),
    Bad(
        "output-over-the-ledger",
        _check("{ledger}", "{policy}", "--format", "json", "--output", "{ledger}"),
        ("ledger.jsonl", "ledger file"),
    ),
    Bad(
        "output-over-the-policy",
        _check("{ledger}", "{policy}", "--output", "{policy}"),
        ("policy.yaml", "policy file"),
    ),
    Bad(
        "output-is-a-folder",
        _check("{ledger}", "{policy}", "--output", "{dir}"),
        ("folder",),
    ),
    Bad(
        "output-folder-missing",
        _check("{ledger}", "{policy}", "--output", "{dir}/nowhere/result.json"),
        ("result.json", "does not exist"),
    ),
    Bad(
        "policy-validate-wrong-suffix",
        ("policy", "validate", "{ledger}"),
        ("ledger.jsonl", ".jsonl"),
    ),
]


def _filled(arg: str, fill: dict[str, str]) -> str:
    for placeholder, value in fill.items():
        arg = arg.replace(placeholder, value)
    return arg


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=[bad.id for bad in BAD_INPUTS])
def test_malformed_input_exits_2_with_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ledger: Path, policy: Path, bad: Bad
) -> None:
    for name, content in bad.files:
        (tmp_path / name).write_bytes(content)
    before = snapshot(tmp_path)
    fill = {"{ledger}": str(ledger), "{policy}": str(policy), "{dir}": str(tmp_path)}

    result = cli(capsys, *(_filled(arg, fill) for arg in bad.argv))

    line = one_error_line(result)
    assert result.code == 2, result.text
    assert line.startswith("privaudit: error: ")
    for name in bad.names:
        assert name in line
    assert result.out == ""
    assert snapshot(tmp_path) == before


def test_no_arguments_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys)

    assert result.code == 2
    assert "Usage: privaudit" in result.err
    assert "check" in result.err


# --- the real process: one line on stderr, never a traceback -----------------------------------


def test_module_run_bad_policy_prints_one_line(tmp_path: Path, ledger: Path) -> None:
    (tmp_path / "bad.yaml").write_text("tiers:\n  t: {epsilon: -1, delta: 1.0e-6}\n")

    result = run_python(
        "-m", "privaudit.cli", "check", ledger, "--policy", "bad.yaml", cwd=tmp_path
    )

    line = one_error_line(result)
    assert result.code == 2
    assert line.startswith("privaudit: error: bad.yaml: tiers.t.epsilon: ")
    assert result.out == ""


def test_module_run_tampered_ledger_exits_1_with_one_line(
    tmp_path: Path, five: Path, policy: Path
) -> None:
    tamper(five, swap_lines, 2)

    result = run_python("-m", "privaudit.cli", "check", five, "--policy", policy, cwd=tmp_path)

    assert result.code == 1
    assert result.err.count("\n") == 1, result.err
    assert f"{five}: line 2: " in result.err
    assert "Traceback" not in result.text
    assert result.out.startswith("privaudit: FAIL")


def test_module_run_unknown_option_prints_one_line(tmp_path: Path) -> None:
    result = run_python(
        "-m", "privaudit.cli", "ledger", "verify", "x.jsonl", "--bogus", cwd=tmp_path
    )

    line = one_error_line(result)
    assert result.code == 2
    assert "--bogus" in line


def test_console_script_reports_bad_input_in_one_line(tmp_path: Path, ledger: Path) -> None:
    script = Path(sys.executable).parent / "privaudit"
    if not script.is_file():
        pytest.skip(f"no privaudit console script beside {sys.executable} (not installed)")
    before = ledger.read_bytes()

    result = run_python(
        "ledger",
        "add",
        ledger,
        "--dataset",
        "ds",
        "--mechanism",
        '{"type": "gaussian", "noise_multiplier": 0}',
        cwd=tmp_path,
        executable=script,
    )

    line = one_error_line(result)
    assert result.code == 2, "a stale install whose entry point is cli:app prints tracebacks"
    assert "mechanism.noise_multiplier" in line
    assert ledger.read_bytes() == before


def test_console_script_check_passes(tmp_path: Path, ledger: Path, policy: Path) -> None:
    script = Path(sys.executable).parent / "privaudit"
    if not script.is_file():
        pytest.skip(f"no privaudit console script beside {sys.executable} (not installed)")

    result = run_python("check", ledger, "--policy", policy, cwd=tmp_path, executable=script)

    assert result.code == 0, result.err
    assert result.out.startswith("privaudit: PASS")
    assert result.err == ""


# --- extreme but schema-valid parameters --------------------------------------------------------


@pytest.mark.parametrize(
    "mechanism",
    [
        {"type": "gaussian", "noise_multiplier": 1e-300},
        {"type": "gaussian", "noise_multiplier": 1e300},
        {"type": "dpsgd", "noise_multiplier": 1.0, "sampling_rate": 0.5, "steps": 10**23},
    ],
    ids=["sigma-tiny", "sigma-huge", "steps-huge"],
)
def test_extreme_parameters_get_a_verdict_not_an_internal_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mechanism: dict[str, Any]
) -> None:
    path = tmp_path / "extreme.jsonl"
    append_entry(path, dataset="ds", mechanism=mechanism)

    result = cli(capsys, "account", path, "--delta", "1e-6")

    assert "internal error" not in result.err
    assert result.code in {0, 1}


def test_internal_errors_are_one_line_and_fail_closed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever the cause of an unexpected exception, a CI gate must not pass and must not
    # print a traceback.
    path = tmp_path / "extreme.jsonl"
    append_entry(path, dataset="ds", mechanism=GAUSSIAN_2)
    monkeypatch.delenv("PRIVAUDIT_DEBUG", raising=False)

    def explode(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("privaudit.cli.assess", explode)

    result = cli(capsys, "account", path)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert result.err.startswith("privaudit: internal error: ZeroDivisionError: boom")


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


# --- data fetch --------------------------------------------------------------------------------


def test_data_fetch_refuses_a_destination_whose_parent_is_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = cli(capsys, "data", "fetch", "mnist", "--dest", tmp_path / "a" / "b")

    assert result.code == 2
    assert "does not exist" in result.err
    assert not (tmp_path / "a").exists()


def test_data_fetch_only_knows_listed_data_sets(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "data", "fetch", "cifar10")

    assert result.code == 2
    assert "mnist" in result.err
