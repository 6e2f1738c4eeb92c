"""What the template tests share: a git repository holding a ledger and a policy, as a CI job
checks it out, and the environment a CI runner gives a job step."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from privaudit.accounting.accountant import account
from privaudit.ledger import append_entry
from privaudit.mechanisms import Gaussian
from tests.cli.helpers import write_policy

ROOT = Path(__file__).resolve().parents[2]
SIGMA = 2.0
DELTA = 1e-6
"""The policy's δ (tests.cli.helpers.write_policy)."""


def epsilon_of(releases: int) -> float:
    """ε of ``releases`` Gaussians with σ = 2 at the policy's δ, from the accountant directly."""
    return account([Gaussian(noise_multiplier=SIGMA)] * releases, DELTA).epsilon


@dataclass(frozen=True)
class Repository:
    folder: Path
    ledger: Path
    policy: Path
    base: str
    """The commit holding the ledger before the change."""

    def git(self, *args: str) -> str:
        return git(self.folder, *args)


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", *args],
        cwd=folder,
        env=git_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def git_environment() -> dict[str, str]:
    # The user's git configuration (signing, hooks, default branch) must not leak into a test.
    return {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def make_repository(tmp_path: Path, *, limit: float, before: int, added: int) -> Repository:
    """A repository whose base commit holds ``before`` releases and whose work tree holds
    ``added`` more, appended (the change under review), under a policy of ε ≤ ``limit``."""
    folder = tmp_path / "repo"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    ledger = folder / "privacy" / "ledger.jsonl"
    ledger.parent.mkdir()
    for _ in range(before):
        append_entry(ledger, dataset="ds", mechanism=Gaussian(noise_multiplier=SIGMA))
    policy = write_policy(folder / "privacy" / "policy.yaml", limit)
    git(folder, "add", ".")
    git(folder, "commit", "-q", "-m", "base")
    base = git(folder, "rev-parse", "HEAD")
    for _ in range(added):
        append_entry(ledger, dataset="ds", mechanism=Gaussian(noise_multiplier=SIGMA))
    return Repository(folder, ledger, policy, base)


def runner_path() -> str:
    """PATH with this interpreter's scripts first, so the job runs the privaudit under test."""
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
