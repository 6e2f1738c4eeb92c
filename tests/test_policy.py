"""Tests of policy files: the models, the three loaders, the shipped policies and bad input."""

from __future__ import annotations

import json
import math
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from privaudit.errors import InputError
from privaudit.policy import (
    CERTIFIED_ACCOUNTANTS,
    AccountantName,
    DatasetSpec,
    Policy,
    Tier,
    default_tiers,
    load_policy,
    parse_policy,
    policy_json_schema,
    starter_policy_text,
)

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"

MINIMAL_YAML = """\
tiers:
  medical: {epsilon: 1.0, delta: 1.0e-6, privacy_unit: example, warn_at: 0.8}
datasets:
  notes: {tier: medical, size: 4999}
"""

MINIMAL_TOML = """\
[tiers.medical]
epsilon = 1.0
delta = 1.0e-6
privacy_unit = "example"
warn_at = 0.8

[datasets.notes]
tier = "medical"
size = 4999
"""

MINIMAL_JSON = """\
{"tiers": {"medical": {"epsilon": 1.0, "delta": 1.0e-6, "privacy_unit": "example",
                       "warn_at": 0.8}},
 "datasets": {"notes": {"tier": "medical", "size": 4999}}}
"""

TIER = "{epsilon: 1.0, delta: 1.0e-6}"


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def load_error(path: Path) -> InputError:
    with pytest.raises(InputError) as caught:
        load_policy(path)
    return caught.value


def minimal_data() -> dict[str, Any]:
    return {
        "tiers": {"medical": {"epsilon": 1.0, "delta": 1e-6}},
        "datasets": {"notes": {"tier": "medical", "size": 4999}},
    }


# --- the minimal form and the three formats -------------------------------------------------


def test_minimal_yaml_loads(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, "policy.yaml", MINIMAL_YAML))
    medical = policy.tiers["medical"]
    assert (medical.epsilon, medical.delta, medical.warn_at) == (1.0, 1e-6, 0.8)
    assert medical.privacy_unit == "example"
    assert medical.accountant is AccountantName.PLD
    assert medical.tolerance == 0.0
    assert policy.datasets["notes"] == DatasetSpec(tier="medical", size=4999)


def test_yaml_toml_and_json_forms_give_equal_policies(tmp_path: Path) -> None:
    from_yaml = load_policy(write(tmp_path, "policy.yml", MINIMAL_YAML))
    from_toml = load_policy(write(tmp_path, "policy.toml", MINIMAL_TOML))
    from_json = load_policy(write(tmp_path, "policy.json", MINIMAL_JSON))
    assert from_yaml == from_toml == from_json


def test_extension_is_matched_case_insensitively(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, "POLICY.YAML", MINIMAL_YAML))
    assert "medical" in policy.tiers


def test_load_policy_accepts_a_str_path(tmp_path: Path) -> None:
    path = write(tmp_path, "policy.yaml", MINIMAL_YAML)
    assert load_policy(str(path)) == load_policy(path)


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "policy.json", b"\xef\xbb\xbf" + MINIMAL_JSON.encode())
    assert load_policy(path).tiers["medical"].epsilon == 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1e-6", 1e-6), ("1E-6", 1e-6), ("2e5", 2e5), ("+5e-7", 5e-7), ("1.0e6", 1e6)],
)
def test_yaml_scientific_notation_without_dot_reads_as_float(
    tmp_path: Path, text: str, expected: float
) -> None:
    path = write(tmp_path, "p.yaml", f"tiers:\n  t: {{epsilon: {text}, delta: 0.5}}\n")
    epsilon = load_policy(path).tiers["t"].epsilon
    assert isinstance(epsilon, float)
    assert epsilon == expected


def test_yaml_integers_still_read_as_integers(tmp_path: Path) -> None:
    path = write(
        tmp_path, "p.yaml", f"tiers:\n  t: {TIER}\ndatasets:\n  d: {{tier: t, size: 60_000}}\n"
    )
    assert load_policy(path).datasets["d"].size == 60000


def test_integer_epsilon_is_accepted_as_float(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "tiers:\n  t: {epsilon: 3, delta: 1.0e-6}\n")
    assert load_policy(path).tiers["t"].epsilon == 3.0


def test_yaml_merge_key_override_is_not_a_duplicate(tmp_path: Path) -> None:
    text = (
        "tiers:\n  a: &base {epsilon: 1.0, delta: 1.0e-6}\n  b:\n    <<: *base\n    epsilon: 2.0\n"
    )
    policy = load_policy(write(tmp_path, "p.yaml", text))
    assert policy.tiers["b"].epsilon == 2.0
    assert policy.tiers["b"].delta == 1e-6


