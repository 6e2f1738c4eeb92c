"""``privaudit policy validate|schema|init``: every shipped policy validates, the schema prints,
and a starter policy is written without overwriting anyone's file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privaudit.policy import load_policy
from tests.cli.helpers import ROOT, cli, one_error_line

SHIPPED_POLICIES = sorted(
    [ROOT / "policies" / "tiers.yaml", *(ROOT / "policies" / "examples").glob("*.yaml")]
)


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


def test_policy_validate_counts_one_tier_in_the_singular(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.cli.helpers import write_policy

    policy = write_policy(tmp_path / "one.yaml")

    result = cli(capsys, "policy", "validate", policy)

    assert result.code == 0, result.err
    assert f"{policy}: valid policy with 1 tier and 1 dataset\n" in result.out


# --- δ against 1/n (issue 18) -------------------------------------------------------------------


def delta_policy(path: Path, delta: float, size: int = 1000) -> Path:
    path.write_text(
        "version: 1\n"
        "tiers:\n"
        f"  sensitive: {{epsilon: 1.0, delta: {delta!r}}}\n"
        "datasets:\n"
        f"  records: {{tier: sensitive, size: {size}}}\n",
        encoding="utf-8",
    )
    return path


def test_policy_validate_fails_a_delta_not_below_one_over_n(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = cli(capsys, "policy", "validate", delta_policy(tmp_path / "p.yaml", 0.01))

    line = one_error_line(result)
    assert result.code == 1
    assert "'records'" in line and "'sensitive'" in line
    assert "δ = 0.01" in line and "1/n = 0.001" in line


def test_policy_validate_json_fails_a_delta_not_below_one_over_n(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = delta_policy(tmp_path / "p.yaml", 0.001)  # δ = 1/n exactly is not below it

    result = cli(capsys, "policy", "validate", policy, "--format", "json")

    data = json.loads(result.out)
    assert result.code == 1
    assert data["valid"] is False
    assert len(data["problems"]) == 1 and "1/n = 0.001" in data["problems"][0]


def test_policy_validate_warns_of_a_delta_above_one_over_n_to_the_1_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # 1/1000 = 0.001 > δ = 0.0008 > 1000^-1.1 ≈ 0.000501
    result = cli(capsys, "policy", "validate", delta_policy(tmp_path / "p.yaml", 0.0008))

    (warning,) = [line for line in result.out.splitlines() if "warning:" in line]
    assert result.code == 0, result.err
    assert "'records'" in warning and "δ = 0.0008" in warning and "1/n^1.1" in warning


def test_policy_validate_passes_a_delta_well_below_one_over_n(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = cli(capsys, "policy", "validate", delta_policy(tmp_path / "p.yaml", 1e-4))

    assert result.code == 0, result.err
    assert "valid policy" in result.out
    assert "warning" not in result.text
