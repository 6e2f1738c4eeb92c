"""Policies and releases the budget tests share."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from privaudit.mechanisms import DpSgd, Gaussian
from privaudit.policy import Policy, load_policy

SIGMA = 4.0
GAUSSIAN = Gaussian(noise_multiplier=SIGMA)
"""An unsampled Gaussian: k of them compose exactly into one with μ = √k/σ (Dong et al. 2019)."""
STEP = DpSgd(noise_multiplier=1.1, sampling_rate=0.01, steps=1)
"""One Poisson-sampled DP-SGD step."""
DELTA = 1e-5


def write_policy(
    folder: Path,
    epsilon: float,
    *,
    per_run: float | None = None,
    accountant: str = "pld",
    unit: str = "example",
) -> Policy:
    lines = [
        "tiers:",
        "  sensitive:",
        f"    epsilon: {epsilon}",
        f"    delta: {DELTA}",
        f"    privacy_unit: {unit}",
        f"    accountant: {accountant}",
    ]
    if per_run is not None:
        lines.append(f"    per_run_epsilon: {per_run}")
    lines += ["datasets:", "  ds:", "    tier: sensitive", "    size: 100000"]
    path = folder / "policy.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_policy(path)


ROOT = Path(__file__).resolve().parents[2]


def killed_run(ledger: Path, flushed: int, pending: int) -> None:
    """A real process that records ``flushed`` steps, flushes, records ``pending`` more and is
    then killed with SIGKILL (no handler, no atexit)."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from privaudit.budget.recorder import StepRecorder
        from privaudit.mechanisms import Sampling
        steps = StepRecorder({str(ledger)!r}, dataset="ds", sampling=Sampling.POISSON, run="r")
        for _ in range({flushed}):
            steps.step(1.1, 0.01, {{}})
        steps.flush()
        for _ in range({pending}):
            steps.step(1.1, 0.01, {{}})
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False)
    assert done.returncode == -signal.SIGKILL
