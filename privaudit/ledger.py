"""The privacy ledger: an append-only, hash-chained JSON Lines record of every DP release.

Format
------
UTF-8 text, one JSON object per line, every line ending in ``\\n``, no blank lines. Each object
has exactly these keys::

    seq           1, 2, 3, ... consecutive
    time          ISO-8601 UTC timestamp, e.g. "2026-11-25T22:44:17.123456Z"
    dataset       identifier: [A-Za-z0-9][A-Za-z0-9._-]*
    partition     identifier (same pattern) or null: null touches every partition of the dataset
    privacy_unit  string or null (what one "record" protects: example, user, client, ...)
    run           string or null (the training run or job that made the release)
    mechanism     a mechanism description (see :mod:`privaudit.mechanisms`)
    meta          JSON object of free-form values (no NaN or infinity); {} when unused
    prev          the previous line's ``hash``; 64 zeros on the first line
    hash          SHA-256 (hex) of the canonical JSON of this object without ``hash``

Canonical JSON is ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
allow_nan=False)`` encoded as UTF-8; :func:`append_entry` writes exactly the canonical JSON of the
whole entry. Verification hashes the object *as parsed from the line*, never a re-serialised
model: when the mechanism schema grows new optional fields (schemas only grow), the model would
serialise them with their defaults and change the hash, but the raw object does not change, so
ledgers written today keep verifying.

What the chain detects
----------------------
Editing a line breaks its ``hash``; deleting, inserting or reordering lines breaks a ``prev`` link
or the ``seq`` numbering; a line cut short by a crash has no final line break. Deleting lines at
the *end* leaves a shorter but valid chain: to detect that, keep :attr:`Ledger.head` (or
:attr:`Ledger.sha256`) somewhere the ledger's editor cannot change, e.g. in a CI artifact, or
seal it with a signing key (:mod:`privaudit.seals` checks both anchors).

Durability
----------
:func:`append_entry` holds an exclusive ``flock`` on the file while it verifies the whole
existing chain, then writes the new line with a single ``write`` on an ``O_APPEND`` descriptor and
``fsync``\\ s it before unlocking. Concurrent writers (threads or processes on one host) therefore
serialise and never interleave lines. Earlier bytes are never rewritten, so a crash mid-append can
at worst leave an incomplete last line, which :func:`read_ledger` reports as a truncated write
instead of silently dropping it. Readers take a shared lock so they never see half an append.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import stat
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from privaudit.errors import (
    BudgetExceededError,
    InputError,
    LedgerIntegrityError,
    describe_value,
    location,
)
from privaudit.jsontext import DuplicateKeyError, unique_keys
from privaudit.mechanisms import Mechanism, mechanism_to_json, parse_mechanism

__all__ = [
    "ENTRY_FIELDS",
    "GENESIS",
    "Ledger",
    "LedgerEntry",
    "NewEntry",
    "append_entries",
    "append_entry",
    "canonical_json",
    "chain_entries",
    "entry_bodies",
    "entry_hash",
    "entry_line",
    "parse_ledger",
    "read_ledger",
    "verify_ledger",
]

GENESIS = "0" * 64
"""The ``prev`` of the first entry."""

ENTRY_FIELDS: tuple[str, ...] = (
    "seq",
    "time",
    "dataset",
    "partition",
    "privacy_unit",
    "run",
    "mechanism",
    "meta",
    "prev",
    "hash",
)

_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Extended ISO-8601 with an explicit UTC designator; fromisoformat then checks the calendar.
_UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|\+00:00)")
# Free-form meta may nest, but not so deep that hashing or printing it hits the recursion limit.
_MAX_META_DEPTH = 64
_ARGUMENT = "<argument>"


def canonical_json(obj: Any) -> bytes:
    """The canonical UTF-8 JSON bytes of ``obj``: sorted keys, no spaces, no NaN/infinity."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def entry_hash(obj: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of a ledger entry object without its ``hash`` key."""
    body = {key: value for key, value in obj.items() if key != "hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


class LedgerEntry(BaseModel):
    """One ledger line: a single privacy release, validated. Immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    seq: int = Field(ge=1, description="1-based position in the ledger")
    time: str = Field(description='ISO-8601 UTC timestamp, e.g. "2026-11-25T22:44:17.123456Z"')
    dataset: str = Field(description="dataset identifier")
    partition: str | None = Field(description="partition identifier; null = every partition")
    privacy_unit: str | None = Field(description="what one protected record is")
    run: str | None = Field(description="training run or job that made the release")
    mechanism: Mechanism
    meta: dict[str, Any] = Field(description="free-form JSON values")
    prev: str = Field(description="hash of the previous entry; 64 zeros for the first")
    hash: str = Field(description="SHA-256 of the canonical JSON of the entry without hash")

    @field_validator("time")
    @classmethod
    def _utc_timestamp(cls, value: str) -> str:
        _check_time(value)
        return value

    @field_validator("dataset", "partition")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None:
            _check_identifier(value)
        return value

    @field_validator("privacy_unit", "run")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is not None:
            if not value:
                raise ValueError("must not be empty; use null when there is no value")
            _check_text(value)
        return value

    @field_validator("meta")
    @classmethod
    def _json_meta(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_json_value(value, "meta", 0)
        return value

    @field_validator("prev", "hash")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        if not _HEX64.fullmatch(value):
            raise ValueError(f"expected 64 lowercase hex digits; found {describe_value(value)}")
        return value

    @property
    def timestamp(self) -> datetime:
        """``time`` as an aware UTC datetime."""
        return datetime.fromisoformat(self.time).astimezone(UTC)


def entry_line(entry: LedgerEntry) -> bytes:
    """The canonical JSON line (with its ``\\n``) :func:`append_entries` wrote for ``entry``,
    rebuilt from the model, so a ledger can move between stores byte for byte.

    Raises :class:`InputError` when the rebuilt object does not hash to ``entry.hash``: an entry
    written before its mechanism's schema grew a field serialises differently now, and a copy
    must never write a line that would not verify."""
    obj = {field: getattr(entry, field) for field in ENTRY_FIELDS}
    obj["mechanism"] = mechanism_to_json(entry.mechanism)
    if entry_hash(obj) != entry.hash:
        raise InputError(
            f"entry {entry.seq}",
            None,
            "its canonical line cannot be rebuilt from the entry (its hash differs); it was"
            " written by a privaudit whose mechanism schema differs from this one",
        )
    return canonical_json(obj) + b"\n"


@dataclass(frozen=True, slots=True)
class Ledger:
    """A fully verified ledger file.

    ``head`` is the last entry's hash (64 zeros when empty) and ``sha256`` the hash of the file's
    bytes; record either outside the repository to detect entries deleted from the end.
    """

    path: Path
    entries: tuple[LedgerEntry, ...]
    head: str
    sha256: str


def read_ledger(path: str | os.PathLike[str], *, allow_missing: bool = False) -> Ledger:
    """Read and fully verify a ledger.

    Raises :class:`InputError` (exit 2) when the file is missing, not a file, not UTF-8 text,
    empty, or holds a line that is valid JSON but not a valid entry (or a first line that is not
    JSON: then it is not a ledger at all). Raises :class:`LedgerIntegrityError` (exit 1), naming
    the first bad line, when the chain is broken: a line edited, deleted, inserted, reordered,
    made unreadable or cut short.

    With ``allow_missing`` a missing or empty file reads as a ledger with no entries (an empty
    file is what a first append leaves behind if it is interrupted before writing).
    """
    file = Path(path)
    source = str(path)
    try:
        fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        if allow_missing:
            return Ledger(file, (), GENESIS, hashlib.sha256(b"").hexdigest())
        raise InputError(
            source, None, "no such ledger file; the first `privaudit ledger add` creates it"
        ) from None
    except OSError as error:
        raise InputError(source, None, f"cannot open the ledger: {error.strerror}") from None
    try:
        _check_regular_file(fd, source)
        # A shared lock waits for an append in progress, so a reader never sees half a line.
        fcntl.flock(fd, fcntl.LOCK_SH)
        data = _read_all(fd, source)
        if not data and not allow_missing:
            raise InputError(
                source,
                None,
                "the file is empty; expected at least one entry "
                "(a new ledger is created by its first append)",
            )
        entries, head, sha256 = _verify(data, source, _file_key(fd))
    finally:
        os.close(fd)  # closing releases the lock
    return Ledger(file, entries, head, sha256)


def parse_ledger(data: bytes, source: str) -> Ledger:
    """Verify a ledger held in memory, e.g. a ledger file as it was at a git revision.

    The same checks and errors as :func:`read_ledger` (``source`` names the bytes in them and
    becomes the ledger's ``path``); empty bytes are not a ledger (:class:`InputError`).
    """
    if not data:
        raise InputError(source, None, "is empty; expected a ledger with at least one entry")
    # No file identity: nothing to cache, every line is validated.
    entries, head, sha256 = _verify(data, source, None)
    return Ledger(Path(source), entries, head, sha256)


def verify_ledger(path: str | os.PathLike[str]) -> Ledger:
    """Verify the whole chain of an existing ledger: :func:`read_ledger` of a required file."""
    return read_ledger(path)


def append_entry(
    path: str | os.PathLike[str],
    *,
    dataset: str,
    mechanism: Mechanism | Mapping[str, Any],
    partition: str | None = None,
    privacy_unit: str | None = None,
    run: str | None = None,
    meta: Mapping[str, Any] | None = None,
    time: datetime | str | None = None,
) -> LedgerEntry:
    """Append one release to the ledger at ``path`` (created if missing) and return its entry.

    Every argument is validated before the file is touched, and the whole existing chain is
    verified under an exclusive lock before anything is written: bad input (:class:`InputError`)
    or a broken ledger (the errors of :func:`read_ledger`) leave the file byte-identical.
    ``mechanism`` is a :data:`Mechanism` or its JSON form; it is stored in the form
    :func:`mechanism_to_json` gives, with every default spelled out. ``time`` defaults to now.
    """
    [entry] = append_entries(
        path,
        [
            NewEntry(
                dataset=dataset,
                mechanism=mechanism,
                partition=partition,
                privacy_unit=privacy_unit,
                run=run,
                meta=meta,
                time=time,
            )
        ],
    )
    return entry


@dataclass(frozen=True)
class NewEntry:
    """The arguments of one entry for :func:`append_entries` (those of :func:`append_entry`)."""

    dataset: str
    mechanism: Mechanism | Mapping[str, Any]
    partition: str | None = None
    privacy_unit: str | None = None
    run: str | None = None
    meta: Mapping[str, Any] | None = None
    time: datetime | str | None = None


Admit = Callable[["Ledger", tuple["LedgerEntry", ...]], str | None]
"""Asked, under the store's lock or in its transaction, whether ``new`` entries may be appended
to the verified ``ledger``: ``None`` admits them, a text refuses them and says why."""


def append_entries(
    path: str | os.PathLike[str], new: Sequence[NewEntry], *, admit: Admit | None = None
) -> tuple[LedgerEntry, ...]:
    """Append several releases at once, all or none: every one is validated first, then all
    lines go to the file in one write under one lock (see :func:`append_entry`).

    With ``admit``, the entries are appended only if ``admit(ledger, entries)`` returns None,
    asked under the same exclusive lock as the write, so no other writer can append between the
    question and the answer; a refusal raises :class:`BudgetExceededError` and writes nothing."""
    file = Path(path)
    source = str(path)
    bodies = entry_bodies(new)
    if not bodies:
        return ()
    try:
        fd = os.open(file, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except FileNotFoundError:
        raise InputError(
            source, None, f"the folder {str(file.parent)!r} does not exist; create it first"
        ) from None
    except IsADirectoryError:
        raise InputError(source, None, "is a folder; expected a ledger file") from None
    except OSError as error:
        raise InputError(source, None, f"cannot open the ledger: {error.strerror}") from None
    try:
        _check_regular_file(fd, source)
        fcntl.flock(fd, fcntl.LOCK_EX)
        # Under the lock: verify everything already written (the file is read once), so an
        # entry is never chained onto a ledger that was tampered with or cut short.
        data = _read_all(fd, source)
        entries, head, _ = _verify(data, source, _file_key(fd))
        seq = entries[-1].seq + 1 if entries else 1
        lines, written = chain_entries(bodies, head, seq, source)
        if admit is not None:
            refusal = admit(Ledger(file, entries, head, _sha256_hex(data)), written)
            if refusal is not None:
                raise BudgetExceededError(f"{source}: {refusal}; nothing was written")
        _write_line(fd, b"".join(line + b"\n" for line in lines), len(data), source)
        if not data:
            _fsync_folder(file.parent)  # a new file: make its directory entry durable too
    finally:
        os.close(fd)  # closing releases the lock
    return tuple(written)


def entry_bodies(new: Sequence[NewEntry]) -> list[dict[str, Any]]:
    """Validate ``new`` and give each entry's body: plain JSON without ``seq``, ``prev`` and
    ``hash`` (what a store chains with :func:`chain_entries`). Raises :class:`InputError` naming
    the first bad field before any store is touched."""
    return [
        _entry_body(
            dataset=item.dataset,
            mechanism=item.mechanism,
            partition=item.partition,
            privacy_unit=item.privacy_unit,
            run=item.run,
            meta=item.meta,
            time=item.time,
        )
        for item in new
    ]


def chain_entries(
    bodies: Sequence[Mapping[str, Any]], head: str, seq: int, source: str
) -> tuple[tuple[bytes, ...], tuple[LedgerEntry, ...]]:
    """Chain entry bodies (from :func:`entry_bodies`) onto a ledger whose last entry has hash
    ``head`` (:data:`GENESIS` when empty), the first new entry numbered ``seq``.

    Returns each entry's canonical JSON line *without* the line break, and the entries as a
    reader will parse them: every store writes exactly these bytes, so a file and a database
    hold the same lines and the same hash chain.
    """
    lines: list[bytes] = []
    written: list[LedgerEntry] = []
    for body in bodies:
        obj = {"seq": seq, **body, "prev": head}
        obj["hash"] = entry_hash(obj)
        line = canonical_json(obj)
        # Build the entry the way a reader will, so nothing is written that cannot be read.
        written.append(_entry_from_object(json.loads(line), source, seq))
        lines.append(line)
        head = obj["hash"]
        seq += 1
    return tuple(lines), tuple(written)


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- validation --------------------------------------------------------------------------------


def _check_identifier(value: str) -> None:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(
            "expected letters, digits, '.', '_' or '-', starting with a letter or digit; "
            f"found {describe_value(value)}"
        )


def _check_time(value: str) -> None:
    expected = 'expected an ISO-8601 UTC timestamp like "2026-11-25T22:44:17.123456Z"'
    if not _UTC_TIME.fullmatch(value):
        raise ValueError(f"{expected}; found {describe_value(value)}")
    try:
        datetime.fromisoformat(value)
    except ValueError as error:
        raise ValueError(f"{expected}; found {describe_value(value)} ({error})") from None


class _JsonValueError(ValueError):
    """A problem inside a free-form JSON value, with the dotted path to it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def _check_text(value: str, path: str | None = None) -> None:
    # json.loads turns a lone "\ud800" escape into a str that cannot be encoded (or hashed).
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        problem = f"text is not valid Unicode (a lone surrogate); found {describe_value(value)}"
        raise (_JsonValueError(path, problem) if path else ValueError(problem)) from None


def _check_json_value(value: object, path: str, depth: int) -> None:
    if depth > _MAX_META_DEPTH:
        raise _JsonValueError(path, f"nested deeper than {_MAX_META_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _JsonValueError(path, f"keys must be strings; found {describe_value(key)}")
            _check_text(key, path)
            _check_json_value(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json_value(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _JsonValueError(path, f"expected a finite number; found {describe_value(value)}")
    elif isinstance(value, str):
        _check_text(value, path)
    elif value is not None and not isinstance(value, int):  # bool is an int
        raise _JsonValueError(
            path,
            "expected JSON data (object, array, string, number, true, false, null); "
            f"found {type(value).__name__}",
        )


def _entry_from_object(obj: object, source: str, line: int) -> LedgerEntry:
    """Validate one parsed line; every problem is an :class:`InputError` naming line and field."""
    where = f"line {line}"
    if not isinstance(obj, dict):
        raise InputError(
            source, where, f"expected a JSON object (an entry); found {type(obj).__name__}"
        )
    data = dict(obj)
    if "mechanism" in data:
        # parse_mechanism names the exact sub-field (mechanism.event.noise_multiplier).
        data["mechanism"] = parse_mechanism(data["mechanism"], source, f"{where}: mechanism")
    try:
        return LedgerEntry.model_validate(data)
    except ValidationError as error:
        field, problem = _first_problem(error)
        raise InputError(source, f"{where}: {field}" if field else where, problem) from None


def _first_problem(error: ValidationError) -> tuple[str | None, str]:
    first = error.errors(include_url=False)[0]
    field = location(first["loc"]) or None
    kind = first["type"]
    if kind == "extra_forbidden":
        return field, "unknown field; an entry has exactly " + ", ".join(ENTRY_FIELDS)
    if kind == "missing":
        return field, "required field is missing"
    message = str(first["msg"])
    if kind == "value_error":
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, _JsonValueError):  # names the place inside meta: meta.a[2].b
            return cause.path, cause.problem
        return field, message.removeprefix("Value error, ")
    return field, f"{message}; found {describe_value(first.get('input'))}"


def _entry_body(
    *,
    dataset: str,
    mechanism: Mechanism | Mapping[str, Any],
    partition: str | None,
    privacy_unit: str | None,
    run: str | None,
    meta: Mapping[str, Any] | None,
    time: datetime | str | None,
) -> dict[str, Any]:
    """The entry without seq, prev and hash, as plain JSON, validated against the entry schema."""
    # A model is round-tripped through JSON, which re-validates one built with model_construct.
    raw: object = mechanism_to_json(mechanism) if isinstance(mechanism, BaseModel) else mechanism
    parsed = parse_mechanism(raw, _ARGUMENT, "mechanism")
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise InputError(
            _ARGUMENT, "meta", f"expected a JSON object (a mapping); found {type(meta).__name__}"
        )
    try:
        _check_json_value(dict(meta), "meta", 0)
    except _JsonValueError as error:
        raise InputError(_ARGUMENT, error.path, error.problem) from None
    body: dict[str, Any] = {
        "time": _format_time(time),
        "dataset": dataset,
        "partition": partition,
        "privacy_unit": privacy_unit,
        "run": run,
        "mechanism": mechanism_to_json(parsed),
        # Round-trip so tuples become lists and str/int subclasses plain values: the returned
        # entry then equals what a reader parses from the file.
        "meta": json.loads(canonical_json(dict(meta))),
    }
    # Validate every field now, before the file is opened, with placeholder chain values.
    try:
        LedgerEntry.model_validate(
            {**body, "mechanism": parsed, "seq": 1, "prev": GENESIS, "hash": GENESIS}
        )
    except ValidationError as error:
        field, problem = _first_problem(error)
        raise InputError(_ARGUMENT, field, problem) from None
    return body


def _format_time(time: datetime | str | None) -> str:
    if time is None:
        time = datetime.now(UTC)
    if isinstance(time, str):
        return time  # validated with the rest of the entry
    if not isinstance(time, datetime):
        raise InputError(
            _ARGUMENT,
            "time",
            f"expected a datetime or an ISO-8601 string; found {describe_value(time)}",
        )
    if time.tzinfo is None or time.utcoffset() is None:
        raise InputError(
            _ARGUMENT, "time", f"expected a timezone-aware datetime; found {time.isoformat()}"
        )
    return time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- verification ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Verified:
    """A byte prefix of a ledger file that verified, kept to skip re-validating it next time."""

    length: int
    digest: bytes
    entries: tuple[LedgerEntry, ...]
    head: str


# Keyed by (device, inode). Verification is a pure function of the bytes, and a cached prefix is
# reused only when the file still starts with exactly those bytes (compared by SHA-256), so every
# call still checks the whole file; it just does not re-validate lines it has already validated.
# Without this, n appends would cost O(n^2) schema validations.
_VERIFIED: dict[tuple[int, int], _Verified] = {}
_VERIFIED_LOCK = threading.Lock()
_VERIFIED_MAX = 16


def _verify(
    data: bytes, source: str, key: tuple[int, int] | None
) -> tuple[tuple[LedgerEntry, ...], str, str]:
    """Verify a whole ledger file's bytes; return its entries, head hash and SHA-256 (hex)."""
    view = memoryview(data)
    digest = hashlib.sha256()
    start = _Verified(0, b"", (), GENESIS)
    with _VERIFIED_LOCK:
        cached = _VERIFIED.get(key) if key is not None else None
    if cached is not None and cached.length <= len(data):
        # One pass over the bytes serves both the prefix comparison and the file's hash.
        digest.update(view[: cached.length])
        if digest.digest() == cached.digest:
            start = cached
        digest.update(view[cached.length :])
    else:
        digest.update(view)
    entries, head = _verify_lines(data, start, source)
    if key is not None and data.endswith(b"\n"):
        done = _Verified(len(data), digest.digest(), entries, head)
        with _VERIFIED_LOCK:
            _VERIFIED.pop(key, None)
            while _VERIFIED and len(_VERIFIED) >= _VERIFIED_MAX:
                _VERIFIED.pop(next(iter(_VERIFIED)))  # the least recently verified file
            _VERIFIED[key] = done
    return entries, head, digest.hexdigest()


def _verify_lines(
    data: bytes, start: _Verified, source: str
) -> tuple[tuple[LedgerEntry, ...], str]:
    """Verify ``data`` after the already verified prefix ``start``."""
    first_line = len(start.entries) + 1
    rest = memoryview(data)[start.length :].tobytes()
    nul = rest.find(b"\x00")
    if nul >= 0:
        line = first_line + rest.count(b"\n", 0, nul)
        raise InputError(
            source, f"line {line}", "contains NUL bytes: binary data, not a JSON Lines ledger"
        )
    try:
        text = rest.decode("utf-8")
    except UnicodeDecodeError as error:
        line = first_line + rest.count(b"\n", 0, error.start)
        raise InputError(
            source,
            f"line {line}",
            f"is not UTF-8 text (byte 0x{rest[error.start]:02x}); a ledger is UTF-8 JSON Lines",
        ) from None
    entries = list(start.entries)
    head = start.head
    if not text:
        return tuple(entries), head
    complete = text.endswith("\n")
    lines = (text[:-1] if complete else text).split("\n")
    last = first_line + len(lines) - 1
    for number, raw in enumerate(lines, start=first_line):
        cut_short = number == last and not complete
        obj = _parse_line(raw, number, source, cut_short)
        entry = _entry_from_object(obj, source, number)
        assert isinstance(obj, dict)  # _entry_from_object refuses anything else
        _check_link(obj, entry, number, head, source)
        if cut_short:
            raise LedgerIntegrityError(
                source,
                number,
                "the last line has no line break at the end: the append that wrote it was cut "
                "short (entries before it are intact)",
            )
        entries.append(entry)
        head = entry.hash
    return tuple(entries), head


def _parse_line(raw: str, number: int, source: str, cut_short: bool) -> object:
    if not raw.strip():
        if number == 1:
            raise InputError(source, "line 1", "is blank; expected a JSON object (an entry)")
        raise LedgerIntegrityError(
            source, number, "is blank; a ledger has one entry on every line (the file was edited)"
        )
    try:
        return json.loads(raw, object_pairs_hook=unique_keys)
    except DuplicateKeyError as error:
        raise InputError(
            source, f"line {number}", f"the key {error.key!r} appears twice in one object"
        ) from None
    except (ValueError, RecursionError) as error:
        detail = _json_problem(error)
        if number == 1:
            # Nothing verified yet: this file is not a ledger at all, which is bad input.
            raise InputError(source, "line 1", f"is not valid JSON ({detail})") from None
        if cut_short:
            problem = (
                f"the last line is incomplete ({detail}): the append that wrote it was cut "
                "short (entries before it are intact)"
            )
        else:
            problem = f"is not valid JSON ({detail}): the line was edited or damaged"
        raise LedgerIntegrityError(source, number, problem) from None


def _json_problem(error: BaseException) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at column {error.colno}"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error)


def _check_link(
    obj: dict[str, Any], entry: LedgerEntry, number: int, prev_hash: str, source: str
) -> None:
    try:
        computed = entry_hash(obj)
    except ValueError as error:  # defence in depth: the schema already refuses NaN, surrogates
        raise InputError(source, f"line {number}", f"cannot be hashed: {error}") from None
    if computed != entry.hash:
        raise LedgerIntegrityError(
            source,
            number,
            "hash does not match the entry's content (the line was edited); "
            f"recorded {entry.hash[:12]}…, computed {computed[:12]}…",
        )
    if entry.prev != prev_hash:
        if number == 1:
            problem = (
                "prev is not 64 zeros although this is the first line "
                "(lines before it were deleted, or lines were reordered)"
            )
        else:
            problem = (
                f"prev does not match line {number - 1}'s hash "
                "(a line was deleted, inserted or reordered)"
            )
        raise LedgerIntegrityError(source, number, problem)
    if entry.seq != number:
        raise LedgerIntegrityError(
            source,
            number,
            f"seq is {entry.seq}; expected {number} (entries are numbered 1, 2, 3, ... in order)",
        )


# --- file handling -----------------------------------------------------------------------------


def _check_regular_file(fd: int, source: str) -> None:
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        raise InputError(source, None, "is a folder; expected a ledger file")
    if not stat.S_ISREG(mode):
        raise InputError(source, None, "is not a regular file; expected a ledger file")


def _file_key(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _read_all(fd: int, source: str) -> bytes:
    chunks: list[bytes] = []
    offset = 0
    try:
        while chunk := os.pread(fd, 1 << 20, offset):
            chunks.append(chunk)
            offset += len(chunk)
    except OSError as error:
        raise InputError(source, None, f"cannot read the ledger: {error.strerror}") from None
    return b"".join(chunks)


def _write_line(fd: int, line: bytes, size_before: int, source: str) -> None:
    # One write on an O_APPEND descriptor: the line lands whole at the end of the file. If the
    # disk fills up mid-line, cut the file back to where it was so no partial line remains.
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(0, f"only {written} of {len(line)} bytes were written")
        os.fsync(fd)
    except OSError as error:
        try:
            os.ftruncate(fd, size_before)
            os.fsync(fd)
        except OSError:
            pass  # the reader will report the incomplete last line
        raise InputError(
            source, None, f"could not write the entry: {error.strerror}; nothing was appended"
        ) from None


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return  # some filesystems do not allow it; the entry itself is already durable
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
