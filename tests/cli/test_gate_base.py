"""``privaudit check --base`` (the diff-aware gate) and ``--write FORMAT=PATH``: exit codes,
the change in the output, git bases in a real repository, and the outputs of one run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from privaudit.accounting.accountant import account
from privaudit.ledger import GENESIS, append_entry, canonical_json, entry_hash
from privaudit.mechanisms import parse_mechanism
from privaudit.rounding import up
from tests.cli.helpers import Result, cli, one_error_line, write_policy

DELTA = 1e-6  # the δ of write_policy's tier: the oracle accounts at the policy's δ
FORMATS = ("text", "json", "junit", "github", "markdown")


def gaussian(sigma: float) -> dict[str, Any]:
    return {"type": "gaussian", "noise_multiplier": sigma}


def add(path: Path, *sigmas: float, dataset: str = "ds") -> Path:
    for sigma in sigmas:
        append_entry(path, dataset=dataset, mechanism=gaussian(sigma), privacy_unit="example")
    return path


def oracle(*sigmas: float) -> float:
    return account([parse_mechanism(gaussian(s)) for s in sigmas], DELTA).epsilon


def rehashed(path: Path, edit: int) -> None:
    """Edit entry ``edit`` and re-hash the chain: a valid ledger with a different history."""
    prev = GENESIS
    lines = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        obj = json.loads(raw)
        if number == edit:
            obj["mechanism"]["noise_multiplier"] += 1.0
        obj["prev"] = prev
        obj["hash"] = prev = entry_hash(obj)
        lines.append(canonical_json(obj) + b"\n")
    path.write_bytes(b"".join(lines))


@pytest.fixture
def appended(tmp_path: Path) -> tuple[Path, Path]:
    """``base.jsonl`` (σ 6) and ``ledger.jsonl``: the base plus σ 7 and σ 8."""
    base = add(tmp_path / "base.jsonl", 6.0)
    ledger = tmp_path / "ledger.jsonl"
    shutil.copyfile(base, ledger)
    return base, add(ledger, 7.0, 8.0)


def check(capsys: pytest.CaptureFixture[str], ledger: Path, *args: str | Path) -> Result:
    policy = ledger.parent / "policy.yaml"
    if not policy.exists():
        write_policy(policy, 2.0)
    return cli(capsys, "check", ledger, "--policy", policy, *args)


def change_of(result: Result) -> dict[str, Any]:
    change: dict[str, Any] = json.loads(result.out)["change"]
    return change


# --- an appended change -----------------------------------------------------------------------


def test_an_append_within_budget_passes(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path]
) -> None:
    base, ledger = appended

    result = check(capsys, ledger, "--base", base, "--format", "json")

    assert result.code == 0, result.err
    change = change_of(result)
    assert (change["base_entries"], change["new_entries"], change["prefix"]) == (1, 3, True)


def test_the_added_epsilon_is_after_minus_before(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path]
) -> None:
    base, ledger = appended

    result = check(capsys, ledger, "--base", base, "--format", "json")

    [ds] = change_of(result)["datasets"]
    added = oracle(6.0, 7.0, 8.0) - oracle(6.0)
    assert ds["epsilon_before"] == oracle(6.0)
    assert ds["epsilon_after"] == oracle(6.0, 7.0, 8.0)
    assert ds["added"] == pytest.approx(added, rel=1e-12, abs=0)
    assert ds["entries_added"] == 2


def test_the_text_prints_the_added_epsilon(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path]
) -> None:
    base, ledger = appended

    result = check(capsys, ledger, "--base", base)

    added = oracle(6.0, 7.0, 8.0) - oracle(6.0)
    assert result.code == 0, result.err
    row = next(line for line in result.out.splitlines() if line.startswith("  ds "))
    assert row.split()[1:5] == [up(oracle(6.0)), up(oracle(6.0, 7.0, 8.0)), f"+{up(added)}", "+2"]


def test_an_append_over_the_limit_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = add(tmp_path / "base.jsonl", 6.0)
    ledger = tmp_path / "ledger.jsonl"
    shutil.copyfile(base, ledger)
    add(ledger, 1.0)
    assert oracle(6.0) < 2.0 < oracle(6.0, 1.0)  # the premise: this change crosses ε = 2

    result = check(capsys, ledger, "--base", base, "--format", "json")

    assert result.code == 1
    [ds] = change_of(result)["datasets"]
    assert (ds["status_before"], ds["status"]) == ("pass", "fail")
    assert ds["added"] == pytest.approx(oracle(6.0, 1.0) - oracle(6.0), rel=1e-12, abs=0)


# --- a rewritten history ----------------------------------------------------------------------


def test_an_edited_and_rehashed_history_fails_naming_the_entry(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path]
) -> None:
    base, ledger = appended
    add(base, 6.5)  # the base now has 2 entries; the ledger's entry 2 must equal it
    shutil.copyfile(base, ledger)
    rehashed(ledger, 2)
    add(ledger, 9.0)

    result = check(capsys, ledger, "--base", base)

    assert result.code == 1
    assert "privaudit: FAIL" in result.out
    assert "rewrote the ledger's history: entry 2 differs" in result.out


def test_a_base_longer_than_the_ledger_fails_naming_the_removed_entries(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path]
) -> None:
    base, ledger = appended

    # the roles swapped: the "base" is the longer ledger
    result = check(capsys, base, "--base", ledger)

    assert result.code == 1
    assert "entries 2-3 of base" in result.out
    assert "were removed" in result.out


@pytest.mark.parametrize("output_format", FORMATS)
def test_every_format_reports_a_rewrite(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path], output_format: str
) -> None:
    base, ledger = appended
    rehashed(ledger, 1)

    result = check(capsys, ledger, "--base", base, "--format", output_format)

    assert result.code == 1
    assert "rewrote the ledger's history: entry 1 differs" in result.out


# --- a base that is not a ledger --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not json\n", "is not a ledger"),
        (b"", "is not a ledger"),
        (b'{"seq": 1}\n', "is not a ledger"),
    ],
    ids=["not-json", "empty", "not-an-entry"],
)
def test_a_base_that_is_not_a_ledger_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
    appended: tuple[Path, Path],
    content: bytes,
    problem: str,
) -> None:
    base, ledger = appended
    base.write_bytes(content)

    result = check(capsys, ledger, "--base", base)

    assert result.code == 2
    line = one_error_line(result)
    assert line.startswith(f"privaudit: error: --base: {base}: ")
    assert problem in line
    assert result.out == ""


def test_a_base_with_a_broken_chain_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path]
) -> None:
    base, ledger = appended
    add(base, 6.5)
    lines = base.read_bytes().splitlines(keepends=True)
    base.write_bytes(lines[1])  # entry 2 alone: its prev is not the genesis

    result = check(capsys, ledger, "--base", base)

    assert result.code == 2
    assert "its own hash chain is broken" in one_error_line(result)


def test_a_missing_base_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path], tmp_path: Path
) -> None:
    _, ledger = appended

    result = check(capsys, ledger, "--base", tmp_path / "nowhere.jsonl")

    assert result.code == 2
    assert "--base" in one_error_line(result)
    assert "no such file" in result.err


# --- git:REV ----------------------------------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository in tmp_path, isolated from the user's and the system's git config (the
    in-process CLI runs git with this same environment)."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    return root


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, timeout=60)


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message)


@needs_git
def test_git_head_is_the_committed_ledger(capsys: pytest.CaptureFixture[str], repo: Path) -> None:
    (repo / "privacy").mkdir()  # a ledger below the top level: REV:PATH is relative to it
    ledger = add(repo / "privacy" / "ledger.jsonl", 6.0)
    commit(repo, "ledger")
    add(ledger, 7.0)

    result = check(capsys, ledger, "--base", "git:HEAD", "--format", "json")

    assert result.code == 0, result.err
    change = change_of(result)
    assert (change["base_source"], change["base_entries"], change["new_entries"]) == (
        "git:HEAD",
        1,
        2,
    )
    assert change["base_missing"] is False
    [ds] = change["datasets"]
    assert ds["added"] == pytest.approx(oracle(6.0, 7.0) - oracle(6.0), rel=1e-12, abs=0)


@needs_git
def test_git_revision_without_the_ledger_is_an_empty_base(
    capsys: pytest.CaptureFixture[str], repo: Path
) -> None:
    (repo / "README").write_text("first commit, no ledger yet\n", encoding="utf-8")
    commit(repo, "readme")
    ledger = add(repo / "ledger.jsonl", 6.0)
    commit(repo, "ledger")

    result = check(capsys, ledger, "--base", "git:HEAD~1")

    assert result.code == 0, result.err
    assert "the ledger did not exist there (a new ledger), so the base is empty" in result.out
    row = next(line for line in result.out.splitlines() if line.startswith("  ds "))
    assert row.split()[1:5] == ["0", up(oracle(6.0)), f"+{up(oracle(6.0))}", "+1"]


@needs_git
def test_git_base_that_was_rewritten_fails(capsys: pytest.CaptureFixture[str], repo: Path) -> None:
    ledger = add(repo / "ledger.jsonl", 6.0, 7.0)
    commit(repo, "ledger")
    rehashed(ledger, 2)

    result = check(capsys, ledger, "--base", "git:HEAD")

    assert result.code == 1
    assert "entry 2 differs from entry 2 of base git:HEAD" in result.out


@needs_git
@pytest.mark.parametrize(
    ("revision", "problem"),
    [
        ("no-such-branch", "unknown revision 'no-such-branch'"),
        ("-h", "must not start with '-'"),
        ("--output=x", "must not start with '-'"),
        ("HEAD x", "whitespace or control characters"),
        ("HEAD\x1b", "whitespace or control characters"),
        ("HEAD:other.jsonl", "must not contain ':'"),
        ("", "found none"),
    ],
    ids=["unknown", "dash", "option", "space", "control", "colon", "empty"],
)
def test_a_bad_git_revision_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], repo: Path, revision: str, problem: str
) -> None:
    ledger = add(repo / "ledger.jsonl", 6.0)
    commit(repo, "ledger")

    result = check(capsys, ledger, "--base", f"git:{revision}")

    assert result.code == 2
    line = one_error_line(result)
    assert line.startswith("privaudit: error: --base: git:")
    assert problem in line
    assert not (repo / "x").exists()


@needs_git
def test_git_base_outside_a_repository_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "plain").mkdir()
    ledger = add(tmp_path / "plain" / "ledger.jsonl", 6.0)

    result = check(capsys, ledger, "--base", "git:HEAD")

    assert result.code == 2
    assert "is not in a git repository" in one_error_line(result)


def test_git_missing_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
    appended: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, ledger = appended
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    result = check(capsys, ledger, "--base", "git:HEAD")

    assert result.code == 2
    assert "git is not installed" in one_error_line(result)


# --- markdown as a pull-request comment -------------------------------------------------------


def test_markdown_headline_and_table_columns(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path]
) -> None:
    from tests.test_change import markdown_table

    base, ledger = appended

    result = check(capsys, ledger, "--base", base, "--format", "markdown")

    assert result.code == 0, result.err
    assert result.out.startswith("## privaudit: PASS\n")
    rows = markdown_table(result.out)
    assert rows[0] == ["dataset", "ε before", "ε after", "added", "limit", "used", "status"]
    assert rows[1][:3] == ["ds", up(oracle(6.0)), up(oracle(6.0, 7.0, 8.0))]


# --- --write FORMAT=PATH ----------------------------------------------------------------------


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same generated_at in every run, so separate runs' outputs compare byte for byte."""
    monkeypatch.setattr("privaudit.assess._now", lambda: "2026-01-01T00:00:00Z")


