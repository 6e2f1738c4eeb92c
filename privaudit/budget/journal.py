"""The crash journal: steps a live run has taken but not yet written to the ledger.

A run writes ledger entries per epoch; between two writes its steps live in a small journal
beside the ledger (``LEDGER.pending/<id>.json``), rewritten before every step is applied with
one ``pwrite`` of a space-padded JSON object (so the file is whole after any process death; a
reader ignores trailing spaces). While the run lives it holds an exclusive ``flock`` on its
journal. A journal nobody holds belongs to a run that died: :func:`recover` appends its steps to
the ledger (once: each entry names its journal and block, so a recovery interrupted half-way
does not count a block twice) and removes it. Journals a live run holds are left alone.

What survives: a Python exception, ``kill -9``, an out-of-memory kill (the kernel keeps what
``pwrite`` wrote). What may not: a power cut before the page cache reaches the disk.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from privaudit.errors import InputError
from privaudit.jsontext import load_json
from privaudit.ledger import LedgerEntry, NewEntry, append_entries, read_ledger
from privaudit.mechanisms import parse_mechanism

JOURNAL_VERSION = 1
_PAGE = 4096


def journal_folder(ledger: str | Path) -> Path:
    """Where the journals of ``ledger``'s live runs are kept."""
    path = Path(ledger)
    return path.with_name(path.name + ".pending")


@dataclass(frozen=True)
class PendingRun:
    """A journal found beside a ledger."""

    path: Path
    live: bool
    """Held by a running process (its steps will reach the ledger when it flushes)."""
    run: str | None
    dataset: str | None
    steps: int
    """Steps recorded in the journal and not yet in the ledger."""


class Journal:
    """The journal of one live run; create it before the run's first step."""

    def __init__(self, ledger: str | Path, header: dict[str, Any]) -> None:
        folder = journal_folder(ledger)
        folder.mkdir(exist_ok=True)
        self.id = uuid.uuid4().hex
        self.path = folder / f"{self.id}.json"
        self._header = {
            "journal": JOURNAL_VERSION,
            "id": self.id,
            "pid": os.getpid(),
            "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            **header,
        }
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._size = 0
        self.write([])

    def write(self, pending: list[dict[str, Any]]) -> None:
        """Replace the pending blocks: ``[{"block": k, "mechanism": {...}, "meta": {...}}]``."""
        body = json.dumps(
            {**self._header, "pending": pending}, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
        size = max(self._size, -(-(len(body) + 1) // _PAGE) * _PAGE)
        # One write of the whole padded object: never half old, half new.
        os.pwrite(self._fd, body + b" " * (size - len(body)), 0)
        self._size = size

    def close(self) -> None:
        """Remove the journal (its steps are in the ledger) and release it."""
        if self._fd < 0:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = -1


def pending_runs(ledger: str | Path) -> list[PendingRun]:
    """Every journal beside ``ledger``, live or left by a run that died."""
    found = []
    for path in sorted(journal_folder(ledger).glob("*.json")):
        live = _held(path)
        try:
            data = _read(path)
            steps = sum(int(block.get("steps", 0)) for block in data.get("pending", []))
            run, dataset = data.get("run"), data.get("dataset")
        except InputError:
            steps, run, dataset = 0, None, None
        found.append(PendingRun(path, live, run, dataset, steps))
    return found


def recover(ledger: str | Path) -> list[LedgerEntry]:
    """Append the steps of every journal no live run holds to ``ledger``; return the entries
    written. A journal that cannot be read is an :class:`InputError` and stays in place."""
    written: list[LedgerEntry] = []
    for path in sorted(journal_folder(ledger).glob("*.json")):
        fd = _lock(path)
        if fd is None:
            continue  # a live run holds it
        try:
            data = _read(path)
            done = _recorded_blocks(ledger, str(data["id"]))
            new = []
            for block in data["pending"]:
                if int(block["block"]) in done:
                    continue
                meta = dict(block.get("meta", {}))
                meta["journal"] = {"id": data["id"], "block": block["block"], "recovered": True}
                new.append(
                    NewEntry(
                        dataset=data["dataset"],
                        partition=data.get("partition"),
                        privacy_unit=data.get("privacy_unit"),
                        run=data.get("run"),
                        mechanism=parse_mechanism(block["mechanism"], str(path), "mechanism"),
                        meta=meta,
                    )
                )
            written += append_entries(ledger, new)
            path.unlink()
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(
                str(path),
                None,
                f"cannot recover this crash journal ({error!r}); its steps are"
                " not in the ledger: add them with `privaudit ledger add`",
            ) from None
        finally:
            os.close(fd)
    return written


def _recorded_blocks(ledger: str | Path, journal_id: str) -> set[int]:
    blocks = set()
    for entry in read_ledger(ledger, allow_missing=True).entries:
        mark = entry.meta.get("journal")
        if isinstance(mark, dict) and mark.get("id") == journal_id:
            blocks.add(int(mark.get("block", -1)))
    return blocks


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(str(path), None, f"cannot read the crash journal: {error}") from None
    data = load_json(text, str(path))
    if not isinstance(data, dict) or data.get("journal") != JOURNAL_VERSION:
        raise InputError(str(path), "journal", f"expected a version {JOURNAL_VERSION} journal")
    return data


def _lock(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _held(path: Path) -> bool:
    fd = _lock(path)
    if fd is None:
        return path.exists()
    os.close(fd)
    return False