def test_all_optional_fields_load(tmp_path: Path) -> None:
    text = """\
version: 1
organisation: Example Org
system: model-x
approvers: [A. One, B. Two]
tiers:
  t:
    description: all fields
    epsilon: 2.0
    delta: 1.0e-6
    per_run_epsilon: 0.5
    warn_at: 1.0
    privacy_unit: user
    accountant: rdp
    tolerance: 0.01
datasets:
  d: {tier: t, size: 10, privacy_unit: patient, description: ten patients}
"""
    policy = load_policy(write(tmp_path, "p.yaml", text))
    assert policy.approvers == ("A. One", "B. Two")
    assert policy.tiers["t"].per_run_epsilon == 0.5
    assert policy.tiers["t"].accountant is AccountantName.RDP
    assert policy.tiers["t"].tolerance == 0.01
    assert policy.datasets["d"].privacy_unit == "patient"


# --- model behaviour ------------------------------------------------------------------------


def test_tier_of_and_dataset_lookups() -> None:
    policy = parse_policy(minimal_data(), "<test>")
    assert policy.tier_of("notes") == policy.tiers["medical"]
    assert policy.dataset("notes") == policy.datasets["notes"]
    assert policy.tier_of("unknown") is None
    assert policy.dataset("unknown") is None


def test_certified_accountants_exclude_gdp() -> None:
    assert frozenset({AccountantName.PLD, AccountantName.RDP}) == CERTIFIED_ACCOUNTANTS
    assert AccountantName.GDP not in CERTIFIED_ACCOUNTANTS


def test_gdp_accountant_is_allowed_in_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "tiers:\n  t: {epsilon: 1, delta: 1.0e-6, accountant: gdp}\n")
    assert load_policy(path).tiers["t"].accountant is AccountantName.GDP


def test_policy_is_frozen() -> None:
    policy = parse_policy(minimal_data(), "<test>")
    with pytest.raises(ValidationError):
        policy.version = 2  # type: ignore[misc]
    with pytest.raises(ValidationError):
        policy.tiers["medical"].epsilon = 5.0  # type: ignore[misc]


def test_round_trip_through_json_and_yaml(tmp_path: Path) -> None:
    policy = load_policy(POLICIES / "examples" / "mnist-fl.yaml")
    dumped = policy.model_dump(mode="json")
    assert parse_policy(dumped, "<dump>") == policy
    assert load_policy(write(tmp_path, "p.json", json.dumps(dumped))) == policy
    assert load_policy(write(tmp_path, "p.yaml", yaml.safe_dump(dumped))) == policy


def test_json_schema_describes_tiers_and_datasets() -> None:
    schema = policy_json_schema()
    assert {"tiers", "datasets"} <= set(schema["properties"])
    assert "tiers" in schema["required"]
    json.dumps(schema)  # serialisable as printed by `privaudit policy schema`


def test_starter_policy_parses(tmp_path: Path) -> None:
    text = starter_policy_text()
    assert text.lstrip().startswith("#")
    policy = load_policy(write(tmp_path, "starter.yaml", text))
    assert policy.tiers
    assert all(spec.tier in policy.tiers for spec in policy.datasets.values())


# --- shipped policies -----------------------------------------------------------------------

SHIPPED = sorted(
    path for path in POLICIES.rglob("*") if path.suffix in {".yaml", ".yml", ".toml", ".json"}
)


def test_policies_folder_ships_the_tiers_and_three_examples() -> None:
    names = {path.relative_to(POLICIES).as_posix() for path in SHIPPED}
    assert {
        "tiers.yaml",
        "examples/mnist-fl.yaml",
        "examples/hospital-notes.yaml",
        "examples/bank-fraud.yaml",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.relative_to(POLICIES).as_posix())
def test_shipped_policy_validates(path: Path) -> None:
    policy = load_policy(path)
    assert policy.tiers
    assert all(policy.tier_of(dataset_id) is not None for dataset_id in policy.datasets)


def test_packaged_tiers_file_is_identical_to_policies_tiers() -> None:
    packaged = ROOT / "privaudit" / "policies" / "tiers.yaml"
    assert packaged.read_bytes() == (POLICIES / "tiers.yaml").read_bytes()


def test_default_tiers_are_the_shipped_tiers() -> None:
    tiers = default_tiers()
    assert tiers == load_policy(POLICIES / "tiers.yaml")
    assert set(tiers.tiers) == {"public", "internal", "confidential", "financial", "medical"}
    assert tiers.datasets == {}