@pytest.mark.usefixtures("fixed_clock")
def test_write_gives_each_format_as_format_does(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path], tmp_path: Path
) -> None:
    base, ledger = appended
    writes = [f"--write={name}={tmp_path / f'out.{name}'}" for name in FORMATS]

    result = check(capsys, ledger, "--base", base, "--format", "github", *writes)

    assert result.code == 0, result.err
    for name in FORMATS:
        alone = check(capsys, ledger, "--base", base, "--format", name)
        assert (tmp_path / f"out.{name}").read_text(encoding="utf-8") == alone.out, name
        if name == "github":
            assert result.out == alone.out


@pytest.mark.usefixtures("fixed_clock")
def test_write_without_a_base_writes_the_plain_assessment(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path], tmp_path: Path
) -> None:
    _, ledger = appended

    result = check(capsys, ledger, "--write", f"junit={tmp_path / 'j.xml'}")

    alone = check(capsys, ledger, "--format", "junit")
    assert result.code == 0, result.err
    assert (tmp_path / "j.xml").read_text(encoding="utf-8") == alone.out
    assert result.out.startswith("privaudit: PASS")


def test_write_exits_with_the_verdict_after_writing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ledger = add(tmp_path / "ledger.jsonl", 1.0, 1.0)

    result = check(capsys, ledger, "--write", f"json={tmp_path / 'out.json'}")

    assert result.code == 1
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["status"] == "fail"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("junit", "expected FORMAT=PATH"),
        ("=out.xml", "expected FORMAT=PATH"),
        ("junit=", "expected FORMAT=PATH"),
        ("xml=out.xml", "unknown format 'xml'"),
        ("json=missing-folder/out.json", "does not exist"),
    ],
    ids=["no-equals", "no-format", "no-path", "unknown-format", "no-folder"],
)
def test_write_refuses_a_malformed_value(
    capsys: pytest.CaptureFixture[str],
    appended: tuple[Path, Path],
    value: str,
    problem: str,
) -> None:
    _, ledger = appended

    result = check(capsys, ledger, "--write", value)

    assert result.code == 2
    line = one_error_line(result)
    assert line.startswith(f"privaudit: error: --write: {value}: ")
    assert problem in line


@pytest.mark.parametrize("what", ["ledger", "policy", "base"])
def test_write_refuses_an_input_file(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path], what: str
) -> None:
    base, ledger = appended
    write_policy(ledger.parent / "policy.yaml", 2.0)
    target = {"ledger": ledger, "policy": ledger.parent / "policy.yaml", "base": base}[what]
    before = target.read_bytes()

    result = check(capsys, ledger, "--base", base, "--write", f"json={target}")

    assert result.code == 2
    assert f"is the {what} file" in one_error_line(result)
    assert target.read_bytes() == before


def test_write_refuses_the_same_path_twice(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path], tmp_path: Path
) -> None:
    _, ledger = appended
    out = tmp_path / "out"

    result = check(capsys, ledger, "--write", f"json={out}", "--write", f"junit={out}")

    assert result.code == 2
    assert "is written twice" in one_error_line(result)
    assert not out.exists()


def test_output_refuses_the_base_file(
    capsys: pytest.CaptureFixture[str], appended: tuple[Path, Path]
) -> None:
    base, ledger = appended
    before = base.read_bytes()

    result = check(capsys, ledger, "--base", base, "--output", base)

    assert result.code == 2
    assert "is the base file" in one_error_line(result)
    assert base.read_bytes() == before
