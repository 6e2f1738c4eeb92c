"""Detached Ed25519 signatures of report files (``report.html.sig``), and their verification.

The PDF carries its signature inside (PAdES, :mod:`privaudit.integrations.pdfsign`); an HTML
file cannot, so its signature sits beside it. The key is the one ``privaudit ledger keygen``
makes (Ed25519, PEM PKCS8), so one key seals ledgers and signs their reports.

Signature file
--------------
UTF-8 JSON, one object with exactly these keys::

    version     1
    file        the signed file's name (no folder)
    size        its length in bytes
    sha256      SHA-256 (hex) of its bytes
    signed_at   UTC time of signing, e.g. "2026-12-07T10:00:00Z"
    signer      who signed, as given (a certificate's subject, a name), or null
    key         fingerprint of the signing key: SHA-256 (hex) of its 32 raw public-key bytes
    public_key  the 32 raw public-key bytes (hex), so that the file verifies on its own
    signature   Ed25519 signature (hex) of the canonical JSON of the other eight keys

A signature that verifies with the key it names proves the file is unchanged since someone
holding that key signed it; *who* that is, only a trusted public key (``--trusted-key``) says.
``cryptography`` is imported only inside the functions that sign or verify.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from privaudit.errors import InputError
from privaudit.jsontext import DuplicateKeyError, reject_constant, unique_keys
from privaudit.ledger import canonical_json
from privaudit.seals import TrustedKey, fingerprint

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "SIGNATURE_FIELDS",
    "SIGNATURE_VERSION",
    "DetachedCheck",
    "sign_detached",
    "signature_path",
    "verify_detached",
]

SIGNATURE_VERSION: Final = 1
SIGNATURE_FIELDS: Final = (
    "version",
    "file",
    "size",
    "sha256",
    "signed_at",
    "signer",
    "key",
    "public_key",
    "signature",
)
_HEX = re.compile(r"[0-9a-f]+")


def signature_path(path: Path) -> Path:
    """Where a file's detached signature lives: ``report.html`` -> ``report.html.sig``."""
    return path.with_name(path.name + ".sig")


def sign_detached(
    data: bytes,
    name: str,
    private_key: Ed25519PrivateKey,
    *,
    signer: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """The signature file of ``data`` (a file called ``name``), signed with ``private_key``."""
    from cryptography.hazmat.primitives import serialization

    public = private_key.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    statement = {
        "version": SIGNATURE_VERSION,
        "file": name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "signed_at": moment.isoformat().replace("+00:00", "Z"),
        "signer": signer,
        "key": fingerprint(public),
        "public_key": raw.hex(),
    }
    signature = private_key.sign(canonical_json(statement)).hex()
    return (json.dumps(statement | {"signature": signature}, indent=2) + "\n").encode("utf-8")


@dataclass(frozen=True)
class DetachedCheck:
    """What verifying a detached signature found: ``problem`` is ``None`` when it verifies
    (and, given trusted keys, was made with one of them)."""

    file: str
    """The name the signature was made for."""
    signer: str | None
    key: str
    signed_at: str
    size: int
    sha256: str
    trusted: bool | None
    """True or False against the trusted keys given; None when none were given."""
    problem: str | None

    @property
    def valid(self) -> bool:
        return self.problem is None


def verify_detached(
    data: bytes, signature: bytes, source: str, trusted: Sequence[TrustedKey] = ()
) -> DetachedCheck:
    """Check ``data`` against the signature file's bytes ``signature`` (read from ``source``).

    Raises :class:`InputError` when ``signature`` is not a signature file at all; a signature
    that does not verify, or a file that changed, is a :class:`DetachedCheck` with a problem.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    fields = _parse(signature, source)
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(fields["public_key"]))
    statement = {key: fields[key] for key in SIGNATURE_FIELDS if key != "signature"}
    trust = None if not trusted else fields["key"] in {t.fingerprint for t in trusted}
    problem = None
    if fingerprint(public) != fields["key"]:
        problem = "the key fingerprint does not match the public key it names"
    else:
        try:
            public.verify(bytes.fromhex(fields["signature"]), canonical_json(statement))
        except InvalidSignature:
            problem = "the signature does not verify: the signature file was altered"
    if problem is None and (
        len(data) != fields["size"] or hashlib.sha256(data).hexdigest() != fields["sha256"]
    ):
        problem = (
            f"the file changed since it was signed (signed: {fields['size']} bytes, SHA-256"
            f" {fields['sha256'][:12]}…; now: {len(data)} bytes, SHA-256"
            f" {hashlib.sha256(data).hexdigest()[:12]}…)"
        )
    if problem is None and trust is False:
        problem = f"signed by key {fields['key'][:12]}…, which is not a trusted key"
    return DetachedCheck(
        file=fields["file"],
        signer=fields["signer"],
        key=fields["key"],
        signed_at=fields["signed_at"],
        size=fields["size"],
        sha256=fields["sha256"],
        trusted=trust,
        problem=problem,
    )


def _parse(raw: bytes, source: str) -> dict[str, Any]:
    def bad(problem: str) -> InputError:
        return InputError(source, None, f"not a privaudit signature file: {problem}")

    try:
        data = json.loads(
            raw.decode("utf-8"), object_pairs_hook=unique_keys, parse_constant=reject_constant
        )
    except (UnicodeDecodeError, ValueError, DuplicateKeyError) as error:
        raise bad(" ".join(str(error).split())[:120]) from None
    if not isinstance(data, dict) or set(data) != set(SIGNATURE_FIELDS):
        raise bad(f"expected an object with exactly the keys {', '.join(SIGNATURE_FIELDS)}")
    if data["version"] != SIGNATURE_VERSION:
        raise bad(f"expected version {SIGNATURE_VERSION}; found {data['version']!r}")
    texts = ("file", "sha256", "signed_at", "key", "public_key", "signature")
    if not all(isinstance(data[key], str) for key in texts):
        raise bad(f"expected text in {', '.join(texts)}")
    if not isinstance(data["size"], int) or isinstance(data["size"], bool) or data["size"] < 0:
        raise bad("expected a byte count in size")
    if data["signer"] is not None and not isinstance(data["signer"], str):
        raise bad("expected text or null in signer")
    lengths = {"sha256": 64, "key": 64, "public_key": 64, "signature": 128}
    for key, length in lengths.items():
        if len(data[key]) != length or not _HEX.fullmatch(data[key]):
            raise bad(f"expected {length} hex digits in {key}")
    return data
