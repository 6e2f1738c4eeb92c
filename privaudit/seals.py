"""Anchors of a ledger's end: an expected head hash, and Ed25519-signed seals of the head.

A hash chain cannot see entries deleted from its end (see :mod:`privaudit.ledger`): the shorter
ledger is a valid chain. Two anchors make that visible.

- An *expected head*: the head hash recorded somewhere the ledger's editor cannot change (a CI
  artifact, a protected branch). :func:`check_expected_head` says whether the ledger ends there,
  and if not, whether entries were appended after it or the ledger was cut or rewritten.
- A *seal*: a statement "this ledger had N entries ending in head H at time T", signed with an
  Ed25519 key that the ledger's editors do not hold. Seals accumulate in a sidecar file beside
  the ledger, ``LEDGER.seals``; :func:`check_seals` verifies every one against trusted public
  keys and against the ledger, so a ledger cut below a sealed head fails even though its chain
  verifies.

Sidecar format
--------------
UTF-8 JSON Lines, one seal a line, each line the canonical JSON (:func:`ledger.canonical_json`)
of an object with exactly these keys::

    version    1
    ledger     the ledger's file name (no folder): a seal belongs to one ledger
    entries    how many entries the ledger had (>= 0)
    head       the hash of entry ``entries`` (64 zeros for 0 entries)
    time       UTC time of sealing, e.g. "2026-11-25T22:44:17.123456Z"
    key        fingerprint of the signing key: SHA-256 (hex) of its 32 raw public-key bytes
    signature  Ed25519 signature (hex, 128 digits) of the canonical JSON of the other six keys

Any damage to a seal line (not JSON, a field missing or changed, a bad signature) fails
verification naming the line, exit 1: the sidecar is evidence, and damaged evidence fails the
gate. Only a sidecar that cannot be read at all (a folder, no permission) is bad input, exit 2.

Keys are PEM files: the private key PKCS8 (unencrypted, mode 0600), the public key
SubjectPublicKeyInfo, as :func:`generate_key` writes them. ``cryptography`` is imported only
inside the functions that sign or verify, so importing privaudit or starting the CLI does not
load it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from privaudit.errors import InputError, LedgerAnchorError, describe_value
from privaudit.files import atomic_write, create_new, read_input
from privaudit.jsontext import DuplicateKeyError, reject_constant, unique_keys
from privaudit.ledger import GENESIS, Ledger, canonical_json, read_ledger

if TYPE_CHECKING:  # only for type hints: cryptography is loaded by the functions that use it
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "SEAL_FIELDS",
    "SEAL_VERSION",
    "Seal",
    "TrustedKey",
    "check_anchors",
    "check_expected_head",
    "check_seals",
    "fingerprint",
    "generate_key",
    "load_private_key",
    "load_trusted_keys",
    "parse_head",
    "read_seals",
    "seal_ledger",
    "seals_path",
]

SEAL_VERSION = 1
SEAL_FIELDS: tuple[str, ...] = ("version", "ledger", "entries", "head", "time", "key", "signature")

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z")
_SHORT = 12  # hex digits of a hash shown in messages; the JSON outputs carry the whole hash


@dataclass(frozen=True, slots=True)
class Seal:
    """One line of a seals sidecar, parsed (its signature not yet checked)."""

    line: int
    version: int
    ledger: str
    entries: int
    head: str
    time: str
    key: str
    signature: str

    def statement(self) -> dict[str, Any]:
        """What the signature covers: every field but the signature (and the line number)."""
        return {
            "version": self.version,
            "ledger": self.ledger,
            "entries": self.entries,
            "head": self.head,
            "time": self.time,
            "key": self.key,
        }

    def to_json(self) -> dict[str, Any]:
        return self.statement() | {"signature": self.signature}

    def describe(self) -> str:
        return (
            f"{self.entries} entries, head {_short(self.head)}, sealed {self.time}"
            f" by key {_short(self.key)}"
        )


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key a seal may be signed with, and the file it came from."""

    path: Path
    fingerprint: str
    key: Ed25519PublicKey


