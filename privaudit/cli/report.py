"""``privaudit report``: the regulator-ready report (HTML and PDF/A-3 with the evidence attached)
and an exit code that follows its verdict; optionally a registry record and signatures.
``privaudit report verify`` checks a signed report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from privaudit.cli.app import FormatOption, LedgerArgument, PolicyOption, SummaryFormat
from privaudit.cli.inputs import report_formats
from privaudit.cli.present import emit, emit_json, progress_line
from privaudit.errors import EXIT_FAIL, EXIT_OK, InputError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from privaudit.integrations.pdfsign import Signer
    from privaudit.report.model import Report
    from privaudit.stores import LedgerStore

EXPORTED_LEDGER = "ledger.jsonl"
"""Where the report of a database ledger finds the ledger it attaches, in its output folder."""


def report_command(
    ledger: LedgerArgument,
    policy: PolicyOption,
    runs: Annotated[
        list[Path] | None,
        typer.Option("--runs", help="Run records (runs/NAME.json) or folders of them; repeatable."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for report.html and report.pdf.")] = Path(
        "reports"
    ),
    formats: Annotated[
        str, typer.Option("--formats", help="Comma-separated: html, pdf.")
    ] = "html,pdf",
    review_id: Annotated[
        str | None, typer.Option(help="Review id printed on every page (default: from hashes).")
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            metavar="PATH",
            help="Also write the deployment record for a public DP registry (JSON; schema:"
            " privaudit/report/registry.schema.json) to PATH.",
            show_default=False,
        ),
    ] = None,
    sign: Annotated[
        Path | None,
        typer.Option(
            "--sign",
            metavar="KEY",
            help="Sign the report with KEY (Ed25519, from `privaudit ledger keygen`): a PAdES"
            " signature inside report.pdf (needs the [sign] extra and --cert), a detached"
            " report.html.sig beside the HTML.",
            show_default=False,
        ),
    ] = None,
    cert: Annotated[
        Path | None,
        typer.Option(
            "--cert",
            metavar="CERT",
            help="X.509 certificate of KEY's public key, carried by the PDF signature"
            " [default: KEY.crt].",
            show_default=False,
        ),
    ] = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Write the regulator-ready report: self-contained HTML and PDF/A-3 with the evidence
    attached. Exits 1 when the verdict is fail (the report is written all the same). Check a
    signed report with `privaudit report verify FILE`."""
    from privaudit.cli.stores import local_path, open_store
    from privaudit.report.model import build_report
    from privaudit.report.render import write_report

    chosen = report_formats(formats)
    ledger_path = local_path(ledger)
    _check_out(out, ledger_path, policy)
    if registry is not None:
        _check_registry(registry, out, ledger_path, policy)
    # Keys and certificates are read before any work, so that a bad one writes nothing.
    keys = _signing_keys(sign, cert, chosen) if sign is not None else None
    if ledger_path is None:
        # The report attaches the ledger byte for byte: a database ledger is exported first, to
        # a file in the output folder that verifies as a ledger of its own.
        ledger_path = _export(open_store(ledger), out)
        progress_line(f"exported the database ledger to {ledger_path}")
    report = build_report(
        ledger_path, policy, runs=runs or [], review_id=review_id, progress=progress_line
    )
    written = write_report(report, out, chosen, progress=progress_line)
    if keys is not None:
        written += _sign_written(written, *keys)
    if registry is not None:
        from privaudit.files import atomic_write
        from privaudit.report.registry import registry_json

        atomic_write(registry, registry_json(report))
        written.append(registry)
    status = report.assessment.status.value
    if output_format is SummaryFormat.JSON:
        emit_json(_summary(report, written))
    else:
        emit(f"report {report.review_id}: verdict {status.upper()}")
        for path in written:
            emit(f"  {path}")
    raise typer.Exit(EXIT_FAIL if status == "fail" else EXIT_OK)


def _check_registry(registry: Path, out: Path, ledger: Path | None, policy: Path) -> None:
    for label, path in (("ledger", ledger), ("policy", policy)):
        if path is not None and path.exists() and registry.resolve() == path.resolve():
            raise InputError(str(registry), None, f"is the {label} file; choose another --registry")
    if registry.is_dir():
        raise InputError(str(registry), None, "is a folder; expected a file for the record")
    parent = registry.parent
    if not parent.is_dir() and parent.resolve() != out.resolve():  # --out is made if missing
        raise InputError(str(registry), None, f"folder {parent} does not exist")