def test_default_tiers_follow_the_guidance() -> None:
    tiers = default_tiers().tiers
    assert tiers["medical"].epsilon <= 1.0
    assert tiers["financial"].epsilon <= 1.0
    assert tiers["medical"].delta <= 1e-6
    order = ["medical", "confidential", "internal", "public"]
    assert [tiers[name].epsilon for name in order] == sorted(tiers[name].epsilon for name in order)
    assert all(tier.epsilon <= 10 for tier in tiers.values())
    assert all(tier.accountant in CERTIFIED_ACCOUNTANTS for tier in tiers.values())
    assert all(tier.description for tier in tiers.values())


@pytest.mark.parametrize(
    ("name", "dataset", "size", "unit"),
    [
        ("mnist-fl.yaml", "mnist", 60000, "example"),
        ("mnist-fl.yaml", "mnist-clients", 1000, "client"),
        ("hospital-notes.yaml", "mtsamples-notes", 1109, "example"),
        ("bank-fraud.yaml", "creditcard", 199364, "transaction"),
    ],
)
def test_example_policy_datasets(name: str, dataset: str, size: int, unit: str) -> None:
    policy = load_policy(POLICIES / "examples" / name)
    spec = policy.dataset(dataset)
    tier = policy.tier_of(dataset)
    assert spec is not None
    assert tier is not None
    assert spec.size == size
    assert (spec.privacy_unit or tier.privacy_unit) == unit
    assert tier.delta < 1 / size
    assert policy.organisation
    assert policy.approvers


# --- bad input: every failure is an InputError naming the file and the field -----------------


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (f"tiers:\n  medical: {TIER}\nowner: me\n", "owner"),
        (
            "tiers:\n  medical: {epsilon: 1.0, delta: 1.0e-6, epsilonn: 2}\n",
            "tiers.medical.epsilonn",
        ),
        (
            f"tiers:\n  medical: {TIER}\ndatasets:\n  notes: {{tier: medical, size: 5, n: 5}}\n",
            "datasets.notes.n",
        ),
    ],
    ids=["top", "tier", "dataset"],
)
def test_unknown_field_names_file_and_dotted_field(tmp_path: Path, text: str, field: str) -> None:
    error = load_error(write(tmp_path, "policy.yaml", text))
    assert "policy.yaml" in str(error)
    assert f": {field}: " in str(error)
    assert error.field == field
    assert "unknown field" in error.problem


def test_misspelt_field_is_reported_before_the_missing_one(tmp_path: Path) -> None:
    text = f"tiers:\n  medical: {TIER}\ndatasets:\n  notes: {{tier: medical, sise: 5}}\n"
    error = load_error(write(tmp_path, "p.yaml", text))
    assert error.field == "datasets.notes.sise"
    assert "did you mean 'size'" in error.problem


def test_error_source_is_the_path_as_given(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "tiers:\n  medical: {epsilon: -1, delta: 1.0e-6}\n")
    with pytest.raises(InputError) as caught:
        load_policy(str(path))
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(f"{path}: tiers.medical.epsilon: ")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("p.yaml", "tiers:\n  t: {epsilon: .nan, delta: 1.0e-6}\n"),
        ("p.yaml", "tiers:\n  t: {epsilon: .inf, delta: 1.0e-6}\n"),
        ("p.yaml", "tiers:\n  t: {epsilon: 1, delta: -.inf}\n"),
        ("p.toml", "[tiers.t]\nepsilon = nan\ndelta = 1e-6\n"),
        ("p.toml", "[tiers.t]\nepsilon = inf\ndelta = 1e-6\n"),
        ("p.json", '{"tiers": {"t": {"epsilon": NaN, "delta": 1e-6}}}'),
        ("p.json", '{"tiers": {"t": {"epsilon": Infinity, "delta": 1e-6}}}'),
        ("p.json", '{"tiers": {"t": {"epsilon": 1e999, "delta": 1e-6}}}'),
    ],
)
def test_nan_and_infinity_are_rejected(tmp_path: Path, name: str, text: str) -> None:
    error = load_error(write(tmp_path, name, text))
    assert "finite number" in error.problem


@pytest.mark.parametrize("epsilon", ["0", "0.0", "-1", "-0.5"])
def test_non_positive_epsilon_is_rejected(tmp_path: Path, epsilon: str) -> None:
    error = load_error(
        write(tmp_path, "p.yaml", f"tiers:\n  t: {{epsilon: {epsilon}, delta: 1.0e-6}}\n")
    )
    assert error.field == "tiers.t.epsilon"
    assert "expected a value > 0" in error.problem
    assert "found" in error.problem


@pytest.mark.parametrize("delta", ["1", "1.0", "1.5", "0", "-1.0e-6"])
def test_delta_outside_open_unit_interval_is_rejected(tmp_path: Path, delta: str) -> None:
    error = load_error(write(tmp_path, "p.yaml", f"tiers:\n  t: {{epsilon: 1, delta: {delta}}}\n"))
    assert error.field == "tiers.t.delta"