def seals_path(ledger_path: str | os.PathLike[str]) -> Path:
    """The sidecar of a ledger: ``ledger.jsonl`` -> ``ledger.jsonl.seals``."""
    path = Path(ledger_path)
    return path.with_name(path.name + ".seals")


# --- expected head -----------------------------------------------------------------------------


def parse_head(text: str, source: str = "--expect-head") -> str:
    """A head hash as typed: 64 hex digits (either case), returned in lower case."""
    value = text.strip().lower()
    if not _HEX64.fullmatch(value):
        raise InputError(
            source,
            None,
            "expected a head hash: 64 hex digits, as `privaudit ledger verify` prints;"
            f" found {describe_value(text)}",
        )
    return value


def check_expected_head(
    ledger: Ledger, expected: str, seals: Sequence[Seal] | None = None
) -> LedgerAnchorError | None:
    """``None`` if ``ledger`` ends at ``expected``; otherwise the error that says how it differs.

    If ``expected`` is the hash of an entry inside the ledger, the entries after it were appended
    since. If it is no entry's hash, the ledger was cut or rewritten: how many entries are
    missing is known only when a seal gives the entry count of that head. ``seals`` are seals
    already verified; without them the sidecar's seals are read unverified, only to count, and
    the message says so.
    """
    if ledger.head == expected:
        return None
    count = len(ledger.entries)
    source = str(ledger.path)
    ends = f"ends at entry {count} (head {_short(ledger.head)}), expected head {_short(expected)}"
    position = _position_of(ledger, expected)
    if position is not None:
        extra = count - position
        return LedgerAnchorError(
            source,
            f"{ends} (entry {position}): {_entries(extra)} beyond the expected head"
            " (appended after it)",
            code="ledger_head_mismatch",
        )
    verified = seals is not None
    sealed = [
        seal
        for seal in (seals if seals is not None else _seals_to_count(ledger))
        if seal.head == expected
    ]
    if sealed:
        seal = max(sealed, key=lambda s: s.entries)
        which = f"seal line {seal.line}" if verified else f"an unverified seal (line {seal.line})"
        if seal.entries > count:
            return LedgerAnchorError(
                source,
                f"{ends}, which {which} gives as entry {seal.entries}:"
                f" {_entries(seal.entries - count)} missing (truncated?)",
                code="ledger_head_mismatch",
            )
        return LedgerAnchorError(
            source,
            f"{ends}, which {which} gives as entry {seal.entries}, but that entry's hash is"
            f" {_short(ledger.entries[seal.entries - 1].hash)}: the ledger was rewritten",
            code="ledger_head_mismatch",
        )
    return LedgerAnchorError(
        source,
        f"{ends}, which is not the hash of any entry: the ledger was truncated or rewritten (how"
        " many entries are missing is known only from a seal of that head)",
        code="ledger_head_mismatch",
    )


def _seals_to_count(ledger: Ledger) -> tuple[Seal, ...]:
    # Only a hint for a message about a ledger that already fails: a damaged sidecar is not
    # this check's business (check_seals reports it when keys are given).
    try:
        return read_seals(ledger.path)
    except (InputError, LedgerAnchorError):
        return ()


def _position_of(ledger: Ledger, head: str) -> int | None:
    """The entry count at which ``ledger`` had ``head`` (0 for the empty ledger), or None."""
    if head == GENESIS:
        return 0
    for entry in ledger.entries:
        if entry.hash == head:
            return entry.seq
    return None