def _signing_keys(
    key: Path, cert: Path | None, formats: list[str]
) -> tuple[Ed25519PrivateKey, str | None, Signer | None]:
    """The Ed25519 key, the signer's name (the certificate's subject, when there is one) and,
    when a PDF is made, the PDF's signer (key + certificate)."""
    from privaudit.seals import load_private_key

    private_key = load_private_key(key)
    certificate = cert or key.with_name(key.name + ".crt")
    name = _subject(certificate) if cert is not None or certificate.exists() else None
    if "pdf" not in formats:
        return private_key, name, None
    if name is None:
        raise InputError(
            "--cert",
            None,
            f"a PAdES signature carries an X.509 certificate of KEY; none given and no"
            f" {certificate}: make one with openssl req -new -x509 -key {key} -subj"
            f" '/CN=Your Name' -days 365 -out {certificate}",
        )
    try:
        from privaudit.integrations.pdfsign import load_signer
    except ImportError:
        raise InputError(
            "--sign",
            None,
            "signing report.pdf needs pyHanko: pip install 'privaudit[sign]'"
            " (or --formats html for the detached HTML signature alone)",
        ) from None
    return private_key, name, load_signer(key, certificate)


def _subject(certificate: Path) -> str:
    """The subject of an X.509 certificate (PEM or DER), as RFC 4514 text."""
    from cryptography import x509

    from privaudit.files import read_input

    data = read_input(certificate)
    try:
        if b"-----BEGIN" in data:
            parsed = x509.load_pem_x509_certificate(data)
        else:
            parsed = x509.load_der_x509_certificate(data)
    except ValueError as error:
        problem = " ".join(str(error).split())[:120]
        raise InputError(
            str(certificate), None, f"expected an X.509 certificate in PEM or DER; {problem}"
        ) from None
    return parsed.subject.rfc4514_string()


def _sign_written(
    written: list[Path], private_key: Ed25519PrivateKey, name: str | None, signer: Signer | None
) -> list[Path]:
    """Sign each written document in place (the PDF) or beside it (the HTML's .sig); returns
    the signature files added."""
    from privaudit.files import atomic_write
    from privaudit.report.signing import sign_detached, signature_path

    added = []
    for path in written:
        data = path.read_bytes()
        if path.suffix == ".pdf" and signer is not None:
            from privaudit.integrations.pdfsign import sign_pdf

            progress_line(f"signing {path} (PAdES, {signer.subject})")
            atomic_write(path, sign_pdf(data, signer))
        elif path.suffix == ".html":
            progress_line(f"signing {path} (detached Ed25519 signature)")
            sidecar = signature_path(path)
            atomic_write(sidecar, sign_detached(data, path.name, private_key, signer=name))
            added.append(sidecar)
    return added