@pytest.mark.parametrize(
    ("warn_at", "ok"), [("0", False), ("1.01", False), ("1", True), ("0.5", True)]
)
def test_warn_at_must_be_in_zero_one(tmp_path: Path, warn_at: str, ok: bool) -> None:
    path = write(
        tmp_path, "p.yaml", f"tiers:\n  t: {{epsilon: 1, delta: 0.5, warn_at: {warn_at}}}\n"
    )
    if ok:
        assert load_policy(path).tiers["t"].warn_at == float(warn_at)
    else:
        assert load_error(path).field == "tiers.t.warn_at"


def test_per_run_epsilon_above_lifetime_cap_is_rejected(tmp_path: Path) -> None:
    text = "tiers:\n  t: {epsilon: 1, delta: 1.0e-6, per_run_epsilon: 1.5}\n"
    error = load_error(write(tmp_path, "p.yaml", text))
    assert error.field == "tiers.t.per_run_epsilon"
    assert "epsilon" in error.problem
    assert "1.5" in error.problem


def test_per_run_epsilon_equal_to_lifetime_cap_is_allowed(tmp_path: Path) -> None:
    text = "tiers:\n  t: {epsilon: 1, delta: 1.0e-6, per_run_epsilon: 1}\n"
    assert load_policy(write(tmp_path, "p.yaml", text)).tiers["t"].per_run_epsilon == 1.0


def test_negative_tolerance_is_rejected(tmp_path: Path) -> None:
    text = "tiers:\n  t: {epsilon: 1, delta: 1.0e-6, tolerance: -0.01}\n"
    assert load_error(write(tmp_path, "p.yaml", text)).field == "tiers.t.tolerance"


@pytest.mark.parametrize("size", ["0", "-3"])
def test_non_positive_size_is_rejected(tmp_path: Path, size: str) -> None:
    text = f"tiers:\n  t: {TIER}\ndatasets:\n  d: {{tier: t, size: {size}}}\n"
    assert load_error(write(tmp_path, "p.yaml", text)).field == "datasets.d.size"


@pytest.mark.parametrize(
    ("tier", "dataset", "field"),
    [
        ("{epsilon: '1.0', delta: 1.0e-6}", "{tier: t, size: 5}", "tiers.t.epsilon"),
        ("{epsilon: true, delta: 1.0e-6}", "{tier: t, size: 5}", "tiers.t.epsilon"),
        (TIER, "{tier: t, size: true}", "datasets.d.size"),
        (TIER, "{tier: t, size: 4999.0}", "datasets.d.size"),
        (TIER, "{tier: t, size: '4999'}", "datasets.d.size"),
        (TIER, "{tier: [t], size: 5}", "datasets.d.tier"),
        ("[1.0, 1.0e-6]", "{tier: t, size: 5}", "tiers.t"),
        (
            "{epsilon: 1, delta: 1.0e-6, accountant: exact}",
            "{tier: t, size: 5}",
            "tiers.t.accountant",
        ),
        (
            "{epsilon: 1, delta: 1.0e-6, privacy_unit: ''}",
            "{tier: t, size: 5}",
            "tiers.t.privacy_unit",
        ),
        (
            "{epsilon: 1, delta: 1.0e-6, privacy_unit: 7}",
            "{tier: t, size: 5}",
            "tiers.t.privacy_unit",
        ),
        ("{epsilon: 2024-01-01, delta: 1.0e-6}", "{tier: t, size: 5}", "tiers.t.epsilon"),
    ],
)
def test_wrong_types_name_the_field(tmp_path: Path, tier: str, dataset: str, field: str) -> None:
    text = f"tiers:\n  t: {tier}\ndatasets:\n  d: {dataset}\n"
    error = load_error(write(tmp_path, "p.yaml", text))
    assert error.field == field
    assert error.problem.startswith("expected ")
    assert "; found " in error.problem


def test_quoted_number_hint_says_to_remove_quotes(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "p.yaml", "tiers:\n  t: {epsilon: '1.0', delta: 1.0e-6}\n"))
    assert error.problem == "expected a number; found '1.0' (text: remove the quotes)"


def test_toml_date_is_a_wrong_type(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "p.toml", "[tiers.t]\nepsilon = 1\ndelta = 1979-05-27\n"))
    assert error.field == "tiers.t.delta"


def test_unknown_tier_reference_names_the_dataset_field(tmp_path: Path) -> None:
    text = (
        f"tiers:\n  medical: {TIER}\n  public: {TIER}\n"
        "datasets:\n  notes: {tier: medicl, size: 5}\n"
    )
    error = load_error(write(tmp_path, "p.yaml", text))
    assert error.field == "datasets.notes.tier"
    assert "medical, public" in error.problem
    assert "found 'medicl'" in error.problem


