"""Flower's Deployment Engine as processes: one SuperLink and one SuperNode per silo on
127.0.0.1, the privaudit app submitted with ``flwr run``, and every process stopped at the end,
also when the run fails. With ``superlink=ADDRESS`` only the app is submitted, to a federation
someone else started (SuperNodes on the silos' own machines).

Each process gets its own session, so stopping it stops what it started (Flower's SuperExec
starts ``flwr-serverapp`` and ``flwr-clientapp`` processes); a SuperNode killed with SIGKILL
is a silo gone for good, as when its machine fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from privaudit.errors import InputError, PrivauditError

APP_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "privaudit-federation"
version = "1.0.0"
description = "privaudit: distributed DP-SGD over secure aggregation, accounted per round"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "privaudit"

[tool.flwr.app.components]
serverapp = "privaudit.integrations.flower.server_app:app"
clientapp = "privaudit.integrations.flower.client_app:app"

[tool.flwr.app.config]
spec = ""
"""
"""The Flower app privaudit submits: its components are privaudit's own modules, installed on
every machine of the federation (``pip install privaudit[flower]``), so the FAB carries no code."""


class FlowerError(PrivauditError):
    """A Flower process failed to start, or the run failed; the message says which and why."""

    exit_code = 1


OFFLINE = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}
"""Flower reports usage to telemetry.flower.ai and asks for updates unless told not to: every
Flower process privaudit starts talks to the federation only."""


def flower_environment(home: Path) -> dict[str, str]:
    """The environment of a Flower process privaudit starts: Flower's home ``home``, offline."""
    return {**os.environ, **OFFLINE, "FLWR_HOME": str(home)}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tool(name: str) -> str:
    # The console scripts of the interpreter running privaudit, so a venv's Flower is used.
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        raise InputError(
            "--engine", None, f"Flower's {name} is not installed (pip install privaudit[flower])"
        )
    return found


def silo_nodes(silos: Mapping[int, Path]) -> dict[int, str]:
    """The node configs of privaudit's app: partition id → ``partition-id=I data-file="PATH"``."""
    return {i: f'partition-id={i} data-file="{path}"' for i, path in silos.items()}


def partition_nodes(count: int) -> dict[int, str]:
    """Flower's usual node configs: ``partition-id=I num-partitions=N`` for I < ``count``."""
    return {i: f"partition-id={i} num-partitions={count}" for i in range(count)}


@dataclass
class LocalFederation:
    """A SuperLink and one SuperNode per ``nodes`` entry (partition id → its ``--node-config``,
    e.g. from :func:`silo_nodes`), all on 127.0.0.1, their logs and Flower's home in
    ``folder``. A context manager: leaving it stops every process."""

    folder: Path
    nodes: Mapping[int, str]
    say: Callable[[str], None] = lambda _line: None
    address: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __enter__(self) -> LocalFederation:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        self._spawn(
            "superlink",
            [
                _tool("flower-superlink"),
                "--insecure",
                "--disable-runtime-dependency-installation",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
        )
        _wait_for_port(port, self.processes["superlink"], self.folder / "superlink.log")
        for partition, node_config in sorted(self.nodes.items()):
            self._spawn(
                f"supernode-{partition}",
                [
                    _tool("flower-supernode"),
                    "--insecure",
                    "--superlink",
                    self.address,
                    "--port",
                    str(free_port()),
                    "--node-config",
                    node_config,
                ],
            )
        self.say(f"flower: SuperLink on {self.address}, {len(self.nodes)} SuperNodes")

    def kill_node(self, partition: int) -> None:
        """SIGKILL the silo's SuperNode and whatever it started: the silo is gone."""
        process = self.processes.get(f"supernode-{partition}")
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def alive(self, partition: int) -> bool:
        process = self.processes.get(f"supernode-{partition}")
        return process is not None and process.poll() is None

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after 10 s), SuperNodes first."""
        order = sorted(self.processes, key=lambda name: name == "superlink")
        for name in order:
            _signal(self.processes[name], signal.SIGTERM)
        deadline = time.time() + 10
        for name in order:
            process = self.processes[name]
            try:
                process.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                _signal(process, signal.SIGKILL)
                process.wait()
            # Children (flwr-serverapp, flwr-clientapp) share the session: none may outlive it.
            _signal(process, signal.SIGKILL)
        for name in order:
            _wait_group_gone(self.processes[name].pid, deadline=time.time() + 10)

    def _spawn(self, name: str, command: Sequence[str]) -> None:
        log = (self.folder / f"{name}.log").open("wb")
        environment = flower_environment(self.folder / "flwr-home")
        self.processes[name] = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
            cwd=self.folder,
        )
        log.close()


def _signal(process: subprocess.Popen[bytes], number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, number)


def group_alive(group: int) -> bool:
    """Whether a process of process group ``group`` still runs (zombies, dead and waiting for
    their parent to read their status, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # The command name (field 2) may hold spaces and parentheses: split after it.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == group and fields[0] not in ("Z", "X"):
            return True
    return False


def _wait_group_gone(group: int, deadline: float) -> None:
    # SIGKILL is delivered asynchronously: wait until the kernel has ended every member, so the
    # caller may rely on nothing of the federation running once stop() returns.
    while group_alive(group) and time.time() < deadline:
        time.sleep(0.05)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise FlowerError(f"the SuperLink exited at start: {_tail(log)}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise FlowerError(f"the SuperLink did not listen on 127.0.0.1:{port} within 60 s")


def _tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:])


