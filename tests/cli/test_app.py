"""The entry point every command goes through: bad input of any command is one line and exit 2
and changes nothing, usage errors too, a real process never prints a traceback, and an internal
error fails closed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from privaudit.ledger import GENESIS, append_entry, canonical_json, entry_hash
from tests.cli.helpers import (
    GAUSSIAN_2,
    ROOT,
    cli,
    console_script,
    one_error_line,
    run_python,
    snapshot,
)
from tests.cli.tampering import swap_lines, tamper

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


def _bad_policy(id: str, content: bytes, *names: str) -> Bad:
    """``check`` with a policy file holding ``content``."""
    return Bad(id, _check(policy="{dir}/bad.yaml"), ("bad.yaml", *names), (("bad.yaml", content),))


def _bad_mechanism(id: str, mechanism: str, *names: str) -> Bad:
    """``ledger add`` with ``mechanism`` as JSON text."""
    return Bad(id, _add(mechanism), ("--mechanism", *names))


GAUSSIAN: dict[str, Any] = {"type": "gaussian", "noise_multiplier": 2}
DPSGD: dict[str, Any] = {
    "type": "dpsgd",
    "noise_multiplier": 1.1,
    "sampling_rate": 0.01,
    "steps": 10,
}
UNKNOWN: dict[str, Any] = {"type": None, "command": "echo hacked"}


def _bad_field(id: str, mechanism: dict[str, Any], field: str, value: Any, shown: str) -> Bad:
    """``ledger add`` of ``mechanism`` with one field set to a bad ``value``: the message names
    the field and shows the value."""
    text = _mechanism(**{**mechanism, field: value})
    return _bad_mechanism(id, text, f"mechanism.{field}", shown)


def _bad_ledger(id: str, name: str, content: bytes, *names: str) -> Bad:
    """``check`` of a ledger file ``name`` holding ``content``."""
    return Bad(id, _check(ledger=f"{{dir}}/{name}"), (name, *names), ((name, content),))


BAD_INPUTS = [
    _bad_policy("policy-bad-yaml", b"tiers: [\n", "line 2", "invalid YAML"),
    _bad_policy(
        "policy-unknown-field",
        b"tiers:\n  t: {epsilonn: 1.0, delta: 1.0e-6}\n",
        "tiers.t.epsilonn",
        "unknown field",
    ),
    _bad_policy(
        "policy-nan", b"tiers:\n  t: {epsilon: .nan, delta: 1.0e-6}\n", "tiers.t.epsilon", "NaN"
    ),
    _bad_policy(
        "policy-unknown-tier",
        b"tiers:\n  t: {epsilon: 1.0, delta: 1.0e-6}\ndatasets:\n  ds: {tier: nope, size: 10}\n",
        "datasets.ds.tier",
        "nope",
    ),
    Bad("policy-missing", _check(policy="{dir}/missing.yaml"), ("missing.yaml", "no such file")),
    _bad_field("sigma-zero", GAUSSIAN, "noise_multiplier", 0, "found 0"),
    _bad_field("sigma-negative", DPSGD, "noise_multiplier", -1.1, "found -1.1"),
    _bad_field("sampling-rate-above-one", DPSGD, "sampling_rate", 1.5, "found 1.5"),
    _bad_field("noise-as-string", GAUSSIAN, "noise_multiplier", "1.1", "'1.1'"),
    _bad_field("fractional-steps", DPSGD, "steps", 10.5, "10.5"),
    _bad_field("unknown-mechanism-type", UNKNOWN, "type", "os.system", "os.system"),
    _bad_mechanism("mechanism-nan", '{"type": "gaussian", "noise_multiplier": NaN}', "NaN"),
    Bad(
        "mechanism-file-bad-sigma",
        _add("@{dir}/mechanism.json"),
        ("mechanism.json", "mechanism.noise_multiplier"),
        (("mechanism.json", b'{"type": "gaussian", "noise_multiplier": -2}'),),
    ),
    Bad("mechanism-file-missing", _add("@{dir}/absent.json"), ("absent.json", "--mechanism")),
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
    _bad_ledger("empty-ledger", "empty.jsonl", b"", "empty"),
    _bad_ledger("binary-ledger", "garbage.jsonl", bytes(range(256)) * 4, "line 1"),
    _bad_ledger(
        "non-utf8-ledger",
        "latin1.jsonl",
        '{"dataset": "café"}\n'.encode("latin-1"),
        "line 1",
        "UTF-8",
    ),
    _bad_ledger(
        "ledger-line-with-unknown-mechanism-type",
        "hand.jsonl",
        _hand_ledger_with_unknown_type(),
        "line 1: mechanism.type",
        "os.system",
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
    script = console_script()
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
    script = console_script()

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

    monkeypatch.setattr("privaudit.assess.assess", explode)

    result = cli(capsys, "account", path)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert result.err.startswith("privaudit: internal error: ZeroDivisionError: boom")


# --- --version ----------------------------------------------------------------------------------


def test_version_prints_the_installed_version_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from importlib.metadata import version

    result = cli(capsys, "--version")

    assert result.code == 0
    assert result.out == f"privaudit {version('privaudit')}\n"
    assert result.err == ""


def test_version_loads_no_numerics() -> None:
    probe = (
        "import sys\n"
        "from privaudit.cli import main\n"
        "code = main(['--version'])\n"
        "heavy = sorted(m for m in ('numpy', 'scipy', 'dp_accounting') if m in sys.modules)\n"
        "print(code, heavy)\n"
    )

    result = run_python("-c", probe, cwd=ROOT)

    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == "0 []"