def test_unknown_tier_reference_in_python_construction_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match=r"datasets\.notes\.tier"):
        Policy(
            tiers={"medical": Tier(epsilon=1.0, delta=1e-6)},
            datasets={"notes": DatasetSpec(tier="public", size=5)},
        )


def test_differing_dataset_privacy_unit_is_legal(tmp_path: Path) -> None:
    text = f"tiers:\n  t: {TIER}\ndatasets:\n  d: {{tier: t, size: 5, privacy_unit: user}}\n"
    policy = load_policy(write(tmp_path, "p.yaml", text))
    assert policy.datasets["d"].privacy_unit == "user"
    assert policy.tiers["t"].privacy_unit == "example"


@pytest.mark.parametrize("version", ["2", "0"])
def test_unknown_version_is_rejected(tmp_path: Path, version: str) -> None:
    error = load_error(write(tmp_path, "p.yaml", f"version: {version}\ntiers:\n  t: {TIER}\n"))
    assert error.field == "version"
    assert error.problem == f"expected 1; found {version}"


def test_policy_without_tiers_is_rejected(tmp_path: Path) -> None:
    assert load_error(write(tmp_path, "p.yaml", "tiers: {}\n")).field == "tiers"
    assert load_error(write(tmp_path, "q.yaml", "datasets: {}\n")).field == "tiers"


@pytest.mark.parametrize("name", ["bad name", "-leading", "a/b", "", "é", "medical\n"])
def test_invalid_tier_name_is_rejected(tmp_path: Path, name: str) -> None:
    text = json.dumps({"tiers": {name: {"epsilon": 1, "delta": 1e-6}}})
    error = load_error(write(tmp_path, "p.json", text))
    assert error.field is not None
    assert error.field.startswith("tiers")
    assert "expected a name" in error.problem


def test_non_string_yaml_key_is_rejected(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "p.yaml", f"tiers:\n  1: {TIER}\n"))
    assert error.field == "tiers"
    assert "quote it" in error.problem


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("p.yaml", f"tiers:\n  t: {TIER}\ntiers:\n  u: {TIER}\n"),
        ("p.yaml", "tiers:\n  t: {epsilon: 1, epsilon: 2, delta: 1.0e-6}\n"),
        ("p.json", '{"tiers": {"t": {"epsilon": 1, "epsilon": 2, "delta": 1e-6}}}'),
        ("p.toml", "[tiers.t]\nepsilon = 1\nepsilon = 2\ndelta = 1e-6\n"),
    ],
)
def test_duplicate_keys_are_rejected(tmp_path: Path, name: str, text: str) -> None:
    error = load_error(write(tmp_path, name, text))
    assert name in str(error)


def test_yaml_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "p.yaml", f"tiers:\n  t: {TIER}\ntiers:\n  u: {TIER}\n"))
    assert error.field == "line 3"
    assert "duplicate key 'tiers'" in error.problem
    assert "line 1" in error.problem


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("p.yaml", "tiers:\n  t: {epsilon: 1, delta: 1.0e-6\n", "line 3"),
        ("p.yaml", "tiers:\n  t:\n    epsilon: 1\n   delta: 2\n", "line 4"),
        ("p.json", '{\n  "tiers": {\n    "t": {"epsilon": 1,}\n  }\n}\n', "line 3"),
        ("p.toml", "[tiers.t]\nepsilon = 1\ndelta = \n", "line 3"),
    ],
)
def test_syntax_error_names_the_line(tmp_path: Path, name: str, text: str, line: str) -> None:
    error = load_error(write(tmp_path, name, text))
    assert error.field == line
    assert error.problem.startswith("invalid ")


@pytest.mark.parametrize("name", ["p.yaml", "p.yml", "p.json", "p.toml"])
@pytest.mark.parametrize("content", ["", "  \n\n\t"])
def test_empty_file_is_rejected(tmp_path: Path, name: str, content: str) -> None:
    error = load_error(write(tmp_path, name, content))
    assert "empty" in error.problem


def test_comment_only_yaml_is_rejected(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "p.yaml", "# nothing here\n"))
    assert "empty document" in error.problem


@pytest.mark.parametrize(("name", "text"), [("p.yaml", "- 1\n- 2\n"), ("p.json", '"tiers"')])
def test_top_level_must_be_a_mapping(tmp_path: Path, name: str, text: str) -> None:
    error = load_error(write(tmp_path, name, text))
    assert "expected a mapping at the top level" in error.problem


@pytest.mark.parametrize("name", ["p.yaml", "p.json", "p.toml"])
@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00\x01garbage\x80", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"tiers:\x00\x00"],
    ids=["invalid-utf8", "png", "nul"],
)
def test_binary_garbage_is_rejected(tmp_path: Path, name: str, content: bytes) -> None:
    error = load_error(write(tmp_path, name, content))
    assert name in str(error)


