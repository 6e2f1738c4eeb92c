"""PAdES signatures of report PDFs through pyHanko: sign ``report.pdf``, and read back who
signed it, when, and whether the signed bytes are intact.

A PAdES baseline (B-B) signature (ETSI EN 319 142-1) is a CMS signature embedded in the PDF
(``/SubFilter /ETSI.CAdES.detached``) over every byte of the file but the signature itself,
added as an incremental update so the PDF/A-3 document and its attachments stay as rendered.
It carries the signer's X.509 certificate; the key is the Ed25519 key of ``privaudit ledger
keygen`` (RFC 8419: Ed25519 in CMS, with SHA-512 as the message digest).

pyHanko is the optional ``[sign]`` extra; only this module imports it, and only the CLI
imports this module, inside the commands that sign or verify.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from privaudit.errors import InputError
from privaudit.files import read_input

__all__ = ["PdfSignature", "Signer", "load_signer", "read_signatures", "sign_pdf"]

_FIELD = "privaudit-signature"


@dataclass(frozen=True)
class Signer:
    """A private key and the certificate of its public key, ready to sign."""

    signer: Any
    """pyHanko's ``SimpleSigner``."""
    subject: str
    """The certificate's subject, as people read it (``Common Name: ...``)."""
    public_key: bytes
    """The certificate's public key: 32 raw bytes for Ed25519, else its DER encoding."""


@dataclass(frozen=True)
class PdfSignature:
    """One embedded signature as verification found it."""

    field: str
    signer: str
    """The signing certificate's subject."""
    public_key: bytes
    signed_at: str | None
    """The signing time the signature states (UTC, ISO 8601), if any."""
    intact: bool
    """The signed bytes hash to the digest the signature covers."""
    valid: bool
    """The signature over that digest verifies with the certificate's key."""
    whole_file: bool
    """The signature covers the whole file (nothing was appended after it)."""

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.whole_file


def load_signer(key: Path, certificate: Path) -> Signer:
    """The signer of ``key`` (unencrypted PEM PKCS8) with ``certificate`` (PEM or DER X.509);
    an :class:`InputError` naming the file if either is missing, unreadable or they do not
    belong together."""
    from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder_data
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key_pem = read_input(key)  # missing or unreadable files: the usual one-line error
    read_input(certificate)
    try:
        private = load_private_key_from_pemder_data(key_pem, passphrase=None)
    except Exception as error:  # pyHanko and asn1crypto raise many kinds for bad input
        raise InputError(str(key), None, f"expected a private key in PEM; {_why(error)}") from None
    try:
        cert = load_cert_from_pemder(str(certificate))
    except Exception as error:
        raise InputError(
            str(certificate), None, f"expected an X.509 certificate in PEM or DER; {_why(error)}"
        ) from None
    public = _public_key_bytes(cert.public_key)
    if _own_public_key(key_pem) != public:
        raise InputError(
            str(certificate), None, f"does not certify the public key of {key}; found another key"
        )
    signer = signers.SimpleSigner(
        signing_cert=cert,
        signing_key=private,
        cert_registry=SimpleCertificateStore.from_certs([cert]),
    )
    return Signer(signer, cert.subject.human_friendly, public)


def sign_pdf(data: bytes, signer: Signer) -> bytes:
    """``data`` (a PDF) with a PAdES signature by ``signer`` appended as an incremental update;
    the signing time it states is now."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    meta = signers.PdfSignatureMetadata(
        field_name=_FIELD,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha512",
        reason="privaudit report: the reviewed differential privacy assessment",
    )
    pdf_signer = signers.PdfSigner(meta, signer=signer.signer)
    with _quiet():
        output = pdf_signer.sign_pdf(writer)
    signed: bytes = output.getvalue()
    return signed


def read_signatures(data: bytes, source: str) -> list[PdfSignature]:
    """Every signature embedded in the PDF ``data``, checked; an :class:`InputError` if the
    bytes are not a PDF pyHanko can read."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    if not data.startswith(b"%PDF-"):
        raise InputError(source, None, "expected a PDF; found no %PDF- header")
    found = []
    with _quiet():
        try:
            embedded = list(PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures)
        except Exception as error:
            raise InputError(source, None, f"cannot read the PDF: {_why(error)}") from None
        for signature in embedded:
            cert = signature.signer_cert
            # Trust is the caller's (its trusted keys), so pyHanko gets the signature's own
            # certificate as the only root: it then checks integrity and the signature itself,
            # without consulting the operating system's trust list or the network.
            context = ValidationContext(
                trust_roots=[cert] if cert is not None else [], allow_fetching=False
            )
            try:
                status = validate_pdf_signature(signature, signer_validation_context=context)
            except (ValueError, KeyError):  # pyHanko's SignatureValidationError is a ValueError
                # A signature too damaged to evaluate at all: not intact, not valid.
                found.append(
                    PdfSignature(
                        field=str(signature.field_name),
                        signer=cert.subject.human_friendly if cert else "unknown",
                        public_key=_public_key_bytes(cert.public_key) if cert else b"",
                        signed_at=None,
                        intact=False,
                        valid=False,
                        whole_file=False,
                    )
                )
                continue
            stamp = status.signer_reported_dt
            found.append(
                PdfSignature(
                    field=str(signature.field_name),
                    signer=status.signing_cert.subject.human_friendly,
                    public_key=_public_key_bytes(status.signing_cert.public_key),
                    signed_at=None if stamp is None else _iso(stamp),
                    intact=bool(status.intact),
                    valid=bool(status.valid),
                    whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
                )
            )
    return found


def _own_public_key(pem: bytes) -> bytes:
    """The public half of a PEM private key, in :func:`_public_key_bytes`'s form."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = serialization.load_pem_private_key(pem, password=None)
    public = private.public_key()
    if isinstance(private, Ed25519PrivateKey):
        return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _public_key_bytes(public_key: Any) -> bytes:
    """Raw bytes of an Ed25519 public key (as ``seals.fingerprint`` hashes them), else DER."""
    if public_key.algorithm == "ed25519":
        raw: bytes = public_key["public_key"].native
        return raw
    der: bytes = public_key.dump()
    return der


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _why(error: BaseException) -> str:
    return " ".join(str(error).split())[:160] or type(error).__name__


@contextmanager
def _quiet() -> Iterator[None]:
    # pyHanko logs a traceback for every certificate it cannot chain to a trust root (every
    # self-signed one); whom to trust is decided by the caller's trusted keys, not by that log.
    loggers = [logging.getLogger(name) for name in ("pyhanko", "pyhanko_certvalidator")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