# --- keys --------------------------------------------------------------------------------------


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the key's 32 raw bytes: how seals and messages name a key."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate_key(out: Path) -> str:
    """Write a new Ed25519 private key to ``out`` (PEM PKCS8, mode 0600) and its public key to
    ``out.pub`` (PEM SubjectPublicKeyInfo); return the fingerprint. Refuses to overwrite either
    file (a replaced signing key would orphan every seal made with it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public_path = out.with_name(out.name + ".pub")
    for path in (out, public_path):
        if path.exists() or path.is_symlink():
            raise InputError(str(path), None, "already exists; refusing to overwrite a key file")
    private_key = Ed25519PrivateKey.generate()
    public_key = private_key.public_key()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    create_new(out, private_pem, mode=0o600)
    try:
        create_new(public_path, public_pem)
    except BaseException:
        out.unlink(missing_ok=True)  # all or nothing: no private key without its public half
        raise
    return fingerprint(public_key)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path`` (unencrypted PEM PKCS8), or an :class:`InputError`."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = read_input(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise InputError(
            str(path),
            None,
            "expected an unencrypted Ed25519 private key in PEM (PKCS8), as `privaudit ledger"
            f" keygen` writes; found {_key_problem(data, error)}",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(
            str(path), None, f"expected an Ed25519 private key; found {_key_kind(key)}"
        )
    return key


def load_trusted_keys(paths: Sequence[Path]) -> tuple[TrustedKey, ...]:
    """The Ed25519 public keys in ``paths`` (PEM SubjectPublicKeyInfo), each an
    :class:`InputError` naming the file if it is missing or not such a key."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    trusted = []
    for path in paths:
        data = read_input(path)
        if b"PRIVATE KEY" in data:
            # A private key must not be copied to where verifiers run; say so instead of
            # quietly deriving its public half.
            raise InputError(
                str(path), None, "is a private key; expected the public key (the KEY.pub file)"
            )
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm) as error:
            raise InputError(
                str(path),
                None,
                "expected an Ed25519 public key in PEM, as `privaudit ledger keygen` writes to"
                f" KEY.pub; found {_key_problem(data, error)}",
            ) from None
        if not isinstance(key, Ed25519PublicKey):
            raise InputError(
                str(path), None, f"expected an Ed25519 public key; found {_key_kind(key)}"
            )
        trusted.append(TrustedKey(path, fingerprint(key), key))
    return tuple(trusted)


def _key_problem(data: bytes, error: Exception) -> str:
    if b"-----BEGIN" not in data:
        return "no PEM block"
    if b"ENCRYPTED" in data:
        return "an encrypted key (privaudit reads unencrypted keys; protect the file instead)"
    return " ".join(str(error).split())[:120] or type(error).__name__


def _key_kind(key: object) -> str:
    return f"a key of type {type(key).__name__.removeprefix('_')}"


# --- sealing -----------------------------------------------------------------------------------


def seal_ledger(
    ledger_path: Path, private_key: Ed25519PrivateKey, *, now: datetime | None = None
) -> Seal:
    """Verify the ledger and append a seal of its head, signed with ``private_key``, to its
    sidecar; return the new seal.

    Validate first, commit on success: a broken ledger (or a damaged sidecar, or one whose seals
    the ledger no longer matches, e.g. cut below a sealed head) raises before anything is
    written, and the sidecar is replaced atomically with its old lines plus the new one.
    Appends to the ledger meanwhile do no harm: a seal speaks of a prefix, which they keep.
    """
    ledger = read_ledger(ledger_path)
    sidecar = seals_path(ledger_path)
    existing = _read_sidecar(sidecar)
    seals = _parse_seals(existing, sidecar) if existing is not None else ()
    # Signatures of earlier seals may come from keys this signer does not trust; their
    # statements must still match the ledger, or the new seal would bless a cut ledger.
    for seal in seals:
        problem = _mismatch(seal, ledger)
        if problem is not None:
            raise problem
    when = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    unsigned = Seal(
        line=len(seals) + 1,
        version=SEAL_VERSION,
        ledger=Path(ledger_path).name,
        entries=len(ledger.entries),
        head=ledger.head,
        time=when,
        key=fingerprint(private_key.public_key()),
        signature="",
    )
    signature = private_key.sign(canonical_json(unsigned.statement()))
    seal = replace(unsigned, signature=signature.hex())
    atomic_write(sidecar, (existing or b"") + canonical_json(seal.to_json()) + b"\n")
    return seal


# --- verifying seals ---------------------------------------------------------------------------