@pytest.mark.parametrize("name", ["policy.txt", "policy.yaml.bak", "policy"])
def test_unknown_extension_is_rejected(tmp_path: Path, name: str) -> None:
    error = load_error(write(tmp_path, name, MINIMAL_YAML))
    assert ".yaml" in error.problem
    assert ".toml" in error.problem
    assert ".json" in error.problem
    found = Path(name).suffix or "no extension"
    assert found in error.problem


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path / "absent.yaml")
    assert "absent.yaml" in str(error)
    assert "no such file" in error.problem


def test_directory_is_rejected(tmp_path: Path) -> None:
    directory = tmp_path / "dir.yaml"
    directory.mkdir()
    assert "directory" in load_error(directory).problem


@pytest.mark.parametrize(
    "text",
    [
        "tiers: !!python/object/apply:os.system ['echo owned']\n",
        "tiers: !!python/name:os.system\n",
        "tiers: !!binary aGVsbG8=\n",
        "tiers: !!set {a, b}\n",
        "tiers: !custom {a: 1}\n",
    ],
)
def test_yaml_tags_that_build_objects_are_rejected(tmp_path: Path, text: str) -> None:
    error = load_error(write(tmp_path, "p.yaml", text))
    assert error.field == "line 1"
    assert "constructor" in error.problem


def test_yaml_alias_bomb_is_rejected(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    error = load_error(write(tmp_path, "p.yaml", "\n".join(lines) + "\n"))
    assert "at most" in error.problem


def test_recursive_yaml_alias_is_rejected(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "p.yaml", "tiers: &loop\n  t: *loop\n"))
    assert "nesting" in error.problem or "recursive" in error.problem


def test_out_of_range_yaml_scalar_names_the_line(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "p.yaml", "tiers:\n  t: {epsilon: 1, delta: 2024-13-45}\n"))
    assert error.field == "line 2"


def test_huge_integer_is_an_input_error(tmp_path: Path) -> None:
    digits = "9" * 5000
    for name, text in [
        ("p.yaml", f"tiers:\n  t: {{epsilon: {digits}, delta: 1.0e-6}}\n"),
        ("p.json", f'{{"tiers": {{"t": {{"epsilon": {digits}, "delta": 1e-6}}}}}}'),
        ("p.toml", f"[tiers.t]\nepsilon = {digits}\ndelta = 1e-6\n"),
    ]:
        load_error(write(tmp_path, name, text))


@pytest.mark.parametrize(
    "data",
    [None, [], "tiers", 3, {"tiers": {"t": {"epsilon": 1, "delta": {1, 2}}}}, {"tiers": object()}],
    ids=["none", "list", "str", "int", "set", "object"],
)
def test_parse_policy_rejects_non_policies(data: object) -> None:
    with pytest.raises(InputError) as caught:
        parse_policy(data, "<memory>")
    assert caught.value.source == "<memory>"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("p.yaml", "tiers:\n  t: {epsilon: 1, delta: 1.0e-6\n"),
        ("p.yaml", "tiers:\n  t: {epsilon: 1, delta: 1.0e-6, description: 3}\n"),
        ("p.yaml", "tiers:\n  t: {epsilon: '1\n\n2', delta: 1.0e-6}\n"),
        ("p.json", '{"tiers": {\n"t": \n'),
        ("p.toml", "[tiers.t]\nepsilon = 'a\nb'\n"),
    ],
)
def test_error_message_is_a_single_line(tmp_path: Path, name: str, text: str) -> None:
    message = str(load_error(write(tmp_path, name, text)))
    assert "\n" not in message
    assert "\r" not in message


# --- property tests: any input gives a Policy or an InputError, never anything else -----------

# Characters that steer the parsers into their interesting paths.
SYNTAX = (
    string.ascii_letters + string.digits + " \t\n:{}[],'\"#&*!|>-?%@`.=+_\\<\x00\x7f\u00e9\u2028"
)


MINIMAL = {".yaml": MINIMAL_YAML, ".toml": MINIMAL_TOML, ".json": MINIMAL_JSON}


@st.composite
def mutated_minimal(draw: st.DrawFn, suffix: str) -> bytes:
    """The minimal policy of a format with one stretch of it replaced: near-valid input."""
    text = MINIMAL[suffix]
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 8)))
    insert = draw(st.text(alphabet=SYNTAX, max_size=8))
    return (text[:start] + insert + text[end:]).encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(data=st.data(), suffix=st.sampled_from(list(MINIMAL)))
