"""The shipped .pre-commit-hooks.yaml: valid for pre-commit, and run by pre-commit itself on
staged files in a real repository (as `repo: local` hooks with the installed privaudit, so no
hook environment is downloaded)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from privaudit.ledger import append_entry
from privaudit.mechanisms import Gaussian
from tests.cli.helpers import write_policy
from tests.templates.repository import ROOT, epsilon_of, git, git_environment, runner_path

clientlib = pytest.importorskip(
    "pre_commit.clientlib", reason="pre-commit is not installed (the [dev] extra)"
)

MANIFEST = ROOT / ".pre-commit-hooks.yaml"


def _hooks() -> dict[str, dict[str, Any]]:
    return {hook["id"]: hook for hook in yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))}


def test_the_manifest_is_valid_for_pre_commit() -> None:
    hooks = clientlib.load_manifest(str(MANIFEST))
    assert {hook["id"] for hook in hooks} == {"privaudit-verify", "privaudit-check"}


def _repository(tmp_path: Path, hooks: list[dict[str, Any]]) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    local = [{**hook, "language": "system"} for hook in hooks]
    config = {"repos": [{"repo": "local", "hooks": local}]}
    (folder / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


def _pre_commit(folder: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    git(folder, "add", ".")
    environment = {
        **git_environment(),
        "PATH": runner_path(),
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "NO_COLOR": "1",
    }
    environment.pop("PRIVAUDIT_DEBUG", None)
    return subprocess.run(
        ["pre-commit", "run", "--color", "never"],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _ledger(folder: Path, name: str, releases: int) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(releases):
        append_entry(path, dataset="ds", mechanism=Gaussian(noise_multiplier=2.0))
    return path


def test_the_verify_hook_passes_intact_staged_ledgers(tmp_path: Path) -> None:
    folder = _repository(tmp_path, [_hooks()["privaudit-verify"]])
    _ledger(folder, "privacy/ledger.jsonl", 2)
    _ledger(folder, "other/fl-ledger.jsonl", 1)

    done = _pre_commit(folder, tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "privaudit ledger verify" in done.stdout
    assert "Passed" in done.stdout


def test_the_verify_hook_fails_on_an_edited_staged_ledger(tmp_path: Path) -> None:
    folder = _repository(tmp_path, [_hooks()["privaudit-verify"]])
    _ledger(folder, "privacy/ledger.jsonl", 1)
    edited = _ledger(folder, "other/fl-ledger.jsonl", 2)
    edited.write_text(edited.read_text(encoding="utf-8").replace("2.0", "9.0", 1))

    done = _pre_commit(folder, tmp_path)

    assert done.returncode == 1
    assert "Failed" in done.stdout
    assert "other/fl-ledger.jsonl: line 1" in done.stdout


def test_the_verify_hook_leaves_other_json_lines_files_alone(tmp_path: Path) -> None:
    folder = _repository(tmp_path, [_hooks()["privaudit-verify"]])
    (folder / "events.jsonl").write_text('{"not": "a ledger"}\n', encoding="utf-8")

    done = _pre_commit(folder, tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "(no files to check)" in done.stdout


@pytest.mark.parametrize(("releases", "code"), [(1, 0), (2, 1)])
def test_the_check_hook_gates_the_budget(tmp_path: Path, releases: int, code: int) -> None:
    hook = {
        **_hooks()["privaudit-check"],
        "args": ["privacy/ledger.jsonl", "--policy", "privacy/policy.yaml"],
    }
    folder = _repository(tmp_path, [hook])
    _ledger(folder, "privacy/ledger.jsonl", releases)
    # Between the ε of one release and that of two: one passes, two exceed the limit.
    write_policy(folder / "privacy" / "policy.yaml", (epsilon_of(1) + epsilon_of(2)) / 2)

    done = _pre_commit(folder, tmp_path)

    assert done.returncode == code, done.stdout + done.stderr
    assert ("Passed" if code == 0 else "Failed") in done.stdout


def test_hooks_run_the_console_script_pre_commit_installs() -> None:
    # language: python installs this repository's package; its console script is `privaudit`.
    assert all(hook["language"] == "python" for hook in _hooks().values())
    assert all(hook["entry"].split()[0] == "privaudit" for hook in _hooks().values())
    assert os.sep not in "".join(hook["entry"] for hook in _hooks().values())
