"""The GitLab job template (templates/gitlab/privaudit-gate.gitlab-ci.yml): its script run as a
GitLab runner runs it (one bash session, `set -eo pipefail`, the job's variables and GitLab's
predefined ones in the environment), in a real repository."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import yaml

from tests.templates.repository import (
    ROOT,
    Repository,
    epsilon_of,
    git_environment,
    make_repository,
    runner_path,
)

TEMPLATE = ROOT / "templates" / "gitlab" / "privaudit-gate.gitlab-ci.yml"


def _job() -> dict[str, Any]:
    loaded = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    job: dict[str, Any] = loaded[".privaudit-gate"]
    return job


@dataclass(frozen=True)
class Job:
    code: int
    out: str
    err: str
    folder: Path


def run_job(repo: Repository, *, merge_request: bool, **variables: str) -> Job:
    job = _job()
    environment = {
        **git_environment(),
        **{key: str(value) for key, value in job["variables"].items()},
        "PATH": runner_path(),
        "CI": "true",
        "GITLAB_CI": "true",
        "CI_PROJECT_DIR": str(repo.folder),
        "CI_PIPELINE_SOURCE": "merge_request_event" if merge_request else "push",
        "PRIVAUDIT_LEDGER": str(repo.ledger.relative_to(repo.folder)),
        "PRIVAUDIT_POLICY": str(repo.policy.relative_to(repo.folder)),
        "PRIVAUDIT_INSTALL": "",  # privaudit under test is on PATH; the runner image has none
        **variables,
    }
    if merge_request:
        environment["CI_MERGE_REQUEST_DIFF_BASE_SHA"] = repo.base
    script = "set -eo pipefail\n" + "\n".join(job["script"])
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=repo.folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Job(done.returncode, done.stdout, done.stderr, repo.folder)


def test_the_job_reports_junit_to_gitlab() -> None:
    job = _job()
    assert job["artifacts"]["reports"]["junit"] == "$PRIVAUDIT_JUNIT"
    assert job["artifacts"]["when"] == "always"  # the report matters most when the gate fails
    assert job["variables"]["GIT_DEPTH"] == "0"  # git:REV needs the history


def test_a_ledger_within_budget_passes(tmp_path: Path) -> None:
    repo = make_repository(tmp_path, limit=10.0, before=1, added=0)

    job = run_job(repo, merge_request=False)

    assert job.code == 0, job.err
    assert "ds" in job.out


def test_a_ledger_over_budget_fails_the_job_with_a_junit_failure(tmp_path: Path) -> None:
    repo = make_repository(tmp_path, limit=epsilon_of(2) * 0.99, before=2, added=0)

    job = run_job(repo, merge_request=False)

    assert job.code == 1
    junit = ET.parse(job.folder / _job()["variables"]["PRIVAUDIT_JUNIT"]).getroot()
    assert any(case.find("failure") is not None for case in junit.iter("testcase"))


def test_a_merge_request_compares_with_its_diff_base(tmp_path: Path) -> None:
    repo = make_repository(tmp_path, limit=10.0, before=1, added=2)

    job = run_job(repo, merge_request=True)

    assert job.code == 0, job.err
    summary = (job.folder / _job()["variables"]["PRIVAUDIT_SUMMARY"]).read_text(encoding="utf-8")
    row = next(line for line in summary.splitlines() if line.startswith("| ds"))
    numbers = [float(n) for n in re.findall(r"\d+\.\d+", row)]
    assert any(abs(n - epsilon_of(1)) < 1e-3 and n >= epsilon_of(1) for n in numbers)
    assert any(abs(n - epsilon_of(3)) < 1e-3 and n >= epsilon_of(3) for n in numbers)


def test_a_merge_request_that_rewrites_the_ledger_fails(tmp_path: Path) -> None:
    repo = make_repository(tmp_path, limit=10.0, before=3, added=0)
    lines = repo.ledger.read_text(encoding="utf-8").splitlines(keepends=True)
    repo.ledger.write_text("".join(lines[:1]), encoding="utf-8")

    job = run_job(repo, merge_request=True)

    assert job.code == 1


def test_a_bad_base_is_exit_2_in_one_line(tmp_path: Path) -> None:
    repo = make_repository(tmp_path, limit=10.0, before=1, added=0)

    job = run_job(repo, merge_request=False, PRIVAUDIT_BASE="git:no-such-revision")

    assert job.code == 2
    assert job.err.count("\n") == 1
    assert "--base" in job.err


def test_without_privaudit_installed_the_job_says_how_to_install_it(tmp_path: Path) -> None:
    repo = make_repository(tmp_path, limit=10.0, before=1, added=0)

    job = run_job(repo, merge_request=False, PATH="/usr/bin:/bin")

    assert job.code == 2
    assert "set PRIVAUDIT_INSTALL" in job.err