def test_any_bytes_load_or_raise_input_error(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, suffix: str
) -> None:
    content = data.draw(
        st.one_of(
            st.binary(max_size=300),
            st.text(alphabet=SYNTAX, max_size=300).map(lambda text: text.encode("utf-8")),
            mutated_minimal(suffix),
        )
    )
    path = tmp_path_factory.getbasetemp() / f"fuzz{suffix}"
    path.write_bytes(content)
    try:
        policy = load_policy(path)
    except InputError as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(policy, Policy)


FIELDS = [
    "version", "tiers", "datasets", "approvers", "organisation", "system", "epsilon", "delta",
    "per_run_epsilon", "warn_at", "privacy_unit", "accountant", "tolerance", "tier", "size",
    "description", "medical", "notes",
]  # fmt: skip

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.sampled_from(["pld", "rdp", "gdp", "medical", "example", "1.0"]),
)
json_like = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)), children, max_size=5
        ),
    ),
    max_leaves=25,
)
numbers = st.one_of(
    st.integers(-2, 3),
    st.floats(-1, 2),
    st.sampled_from([math.nan, math.inf, 1e-6, 0.5]),
    st.booleans(),
)
near_valid = st.fixed_dictionaries(
    {
        "tiers": st.dictionaries(
            st.sampled_from(["medical", "public", "bad name", ""]),
            st.fixed_dictionaries(
                {"epsilon": numbers, "delta": numbers},
                optional={
                    "per_run_epsilon": numbers,
                    "warn_at": numbers,
                    "tolerance": numbers,
                    "accountant": st.sampled_from(["pld", "rdp", "gdp", "exact", 1]),
                    "privacy_unit": st.sampled_from(["example", "", " ", 3]),
                    "extra": leaves,
                },
            ),
            max_size=2,
        ),
    },
    optional={
        "version": st.sampled_from([1, 2, True, "1"]),
        "datasets": st.dictionaries(
            st.sampled_from(["notes", "x"]),
            st.fixed_dictionaries(
                {"tier": st.sampled_from(["medical", "public", "nope", 1])},
                optional={"size": numbers, "privacy_unit": leaves},
            ),
            max_size=2,
        ),
        "approvers": st.lists(leaves, max_size=3),
    },
)


@settings(max_examples=200, deadline=None)
@given(data=st.one_of(json_like, near_valid))
def test_any_plain_data_parses_or_raises_input_error(data: object) -> None:
    try:
        policy = parse_policy(data, "<fuzz>")
    except InputError as error:
        assert "\n" not in str(error)
        assert str(error).startswith("<fuzz>")
    else:
        assert all(math.isfinite(tier.epsilon) for tier in policy.tiers.values())
        assert all(spec.tier in policy.tiers for spec in policy.datasets.values())


@st.composite
def valid_policies(draw: st.DrawFn) -> Policy:
    """Policies built from valid values: tiers first, then datasets naming them."""
    names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,8}\Z")
    units = st.sampled_from(["example", "user", "client", "patient", "account"])
    tiers: dict[str, Tier] = {}
    for name in draw(st.lists(names, min_size=1, max_size=3, unique=True)):
        epsilon = draw(st.floats(1e-3, 100))
        fraction = draw(st.none() | st.floats(1e-4, 1))
        tiers[name] = Tier(
            # Letters only: PyYAML's dumper leaves a string such as "1e5" unquoted, which this
            # loader (rightly, for hand-written files) reads as a number.
            description=draw(st.none() | st.text(alphabet=string.ascii_letters + " ", max_size=20)),
            epsilon=epsilon,
            delta=draw(st.floats(1e-12, 0.5)),
            per_run_epsilon=None if fraction is None else fraction * epsilon,
            warn_at=draw(st.floats(0.01, 1)),
            privacy_unit=draw(units),
            accountant=draw(st.sampled_from(list(AccountantName))),
            tolerance=draw(st.floats(0, 0.5)),
        )
    datasets = {
        dataset_id: DatasetSpec(
            tier=draw(st.sampled_from(sorted(tiers))),
            size=draw(st.integers(1, 10**9)),
            privacy_unit=draw(st.none() | units),
        )
        for dataset_id in draw(st.lists(names, max_size=3, unique=True))
    }
    return Policy(
        organisation=draw(st.none() | st.just("Example Org")),
        approvers=tuple(draw(st.lists(st.sampled_from(["A. One", "B. Two"]), max_size=2))),
        tiers=tiers,
        datasets=datasets,
    )


@settings(max_examples=100, deadline=None)
@given(policy=valid_policies())
def test_valid_policies_round_trip_through_json_and_yaml(
    tmp_path_factory: pytest.TempPathFactory, policy: Policy
) -> None:
    dumped = policy.model_dump(mode="json")
    directory = tmp_path_factory.getbasetemp()
    assert parse_policy(dumped, "<dump>") == policy
    assert load_policy(write(directory, "round.json", json.dumps(dumped))) == policy
    assert load_policy(write(directory, "round.yaml", yaml.safe_dump(dumped))) == policy


