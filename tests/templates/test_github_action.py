"""The GitHub Action (action.yml and templates/github/gate.sh) run as GitHub runs a composite
step: the script with the inputs as PRIVAUDIT_* variables and GitHub's own variables set."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml

from tests.templates.repository import (
    ROOT,
    Repository,
    epsilon_of,
    git_environment,
    make_repository,
    runner_path,
)

ACTION = ROOT / "action.yml"
SCRIPT = ROOT / "templates" / "github" / "gate.sh"
EARLIER_STEP = "## an earlier step's summary\n"


@dataclass(frozen=True)
class Job:
    code: int
    out: str
    err: str
    summary: str
    outputs: dict[str, str]
    junit: Path


def run_step(repo: Repository, tmp_path: Path, *, base: str = "", event: str = "push") -> Job:
    runner = tmp_path / "runner"
    runner.mkdir(exist_ok=True)
    summary, outputs = runner / "step_summary.md", runner / "output"
    summary.write_text(EARLIER_STEP, encoding="utf-8")
    outputs.write_text("", encoding="utf-8")
    environment = {
        **git_environment(),
        "PATH": runner_path(),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(repo.folder),
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_EVENT_NAME": event,
        "RUNNER_TEMP": str(runner),
        "PRIVAUDIT_LEDGER": str(repo.ledger.relative_to(repo.folder)),
        "PRIVAUDIT_POLICY": str(repo.policy.relative_to(repo.folder)),
        "PRIVAUDIT_BASE": base,
        "PRIVAUDIT_FORMAT": "github",
        "PRIVAUDIT_JUNIT": "privaudit-junit.xml",
    }
    if event == "pull_request":
        environment["GITHUB_BASE_REF"] = "main"
    done = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=repo.folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = outputs.read_text(encoding="utf-8").splitlines()
    pairs = [(line.partition("=")[0], line.partition("=")[2]) for line in lines]
    return Job(
        done.returncode,
        done.stdout,
        done.stderr,
        summary.read_text(encoding="utf-8"),
        dict(pairs),
        repo.folder / "privaudit-junit.xml",
    )


def pull_request(tmp_path: Path, *, limit: float, before: int, added: int) -> Repository:
    """A pull request: `main` holds the base ledger, the checked-out branch appends to it, and
    origin/main exists as actions/checkout leaves it with fetch-depth 0."""
    repo = make_repository(tmp_path, limit=limit, before=before, added=added)
    repo.git("update-ref", "refs/remotes/origin/main", repo.base)
    repo.git("checkout", "-q", "-b", "change")
    repo.git("commit", "-q", "--allow-empty", "-am", "the change")
    return repo


def test_a_ledger_within_budget_passes_and_annotates_the_ledger(tmp_path: Path) -> None:
    repo = make_repository(tmp_path, limit=10.0, before=1, added=0)

    job = run_step(repo, tmp_path)

    assert job.code == 0, job.err
    assert re.search(r"^::notice file=privacy/ledger\.jsonl,title=[^:]*::ds: ", job.out, re.M)
    assert job.outputs["exit-code"] == "0"


def test_a_ledger_over_budget_fails_the_step_with_an_error_annotation(tmp_path: Path) -> None:
    repo = make_repository(tmp_path, limit=epsilon_of(2) * 0.99, before=2, added=0)

    job = run_step(repo, tmp_path)

    assert job.code == 1
    assert re.search(r"^::error file=privacy/ledger\.jsonl,", job.out, re.M)
    assert job.outputs["exit-code"] == "1"


def test_the_junit_report_has_a_failing_case_for_the_dataset_over_budget(tmp_path: Path) -> None:
    repo = make_repository(tmp_path, limit=epsilon_of(2) * 0.99, before=2, added=0)

    job = run_step(repo, tmp_path)

    cases = ET.parse(job.junit).getroot().iter("testcase")
    failed = {case.get("name") for case in cases if case.find("failure") is not None}
    assert any(name and "ds" in name for name in failed)
    assert job.outputs["junit"] == "privaudit-junit.xml"


def test_the_step_summary_is_appended_after_earlier_steps(tmp_path: Path) -> None:
    repo = make_repository(tmp_path, limit=10.0, before=1, added=0)

    job = run_step(repo, tmp_path)

    assert job.summary.startswith(EARLIER_STEP)
    table = [line for line in job.summary.splitlines() if line.startswith("|")]
    assert any("ds" in line for line in table)


def test_a_pull_request_reports_what_the_change_adds(tmp_path: Path) -> None:
    repo = pull_request(tmp_path, limit=10.0, before=1, added=2)

    job = run_step(repo, tmp_path, base="auto", event="pull_request")

    assert job.code == 0, job.err
    row = next(line for line in job.summary.splitlines() if line.startswith("| ds"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    numbers = [float(cell) for cell in cells if re.fullmatch(r"\d+\.\d+", cell)]
    # ε before and after, each shown rounded up (4 significant digits), appear in the row.
    assert any(abs(n - epsilon_of(1)) < 1e-3 and n >= epsilon_of(1) for n in numbers)
    assert any(abs(n - epsilon_of(3)) < 1e-3 and n >= epsilon_of(3) for n in numbers)


def test_a_pull_request_that_rewrites_the_ledger_fails(tmp_path: Path) -> None:
    repo = pull_request(tmp_path, limit=10.0, before=3, added=0)
    lines = repo.ledger.read_text(encoding="utf-8").splitlines(keepends=True)
    repo.ledger.write_text("".join(lines[:2]), encoding="utf-8")  # the change drops an entry

    job = run_step(repo, tmp_path, base="auto", event="pull_request")

    assert job.code == 1
    assert re.search(r"^::error ", job.out, re.M)


def test_outside_a_pull_request_the_auto_base_checks_the_whole_ledger(tmp_path: Path) -> None:
    repo = make_repository(tmp_path, limit=10.0, before=1, added=0)

    job = run_step(repo, tmp_path, base="auto", event="push")

    assert job.code == 0, job.err
    assert "::notice title=privaudit::no pull request base" in job.out


def test_a_missing_policy_fails_the_step_with_exit_2(tmp_path: Path) -> None:
    repo = make_repository(tmp_path, limit=10.0, before=1, added=0)
    repo.policy.unlink()

    job = run_step(repo, tmp_path)

    assert job.code == 2
    assert job.err.count("\n") == 1
    assert "::error title=privaudit::the gate could not run (exit 2)" in job.out


def _action() -> dict[str, object]:
    loaded = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_the_action_declares_the_inputs_the_script_reads() -> None:
    inputs = _action()["inputs"]
    assert isinstance(inputs, dict)
    assert {"ledger", "policy", "base", "format"} <= set(inputs)
    assert inputs["ledger"]["required"] is True
    assert inputs["policy"]["required"] is True


@pytest.mark.parametrize("step", [0, 1])
def test_no_input_is_spliced_into_shell_text(step: int) -> None:
    # ${{ inputs.x }} inside `run:` would let a crafted ledger path run commands.
    runs = _action()["runs"]
    assert isinstance(runs, dict)
    assert runs["using"] == "composite"
    assert "${{" not in runs["steps"][step]["run"]


def test_the_action_runs_the_tested_script() -> None:
    runs = _action()["runs"]
    assert isinstance(runs, dict)
    gate = runs["steps"][-1]
    assert "templates/github/gate.sh" in gate["run"]
    assert set(gate["env"]) >= {"PRIVAUDIT_LEDGER", "PRIVAUDIT_POLICY", "PRIVAUDIT_BASE"}


def test_a_failing_gate_still_writes_the_step_summary(tmp_path: Path) -> None:
    # The summary matters most when the gate fails: it comes from the same single call.
    repo = make_repository(tmp_path, limit=epsilon_of(2) * 0.99, before=2, added=0)

    job = run_step(repo, tmp_path)

    assert job.code == 1
    assert any(line.startswith("| ds") for line in job.summary.splitlines())