@dataclass(frozen=True)
class Submission:
    """A run submitted to a SuperLink: its id and the Flower home it was submitted from."""

    run_id: int
    superlink: str
    home: Path


def submit(folder: Path, superlink: str, spec: Path) -> Submission:
    """Write privaudit's app into ``folder/app`` and submit it to ``superlink`` with ``spec``."""
    app = folder / "app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "pyproject.toml").write_text(APP_PYPROJECT)
    return submit_app(folder, superlink, app, f'spec="{spec}"')


def submit_app(folder: Path, superlink: str, app: Path, run_config: str = "") -> Submission:
    """Submit the Flower app in folder ``app`` to ``superlink`` (``flwr run``) with the
    ``--run-config`` overrides ``run_config``; the flwr CLI's home is ``folder/flwr-cli``."""
    home = folder / "flwr-cli"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        '[superlink]\ndefault = "privaudit"\n\n'
        f'[superlink.privaudit]\naddress = "{superlink}"\ninsecure = true\n'
    )
    arguments = ["run", str(app), "privaudit", "--format", "json"]
    if run_config:
        arguments += ["--run-config", run_config]
    done = _flwr(home, arguments)
    try:
        answer = json.loads(done.stdout)
        run_id = int(answer["run-id"])
    except (ValueError, KeyError, TypeError) as error:
        raise FlowerError(f"flwr run did not start the app: {done.stdout} {done.stderr}") from error
    return Submission(run_id, superlink, home)


def run_status(submission: Submission) -> str:
    """Flower's status of the run, e.g. ``running``, ``finished:completed``, ``finished:failed``."""
    done = _flwr(submission.home, ["ls", "privaudit", "--format", "json"])
    try:
        runs = json.loads(done.stdout)["runs"]
    except (ValueError, KeyError, TypeError):
        return "unknown"
    for run in runs:
        if int(run.get("run-id", -1)) == submission.run_id:
            return str(run.get("status", "unknown"))
    return "unknown"


def run_log(submission: Submission) -> str:
    done = _flwr(submission.home, ["log", str(submission.run_id), "privaudit", "--show"])
    return str(done.stdout) + str(done.stderr)


def stop_run(submission: Submission) -> None:
    _flwr(submission.home, ["stop", str(submission.run_id), "privaudit"], check=False)


def _flwr(home: Path, arguments: list[str], *, check: bool = True) -> Any:
    environment = flower_environment(home)
    done = subprocess.run(
        [_tool("flwr"), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    if check and done.returncode != 0:
        raise FlowerError(f"flwr {arguments[0]} failed: {(done.stdout + done.stderr).strip()}")
    return done