def verify_command(
    file: Annotated[
        Path, typer.Argument(help="A signed report.pdf, or report.html beside its .sig file.")
    ],
    trusted_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--trusted-key",
            metavar="PUB",
            help="Public key (KEY.pub of `ledger keygen`) the report must be signed with;"
            " repeatable. Without it only integrity is checked, not who signed.",
            show_default=False,
        ),
    ] = None,
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Check a signed report: that it is unchanged since it was signed, who signed it and when.
    Exits 1 if it is not signed, was changed, or (with --trusted-key) was signed by another
    key."""
    from privaudit.files import read_input
    from privaudit.seals import load_trusted_keys

    trusted = load_trusted_keys(trusted_key or [])
    data = read_input(file)
    if data.startswith(b"%PDF-"):
        result = _verify_pdf(file, data, trusted)
    else:
        result = _verify_html(file, data, trusted)
    lines = result.pop("lines")
    if output_format is SummaryFormat.JSON:
        emit_json(result)
    else:
        for line in lines:
            emit(line)
    raise typer.Exit(EXIT_OK if result["valid"] else EXIT_FAIL)


def _trust_note(trusted: bool | None) -> str:
    if trusted is None:
        return "signer not checked against a trusted key (pass --trusted-key KEY.pub)"
    return "signed with a trusted key" if trusted else "NOT signed with a trusted key"


def _verify_html(file: Path, data: bytes, trusted: Any) -> dict[str, Any]:
    from privaudit.files import read_input
    from privaudit.report.signing import signature_path, verify_detached

    sidecar = signature_path(file)
    if not sidecar.exists():
        return {
            "file": str(file),
            "kind": "html",
            "valid": False,
            "signatures": [],
            "lines": [f"{file}: not signed (no {sidecar})"],
        }
    check = verify_detached(data, read_input(sidecar), str(sidecar), trusted)
    who = check.signer or "an unnamed signer"
    what = f"{check.file} ({check.size} bytes, SHA-256 {check.sha256[:16]}…)"
    head = (
        f"{file}: {'valid' if check.valid else 'INVALID'}: signed by {who} with key"
        f" {check.key[:16]}… at {check.signed_at}: {what}"
    )
    lines = [head, f"  {check.problem or _trust_note(check.trusted)}"]
    return {
        "file": str(file),
        "kind": "html",
        "valid": check.valid,
        "signatures": [
            {
                "signature": str(sidecar),
                "signer": check.signer,
                "key": check.key,
                "signed_at": check.signed_at,
                "signed_file": check.file,
                "size": check.size,
                "sha256": check.sha256,
                "trusted": check.trusted,
                "problem": check.problem,
            }
        ],
        "lines": lines,
    }


def _verify_pdf(file: Path, data: bytes, trusted: Any) -> dict[str, Any]:
    import hashlib

    try:
        from privaudit.integrations.pdfsign import read_signatures
    except ImportError:
        raise InputError(
            str(file),
            None,
            "verifying a PDF signature needs pyHanko: pip install 'privaudit[sign]'",
        ) from None
    found = read_signatures(data, str(file))
    fingerprints = {t.fingerprint for t in trusted}
    signatures, lines = [], []
    for signature in found:
        key = hashlib.sha256(signature.public_key).hexdigest()
        trust = None if not trusted else key in fingerprints
        problem = None
        if not signature.intact:
            problem = "the signed bytes changed since signing (digest mismatch)"
        elif not signature.valid:
            problem = "the signature does not verify with the certificate's key"
        elif not signature.whole_file:
            problem = "bytes were added or changed after the signature (it does not cover them)"
        elif trust is False:
            problem = f"signed by key {key[:12]}…, which is not a trusted key"
        ok = problem is None
        lines.append(
            f"{file}: {'valid' if ok else 'INVALID'}: PAdES signature by {signature.signer}"
            f" (key {key[:16]}…) at {signature.signed_at or 'an unstated time'}, over"
            f" {len(data)} bytes"
        )
        lines.append(f"  {problem or _trust_note(trust)}")
        signatures.append(
            {
                "field": signature.field,
                "signer": signature.signer,
                "key": key,
                "signed_at": signature.signed_at,
                "intact": signature.intact,
                "whole_file": signature.whole_file,
                "trusted": trust,
                "problem": problem,
            }
        )
    if not found:
        lines.append(f"{file}: not signed (no embedded signature)")
    valid = bool(found) and all(s["problem"] is None for s in signatures)
    return {
        "file": str(file),
        "kind": "pdf",
        "valid": valid,
        "signatures": signatures,
        "lines": lines,
    }


def _export(store: LedgerStore, out: Path) -> Path:
    """``store``'s entries as a ledger file ``OUT/ledger.jsonl`` (canonical lines, verified)."""
    from privaudit.files import atomic_write
    from privaudit.ledger import entry_line

    ledger = store.read()
    out.mkdir(exist_ok=True)
    path = out / EXPORTED_LEDGER
    atomic_write(path, b"".join(entry_line(entry) for entry in ledger.entries))
    return path


def _check_out(out: Path, ledger: Path | None, policy: Path) -> None:
    """Refuse an output folder that would overwrite an input or cannot be made, before work."""
    for name in ("report.html", "report.pdf"):
        for label, path in (("ledger", ledger), ("policy", policy)):
            if path is not None and path.exists() and (out / name).resolve() == path.resolve():
                raise InputError(
                    str(out / name), None, f"is the {label} file; choose another --out"
                )
    if out.exists() and not out.is_dir():
        raise InputError(str(out), None, "exists and is not a folder")
    if not out.exists() and not out.parent.is_dir():
        raise InputError(str(out), None, f"folder {out.parent} does not exist")


def _summary(report: Report, written: list[Path]) -> dict[str, Any]:
    return {
        "status": report.assessment.status.value,
        "review_id": report.review_id,
        "files": [str(p) for p in written],
        "datasets": [
            {
                "dataset": s.assessment.dataset,
                "epsilon": s.assessment.epsilon if math.isfinite(s.assessment.epsilon) else None,
                "delta": s.assessment.delta,
                "status": s.assessment.status.value,
            }
            for s in report.datasets
        ],
    }