def read_seals(ledger_path: str | os.PathLike[str]) -> tuple[Seal, ...]:
    """The seals in a ledger's sidecar, parsed strictly but signatures unchecked; none if there
    is no sidecar. Damage to a line raises :class:`LedgerAnchorError` naming it."""
    sidecar = seals_path(ledger_path)
    data = _read_sidecar(sidecar)
    return () if data is None else _parse_seals(data, sidecar)


def check_seals(ledger: Ledger, trusted: Sequence[TrustedKey]) -> tuple[Seal, ...]:
    """Verify every seal of ``ledger``'s sidecar: signed by a trusted key, of this ledger, and
    matching it (the sealed entry still has the sealed head). Return the seals, oldest first.

    Raises :class:`LedgerAnchorError` (exit 1) for a forged or edited seal (naming its line),
    for no seal at all (deleting the sidecar must not pass for "nothing to check"), and for a
    ledger cut below a sealed head or rewritten, counting the entries missing compared with the
    newest seal that does not match.
    """
    sidecar = seals_path(ledger.path)
    seals = read_seals(ledger.path)
    if not seals:
        raise LedgerAnchorError(
            str(sidecar),
            "no seal to verify: --trusted-key needs the ledger sealed (`privaudit ledger seal`)"
            + ("" if sidecar.exists() else "; the seals file does not exist"),
            code="ledger_not_sealed",
        )
    by_fingerprint = {key.fingerprint: key for key in trusted}
    for seal in seals:
        _check_signature(seal, by_fingerprint, sidecar)
        if seal.ledger != ledger.path.name:
            raise LedgerAnchorError(
                str(sidecar),
                f"seals ledger {seal.ledger!r}, not {ledger.path.name!r}",
                code="ledger_seal_invalid",
                line=seal.line,
            )
    # Report against the newest seal the ledger breaks: it shows how much is missing.
    for seal in sorted(seals, key=lambda s: (s.entries, s.line), reverse=True):
        problem = _mismatch(seal, ledger)
        if problem is not None:
            raise problem
    return seals


def check_anchors(
    ledger: Ledger, *, expected_head: str | None, trusted: Sequence[TrustedKey]
) -> tuple[tuple[Seal, ...], tuple[LedgerAnchorError, ...]]:
    """Every anchor asked for, checked against a verified ledger: the seals (when ``trusted``
    keys are given) and the expected head (when given). Returns the verified seals and every
    problem found, seals first; both empty when nothing was asked."""
    seals: tuple[Seal, ...] = ()
    problems: list[LedgerAnchorError] = []
    verified: tuple[Seal, ...] | None = None
    if trusted:
        try:
            seals = verified = check_seals(ledger, trusted)
        except LedgerAnchorError as error:
            problems.append(error)
    if expected_head is not None:
        head_problem = check_expected_head(ledger, expected_head, verified)
        if head_problem is not None:
            problems.append(head_problem)
    return seals, tuple(problems)


def _check_signature(seal: Seal, trusted: Mapping[str, TrustedKey], sidecar: Path) -> None:
    from cryptography.exceptions import InvalidSignature

    key = trusted.get(seal.key)
    if key is None:
        raise LedgerAnchorError(
            str(sidecar),
            f"signed by key {_short(seal.key)}, which is not a trusted key (trusted: "
            + ", ".join(f"{_short(k)} ({t.path})" for k, t in trusted.items())
            + ")",
            code="ledger_seal_invalid",
            line=seal.line,
        )
    try:
        key.key.verify(bytes.fromhex(seal.signature), canonical_json(seal.statement()))
    except InvalidSignature:
        raise LedgerAnchorError(
            str(sidecar),
            f"the signature does not verify with trusted key {_short(seal.key)} ({key.path}):"
            " the seal was edited or forged",
            code="ledger_seal_invalid",
            line=seal.line,
        ) from None


