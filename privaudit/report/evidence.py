"""The evidence a report is made of: the supplied run and audit record files read, matched to
the assessed ledger (a record of another ledger, dataset or run is skipped, with the reason),
and the review id derived from every input."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from privaudit.errors import InputError
from privaudit.jsontext import load_json
from privaudit.ledger import Ledger
from privaudit.records.audit import AuditRecord
from privaudit.records.run import RunRecord, read_record


class SkippedRecord(BaseModel):
    """A run or audit record supplied with the report but not attached to it, and why: it does
    not belong to the assessed ledger (another ledger, dataset or run), or names none."""

    model_config = ConfigDict(frozen=True)

    path: str
    kind: str
    """``run`` or ``audit``."""
    name: str
    reason: str
    private: bool = False
    """A private run record: if it used this data, its privacy cost is missing from the totals."""
    in_ledger: bool | None = None
    sha256: str = ""


_Supplied = tuple[Path, str, RunRecord | AuditRecord]
"""A supplied record: its file, the file's SHA-256 and the record."""


def review_id_of(
    ledger_sha256: str, policy_sha256: str, supplied: Sequence[_Supplied], title: str | None
) -> str:
    """The review id: a hash of everything the report is made of, so two reports of different
    inputs never share one. It is reproducible: the same ledger bytes, policy bytes, supplied
    record files and title give the same id whenever and wherever the report is generated (the
    generation time is deliberately left out; it is printed beside the id)."""
    inputs = {
        "ledger_sha256": ledger_sha256,
        "policy_sha256": policy_sha256,
        "records": sorted(sha for _, sha, _ in supplied),
        "title": title,
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode("utf-8")).hexdigest()
    return "PA-" + digest[:16].upper()


def match_records(
    ledger: Ledger, supplied: Sequence[_Supplied]
) -> tuple[list[RunRecord], list[Path], list[AuditRecord], list[SkippedRecord]]:
    """The supplied records that belong to ``ledger``, and the others with the reason.

    A private run record that carries ``privacy.ledger_head`` (privaudit's trainers write it)
    belongs when the ledger holds that entry and the entry is of the record's run and dataset;
    an older record without it, when the ledger has entries of its run (on its dataset). A
    comparison run (non-private, or kept out of the ledger) belongs when the ledger holds its
    dataset. An audit record belongs when the ledger holds its ``ledger_head`` and, up to that
    entry, entries of its run on its dataset; an audit bound to no ledger run is skipped.
    """
    index = {entry.hash: i for i, entry in enumerate(ledger.entries)}
    datasets = {entry.dataset for entry in ledger.entries}

    def held(dataset: str | None, run: str, upto: int | None = None) -> bool:
        entries = ledger.entries if upto is None else ledger.entries[: upto + 1]
        return any(e.run == run and dataset in (None, e.dataset) for e in entries)

    def on(dataset: str | None) -> str:
        return "" if dataset is None else f" on dataset {dataset!r}"

    records: list[RunRecord] = []
    paths: list[Path] = []
    audits: list[AuditRecord] = []
    skipped: list[SkippedRecord] = []
    for path, sha, record in supplied:
        reason: str | None = None
        if isinstance(record, AuditRecord):
            if record.ledger_head is None or record.run is None or record.dataset_id is None:
                reason = "the audit is bound to no ledger run (no ledger_head, dataset_id, run)"
            elif record.ledger_head not in index:
                reason = (
                    f"its ledger head {record.ledger_head[:16]}… is not an entry of this ledger"
                    " (an audit of another ledger)"
                )
            elif not held(record.dataset_id, record.run, index[record.ledger_head]):
                reason = f"this ledger has no entries of run {record.run!r}{on(record.dataset_id)}"
            if reason is None:
                audits.append(record)
            else:
                skipped.append(
                    SkippedRecord(
                        path=str(path), kind="audit", name=record.name, reason=reason, sha256=sha
                    )
                )
            continue
        privacy = record.privacy
        dataset = privacy.dataset_id if privacy is not None else None
        if privacy is None or record.in_ledger is False:
            dataset = dataset or record.data.get("name")
            if dataset not in datasets:
                reason = f"a comparison run on dataset {dataset!r}, which this ledger does not hold"
        elif privacy.ledger_head is not None:
            entry = (
                ledger.entries[index[privacy.ledger_head]] if privacy.ledger_head in index else None
            )
            if entry is None:
                reason = (
                    f"its ledger entry {privacy.ledger_head[:16]}… is not in this ledger"
                    " (a run of another ledger)"
                )
            elif entry.run != record.name or dataset not in (None, entry.dataset):
                reason = (
                    f"its ledger entry is of run {entry.run!r} on dataset {entry.dataset!r},"
                    f" not of run {record.name!r}{on(dataset)}"
                )
        elif not held(dataset, record.name):
            reason = f"this ledger has no entries of run {record.name!r}{on(dataset)}"
        if reason is None:
            records.append(record)
            paths.append(path)
        else:
            skipped.append(
                SkippedRecord(
                    path=str(path),
                    kind="run",
                    name=record.name,
                    reason=reason,
                    private=privacy is not None,
                    in_ledger=record.in_ledger,
                    sha256=sha,
                )
            )
    return records, paths, audits, skipped


def read_runs(paths: Sequence[Path]) -> list[_Supplied]:
    """Run records and audit records (``"kind": "audit"``) from files or folders of them."""
    from privaudit.records.audit import read_audit_record

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.glob("*.json"))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(str(path), None, "run record or folder does not exist")
    supplied: list[_Supplied] = []
    for file in files:
        record = read_audit_record(file) if _is_audit(file) else read_record(file)
        supplied.append((file, hashlib.sha256(read_bytes(file)).hexdigest(), record))
    return supplied


def _is_audit(path: Path) -> bool:
    try:
        data = load_json(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError):
        return False  # read_record reports the problem in one line
    return isinstance(data, dict) and data.get("kind") == "audit"


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(str(path), None, f"cannot read: {error.strerror}") from None
