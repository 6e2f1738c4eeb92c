"""The Flower engine: a scenario's deployment run on Flower's Deployment Engine.

:class:`FlowerEngine` implements :class:`privaudit.federated.engine.Engine`. It writes each
silo's records to its own ``.npz`` file, the run spec beside them, starts a SuperLink and one
SuperNode per silo on 127.0.0.1 (or, with ``superlink``, uses a federation already running),
submits the privaudit app and follows its progress until the ServerApp has written its result.
Every process it started is stopped when it returns or fails. The scenario's absences happen
for real: the silo's SuperNode is killed (SIGKILL) in the middle of that round's secure sum,
after it shared its keys and before it sent its masked input, so the protocol must recover.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privaudit.errors import InputError
from privaudit.federated.engine import SecureDpSgdRun
from privaudit.federated.results import FederatedResult, LedgerItem, RoundRecord
from privaudit.federated.server import Server
from privaudit.federated.strategies import DistributedDpSgdStrategy
from privaudit.integrations.flower.processes import (
    FlowerError,
    LocalFederation,
    Submission,
    run_log,
    run_status,
    silo_nodes,
    stop_run,
    submit,
)
from privaudit.integrations.flower.spec import (
    LedgerSpec,
    RunSpec,
    SecAggSpec,
    SiloSpec,
    load_arrays,
    write_spec,
)

KILL_AT_STAGE = "masked"
"""An absent silo is killed when this stage of its first absent round begins: it has shared
its keys, so the survivors must rebuild its masks (Bonawitz et al. 2017, Fig. 4 Round 4)."""


@dataclass
class FlowerEngine:
    """Runs distributed DP-SGD over secure aggregation as a Flower app.

    The silo files, spec and processes live in a temporary folder, removed afterwards; the
    logs and the ServerApp's round records are copied to the run's ``logs``. ``superlink`` is
    the address of an existing SuperLink whose SuperNodes the silos started themselves
    (``--node-config "partition-id=I data-file=PATH"``); None starts them here.
    ``stage_timeout`` is how long a protocol stage waits for a silo before it counts it as
    dropped out."""

    superlink: str | None = None
    say: Callable[[str], None] = lambda _line: None
    stage_timeout: float = 45.0
    name: str = "flower"

    def run_secure_dpsgd(self, run: SecureDpSgdRun) -> FederatedResult:
        folder = Path(tempfile.mkdtemp(prefix="privaudit-flower-")).resolve()
        try:
            return self._run(run, folder)
        finally:
            if run.logs is not None:
                _keep_logs(folder, Path(run.logs))
            shutil.rmtree(folder, ignore_errors=True)

    def _run(self, run: SecureDpSgdRun, folder: Path) -> FederatedResult:
        silo_files = self._silo_files(run, folder) if self.superlink is None else {}
        spec = self._spec(run, folder)
        params = run.config.model.build(run.x.shape[1], max(run.n_classes, 2)).init(
            np.random.Generator(
                np.random.PCG64(
                    np.random.SeedSequence(run.config.seed).spawn(3 + len(run.parts))[2]
                )
            ),
            np.float64 if run.x.dtype == np.float64 else np.float32,
        )
        spec_path = write_spec(spec, params, run.x_test, run.y_test)
        started = time.perf_counter()
        with self._federation(folder, silo_files) as federation:
            address = self.superlink if federation is None else federation.address
            assert address is not None
            submission = submit(folder / "submit", address, spec_path)
            self.say(f"flower: run {submission.run_id} submitted to {address}")
            try:
                self._follow(run, spec, submission, federation)
            except BaseException:
                stop_run(submission)
                raise
        return self._result(run, spec, params, time.perf_counter() - started)

    @contextmanager
    def _federation(
        self, folder: Path, silo_files: dict[int, Path]
    ) -> Iterator[LocalFederation | None]:
        if self.superlink is not None:
            with nullcontext():
                yield None
            return
        nodes = silo_nodes(silo_files)
        with LocalFederation(folder / "processes", nodes, say=self.say) as federation:
            yield federation

    def _silo_files(self, run: SecureDpSgdRun, folder: Path) -> dict[int, Path]:
        files = {i: folder / f"silo-{i}.npz" for i in range(len(run.parts))}
        for i, rows in enumerate(run.parts):
            _write_silo(files[i], run, rows)
        return files

    def _spec(self, run: SecureDpSgdRun, folder: Path) -> RunSpec:
        ledger = run.ledger
        return RunSpec(
            config=run.config,
            silos=tuple(
                SiloSpec(i, str(name), len(rows))
                for i, (name, rows) in enumerate(zip(run.silo_names, run.parts, strict=True))
            ),
            secagg=SecAggSpec(run.threshold, float(run.value_bound)),
            ledger=None
            if ledger is None
            else LedgerSpec(
                path=str(Path(ledger.path).resolve()),
                dataset=ledger.dataset,
                run=ledger.run,
                privacy_unit=ledger.privacy_unit,
                policy=None if ledger.policy is None else str(Path(ledger.policy).resolve()),
                epsilon_limit=ledger.epsilon_limit,
            ),
            folder=str(folder / "run"),
            n_features=int(run.x.shape[1]),
            n_classes=int(run.n_classes),
            evaluate_every=run.evaluate_every,
            stage_timeout=self.stage_timeout,
            seed_streams=run.config.seed is not None,
        )

    def _follow(
        self,
        run: SecureDpSgdRun,
        spec: RunSpec,
        submission: Submission,
        federation: LocalFederation | None,
    ) -> None:
        """Relay the ServerApp's progress, make the planned absences happen, and return once it
        has written its result; raise when the run failed."""
        progress = spec.path / "progress.jsonl"
        result = spec.path / "rounds.json"
        absent = {
            a.first_round: a.client
            for a in (run.heterogeneity.absences if run.heterogeneity else ())
        }
        seen = 0
        checked = time.time()
        while not result.exists():
            time.sleep(0.5)
            lines = progress.read_text().splitlines() if progress.exists() else []
            for text in lines[seen:]:
                event = json.loads(text)
                self.say(f"flower: {event['line']}")
                r, stage = event.get("round"), event.get("stage")
                if federation is not None and stage == KILL_AT_STAGE and r in absent:
                    silo = absent[r]
                    if federation.alive(silo):
                        federation.kill_node(silo)
                        self.say(f"flower: killed the SuperNode of {run.silo_names[silo]}")
                if stage == "done" and run.on_round is not None:
                    run.on_round(_round_record(event["record"], run.config.clip_norm))
            seen = len(lines)
            if time.time() - checked > 10:
                checked = time.time()
                status = run_status(submission)
                if status.startswith("finished") and not result.exists():
                    time.sleep(2)
                    if not result.exists():
                        raise FlowerError(
                            f"the Flower run {submission.run_id} ended ({status}) without a"
                            f" result: {run_log(submission)[-800:]}"
                        )
        summary = json.loads(result.read_text())
        if summary["status"] == "failed":
            raise FlowerError(f"the Flower run failed: {summary['reason']}")

    def _result(
        self, run: SecureDpSgdRun, spec: RunSpec, initial: Any, seconds: float
    ) -> FederatedResult:
        summary = json.loads((spec.path / "rounds.json").read_text())
        (params,) = load_arrays(spec.path / "result.npz", "params")
        model = run.config.model.build(run.x.shape[1], max(run.n_classes, 2))
        strategy = DistributedDpSgdStrategy(
            run.config,
            {s.index: s.name for s in spec.silos},
            {s.index: s.examples for s in spec.silos},
            np.random.default_rng(),
        )
        items: list[LedgerItem] = []
        if run.ledger is not None:
            from privaudit.ledger import read_ledger

            entries = read_ledger(run.ledger.path, allow_missing=True).entries
            items = [
                LedgerItem(e.partition, e.mechanism, dict(e.meta))
                for e in entries
                if e.run == run.ledger.run and e.dataset == run.ledger.dataset
            ]
        status = summary["status"]
        return FederatedResult(
            mode="distributed_dpsgd",
            privacy_unit="example",
            rounds=tuple(
                _round_record(r, run.config.clip_norm) for r in summary["rounds"] if r["survivors"]
            ),
            ledger_entries=tuple(items),
            params=params.astype(initial.dtype),
            model=model,
            server=Server(strategy, model, params),
            seed=run.config.seed if run.config.seed is not None else "crypto",
            wall_time=seconds,
            engine=self.name,
            stopped=None if status == "completed" else f"{status}: {summary['reason']}",
            ledger_written=run.ledger is not None,
        )


class SilosExported(Exception):
    """Raised by :class:`SiloExport` once the silo files are written: the scenario stops there,
    before anything is trained or released. ``files`` maps silo name → its file, in partition
    order."""

    def __init__(self, files: dict[str, Path]) -> None:
        super().__init__(f"{len(files)} silo files written")
        self.files = files


@dataclass
class SiloExport:
    """Not an engine that trains: it writes each silo's records of a scenario's deployment as
    the ``data-file`` its SuperNode reads (``NAME.npz`` in ``folder``) and stops the scenario
    (:class:`SilosExported`). Copy each file to its silo's machine, start the SuperNodes there,
    then run the scenario with ``--superlink``: the partition is a function of the scenario and
    its seed, so both runs agree. Files already in ``folder`` are never overwritten; a failed
    export leaves none of its own behind."""

    folder: Path
    name: str = "flower"

    def run_secure_dpsgd(self, run: SecureDpSgdRun) -> FederatedResult:
        paths = {str(name): self.folder / f"{name}.npz" for name in run.silo_names}
        present = [path.name for path in paths.values() if path.exists()]
        if present:
            raise InputError(
                str(self.folder), None, f"expected no {', '.join(present)} in it; found them"
            )
        written: list[Path] = []
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for path, rows in zip(paths.values(), run.parts, strict=True):
                _write_silo(path, run, rows)
                written.append(path)
        except OSError as error:
            for path in written:
                path.unlink(missing_ok=True)
            raise InputError(
                str(self.folder), None, f"cannot write the silo files ({error.strerror})"
            ) from error
        raise SilosExported(paths)


def _write_silo(path: Path, run: SecureDpSgdRun, rows: Any) -> None:
    """One silo's records as its SuperNode's ``data-file``: arrays ``x`` and ``y``, no pickle."""
    index = np.asarray(rows, dtype=np.int64)
    np.savez(path, x=run.x[index], y=np.asarray(run.y)[index])


def supernode_command(partition: int, data_file: Path | str, superlink: str) -> str:
    """The command a silo runs to join a federation with privaudit's app (TLS left out)."""
    config = f'partition-id={partition} data-file="{data_file}"'
    return f"flower-supernode --insecure --superlink {superlink} --node-config '{config}'"


def _keep_logs(folder: Path, logs: Path) -> None:
    # Logs and round records only: the silo files are copies of the data and stay behind.
    logs.mkdir(parents=True, exist_ok=True)
    for path in [*folder.glob("processes/*.log"), *folder.glob("run/*.json*")]:
        shutil.copy2(path, logs / path.name)


def _round_record(data: dict[str, Any], clip_norm: float) -> RoundRecord:
    return RoundRecord(
        round=int(data["round"]),
        selected=tuple(data["selected"]),
        dropped=tuple(data["dropped"]),
        stragglers=(),
        survivors=tuple(data["survivors"]),
        bytes_up=0,
        bytes_down=0,
        clip_norm=clip_norm,
        noise_multiplier=float(data["noise_multiplier"]),
        unclipped_fraction=None,
        metrics=data["metrics"],
        seconds=float(data["seconds"]),
    )


def check_superlink(address: str) -> str:
    """``HOST:PORT`` of an existing SuperLink, checked."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError("--superlink", None, f"expected HOST:PORT; found {address!r}")
    return address