def test_tolerance_above_half_the_cap_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "tiers:\n  t: {epsilon: 1, delta: 1e-6, tolerance: 0.6}\n")
    with pytest.raises(InputError, match=r"tiers\.t\.tolerance"):
        load_policy(path)


@pytest.mark.parametrize("name", ["mnist-fl.yaml", "hospital-notes.yaml", "bank-fraud.yaml"])
def test_packaged_scenario_policies_are_the_shipped_examples(name: str) -> None:
    packaged = ROOT / "privaudit" / "policies" / "examples" / name
    assert packaged.read_bytes() == (POLICIES / "examples" / name).read_bytes()


# --- δ against 1/n (issue 18) -------------------------------------------------------------------


def _sized(delta: float, size: int) -> Policy:
    return parse_policy(
        {
            "tiers": {"t": {"epsilon": 1.0, "delta": delta}},
            "datasets": {"d": {"tier": "t", "size": size}},
        },
        "<test>",
    )


def test_delta_findings_fail_a_delta_not_below_one_over_n() -> None:
    (finding,) = _sized(0.01, 1000).delta_findings()
    assert (finding.severity, finding.dataset, finding.tier) == ("fail", "d", "t")


def test_delta_findings_warn_of_a_delta_above_one_over_n_to_the_1_1() -> None:
    (finding,) = _sized(0.0008, 1000).delta_findings()
    assert finding.severity == "warn"


def test_delta_findings_are_empty_for_a_delta_well_below_one_over_n() -> None:
    assert _sized(1e-4, 1000).delta_findings() == ()


def test_loading_a_policy_does_not_refuse_a_delta_not_below_one_over_n() -> None:
    # ``check`` reports it as a finding of the dataset; only ``policy validate`` fails on it.
    assert _sized(0.01, 1000).datasets["d"].size == 1000


# --- assessment fields (issue 19) ---------------------------------------------------------------

ASSESSMENT_FIELDS = (
    "controller",
    "contact",
    "purpose",
    "legal_basis",
    "data_categories",
    "retention",
    "people_affected",
    "intended_use",
    "misuse",
    "review_date",
)


def test_assessment_fields_are_optional() -> None:
    policy = parse_policy(minimal_data(), "<test>")
    assert all(getattr(policy, name) is None for name in ASSESSMENT_FIELDS)


def test_assessment_fields_read_as_written(tmp_path: Path) -> None:
    text = MINIMAL_YAML + (
        "purpose: Route notes.\ndata_categories: [health data, specialty]\n"
        "review_date: 2027-06-30\n"
    )
    policy = load_policy(write(tmp_path, "policy.yaml", text))
    assert policy.purpose == "Route notes."
    assert policy.data_categories == ("health data", "specialty")
    assert policy.review_date is not None and policy.review_date.isoformat() == "2027-06-30"


def test_review_date_in_json_is_iso_text(tmp_path: Path) -> None:
    data = minimal_data() | {"review_date": "2027-01-31"}
    policy = load_policy(write(tmp_path, "policy.json", json.dumps(data)))
    assert policy.model_dump(mode="json")["review_date"] == "2027-01-31"


@pytest.mark.parametrize("bad", ["2027-13-01", "30.06.2027", 20270630, True, "2027-06-30T10:00"])
def test_review_date_that_is_not_a_date_is_one_line_naming_the_field(bad: object) -> None:
    with pytest.raises(InputError) as caught:
        parse_policy(minimal_data() | {"review_date": bad}, "p.yaml")
    assert caught.value.field == "review_date"
    assert "YYYY-MM-DD" in str(caught.value) and "\n" not in str(caught.value)


def test_blank_assessment_text_is_refused() -> None:
    with pytest.raises(InputError, match=r"purpose: expected non-blank text"):
        parse_policy(minimal_data() | {"purpose": "  "}, "p.yaml")


def test_policy_schema_describes_every_assessment_field() -> None:
    properties = policy_json_schema()["properties"]
    for name in ASSESSMENT_FIELDS:
        assert properties[name]["description"], name
    assert name not in policy_json_schema().get("required", [])


@pytest.mark.parametrize(
    "path",
    [*(POLICIES / "examples").glob("*.yaml"), ROOT / "privaudit" / "policies" / "demo-policy.yaml"],
    ids=lambda path: path.name,
)
def test_example_policies_fill_every_assessment_field(path: Path) -> None:
    policy = load_policy(path)
    assert [name for name in ASSESSMENT_FIELDS if getattr(policy, name) is None] == []
