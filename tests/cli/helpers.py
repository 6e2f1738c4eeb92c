"""What the command-line tests share: running ``privaudit`` in-process or as a real process,
small policies and releases, and the check that an error is one line.

Most tests call :func:`privaudit.cli.main` in-process and capture its output with ``capsys``;
a few run the real interpreter (``python -m privaudit.cli`` and the installed console script)
to prove that what a CI job sees is one line on stderr and never a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from privaudit.cli import main
from tests.accounting.oracles import gaussian_epsilon

ROOT = Path(__file__).resolve().parents[2]

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


def console_script() -> Path:
    """The installed ``privaudit`` script beside this interpreter (the test skips without it)."""
    script = Path(sys.executable).parent / "privaudit"
    if not script.is_file():
        pytest.skip(f"no privaudit console script beside {sys.executable} (not installed)")
    return script


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


def report(
    capsys: pytest.CaptureFixture[str], ledger: Path, policy: Path, *args: str | Path
) -> Result:
    """``privaudit report LEDGER --policy POLICY ARGS...``."""
    return cli(capsys, "report", ledger, "--policy", policy, *args)
