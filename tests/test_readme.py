"""README.md works when pasted: every command of its tour runs, as written and in order, in a
folder laid out like a fresh checkout, and exits 0."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def tour_commands() -> list[str]:
    """The shell commands of the tour's block: continuation lines joined, comments dropped."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A tour of the command line") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "the tour has no bash block"
    joined = block.group(1).replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        # A comment starts at a '#' after whitespace, outside quotes (the tour quotes no '#').
        command = re.sub(r"(^|\s)#.*$", "", line).strip()
        if command:
            commands.append(command)
    return commands


def test_the_tour_has_the_commands_of_every_step() -> None:
    commands = tour_commands()
    for verb in ("policy init", "ledger add", "check", "report", "plan", "train", "demo"):
        assert any(f"privaudit {verb}" in command for command in commands), verb


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folders of a checkout the tour reads and writes (the shipped example policies and
    ledgers; reports/, the default output folder), in an otherwise empty folder."""
    folder = tmp_path_factory.mktemp("checkout")
    for name in ("policies", "reports"):
        shutil.copytree(ROOT / name, folder / name)
    return folder


def run_as_pasted(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """``command`` in bash in ``folder``, with this interpreter's privaudit first on the PATH."""
    environment = {key: value for key, value in os.environ.items() if key != "PRIVAUDIT_DEBUG"}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    environment["MPLBACKEND"] = "Agg"
    return subprocess.run(
        ["bash", "-c", command],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_every_tour_command_runs_as_written(checkout: Path) -> None:
    failures = []
    for command in tour_commands():
        done = run_as_pasted(command, checkout)
        if done.returncode != 0:
            failures.append(f"{command!r} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    assert failures == []


def test_the_planning_example_shows_what_the_command_prints(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Planning a training run") :]
    block = re.search(r"```console\n\$ (privaudit plan [^\n]*)\n(.*?)```", section, re.S)
    assert block is not None, "the planning section has no console example"
    command, shown = block.group(1), block.group(2)
    done = run_as_pasted(command, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == shown.strip()
