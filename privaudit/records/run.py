"""Run records: what a validation training run did, what it cost and what it bought.

One JSON file per run (``runs/NAME.json``), written atomically. It holds everything a reviewer
needs to re-check the run: configuration, data provenance (file hashes), the mechanism the
ledger was charged, ε after each epoch, utility after each epoch, wall time and library versions.
Schema rule as for ledgers: fields are only ever added (optional), never renamed or removed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from privaudit.records.io import read_json_record, write_json_record

RECORD_SCHEMA_VERSION = 1


class EpochRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    epoch: int
    steps: int
    """Steps done so far (cumulative)."""
    epsilon: float | None
    """Certified ε after this epoch (None for a non-private run)."""
    test_accuracy: float
    test_loss: float
    train_loss: float | None = None
    seconds: float
    """Wall time since the start of training."""


class PrivacyRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    target_epsilon: float | None
    delta: float
    noise_multiplier: float
    clip_norm: float
    sampling: str
    sampling_rate: float
    steps_planned: int
    steps_done: int
    epsilon: float | None
    """Certified ε of this run alone at ``delta`` (PLD)."""
    mechanism: dict[str, Any] | None
    """The mechanism charged to the ledger for this run, in ledger JSON form."""
    ledger: str | None = None
    dataset_id: str | None = None
    accountant: str = "pld"
    ledger_head: str | None = None
    """Hash of the last ledger entry the run appended: binds the record to that ledger (a
    report attaches the record only to a ledger holding this entry, of this run and dataset)."""


class RoundRecord(BaseModel):
    """One federated round: who took part, who survived, what it cost to communicate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    round: int
    clients: int
    """Clients (or silos) selected for the round."""
    survivors: int
    """Clients whose contribution reached the aggregate (the noise that actually survived)."""
    bytes_up: int = 0
    bytes_down: int = 0
    clip_norm: float | None = None
    metrics: dict[str, float] = {}


class RunRecord(BaseModel):
    """One training run. ``privacy`` is None for the non-private baseline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = RECORD_SCHEMA_VERSION
    kind: str
    """``dpsgd``, ``baseline``, ``dpfedavg``, ..."""
    name: str
    created: str
    data: dict[str, Any]
    """Data set name, sizes and provenance (SHA-256 of each file read)."""
    config: dict[str, Any]
    privacy: PrivacyRecord | None
    epochs: tuple[EpochRecord, ...]
    test_accuracy: float
    wall_seconds: float
    stopped_early: bool = False
    stop_reason: str | None = None
    random_source: str
    """``crypto`` (OS entropy) or ``seed=N`` when a fixed seed was asked for."""
    versions: dict[str, str]
    # Added with federated training (schemas only grow: optional, with defaults).
    metrics: dict[str, float] = {}
    """Final test metrics beyond accuracy: macro_f1, roc_auc, auprc, ..."""
    rounds: tuple[RoundRecord, ...] = ()
    trust_model: str | None = None
    """central, silo_local, federated_client or distributed (secure aggregation)."""
    in_ledger: bool | None = None
    """False for comparison runs deliberately kept out of the deployment's ledger."""


def library_versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in ("privaudit", "dp-accounting", "numpy", "scipy", "scikit-learn"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_record(record: RunRecord, path: Path) -> None:
    """Write ``record`` as JSON atomically (temporary file + rename)."""
    write_json_record(record, path)


def read_record(path: Path) -> RunRecord:
    """Read a run record; any problem is one :class:`InputError` line."""
    return read_json_record(path, RunRecord, "the run record")