def _mismatch(seal: Seal, ledger: Ledger) -> LedgerAnchorError | None:
    """Why ``ledger`` contradicts ``seal``, or None: fewer entries than sealed, or a different
    hash at the sealed entry."""
    count = len(ledger.entries)
    source = str(ledger.path)
    ends = f"ends at entry {count} (head {_short(ledger.head)})"
    sealed = f"seal line {seal.line} ({seal.describe()})"
    if seal.entries > count:
        return LedgerAnchorError(
            source,
            f"{ends}, but {sealed}: {_entries(seal.entries - count)} missing compared with that"
            " seal (truncated below a sealed head)",
            code="ledger_below_seal",
        )
    actual = GENESIS if seal.entries == 0 else ledger.entries[seal.entries - 1].hash
    if actual != seal.head:
        return LedgerAnchorError(
            source,
            f"entry {seal.entries} has hash {_short(actual)}, but {sealed}: the ledger was"
            f" rewritten at or before entry {seal.entries} (cut and appended again?)",
            code="ledger_below_seal",
        )
    return None


def _read_sidecar(sidecar: Path) -> bytes | None:
    if not sidecar.exists() and not sidecar.is_symlink():
        return None
    return read_input(sidecar)


def _parse_seals(data: bytes, sidecar: Path) -> tuple[Seal, ...]:
    if not data:
        return ()
    source = str(sidecar)
    complete = data.endswith(b"\n")
    lines = (data[:-1] if complete else data).split(b"\n")
    seals = []
    for number, raw in enumerate(lines, start=1):
        if number == len(lines) and not complete:
            raise _damaged(source, number, "has no line break at the end (cut short or edited)")
        seals.append(_parse_seal(raw, number, source))
    return tuple(seals)


def _parse_seal(raw: bytes, number: int, source: str) -> Seal:
    try:
        obj = json.loads(
            raw.decode("utf-8"), object_pairs_hook=unique_keys, parse_constant=reject_constant
        )
    except UnicodeDecodeError:
        raise _damaged(source, number, "is not UTF-8 text") from None
    except DuplicateKeyError as error:
        raise _damaged(source, number, f"the key {error.key!r} appears twice") from None
    except (ValueError, RecursionError) as error:
        detail = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        raise _damaged(source, number, f"is not valid JSON ({detail})") from None
    if not isinstance(obj, dict):
        raise _damaged(source, number, f"expected a JSON object; found {type(obj).__name__}")
    if set(obj) != set(SEAL_FIELDS):
        missing = [key for key in SEAL_FIELDS if key not in obj]
        unknown = sorted(key for key in obj if key not in SEAL_FIELDS)
        what = f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}"
        raise _damaged(
            source, number, f"{what}; a seal has exactly the keys {', '.join(SEAL_FIELDS)}"
        )
    version = obj["version"]
    if version != SEAL_VERSION or type(version) is not int:
        raise _damaged(
            source, number, f"version: expected {SEAL_VERSION}; found {describe_value(version)}"
        )
    entries = obj["entries"]
    if type(entries) is not int or entries < 0:
        raise _damaged(
            source, number, f"entries: expected a count >= 0; found {describe_value(entries)}"
        )
    ledger = obj["ledger"]
    if not isinstance(ledger, str) or not ledger or "/" in ledger or not ledger.isprintable():
        raise _damaged(
            source, number, f"ledger: expected a file name; found {describe_value(ledger)}"
        )
    for field, pattern in (("head", _HEX64), ("key", _HEX64), ("signature", _HEX128)):
        value = obj[field]
        if not isinstance(value, str) or not pattern.fullmatch(value):
            digits = 128 if field == "signature" else 64
            raise _damaged(
                source,
                number,
                f"{field}: expected {digits} lowercase hex digits; found {describe_value(value)}",
            )
    time = obj["time"]
    if not isinstance(time, str) or not _is_utc_time(time):
        raise _damaged(
            source, number, f"time: expected a UTC time ...Z; found {describe_value(time)}"
        )
    return Seal(
        line=number,
        version=version,
        ledger=ledger,
        entries=entries,
        head=obj["head"],
        time=time,
        key=obj["key"],
        signature=obj["signature"],
    )


def _is_utc_time(text: str) -> bool:
    if not _UTC_TIME.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _damaged(source: str, line: int, problem: str) -> LedgerAnchorError:
    return LedgerAnchorError(source, problem, code="ledger_seal_invalid", line=line)


def _short(digest: str) -> str:
    return f"{digest[:_SHORT]}…"


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"
