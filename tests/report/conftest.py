"""A small ledger and policy that exercise every report section: two datasets, one of them with
disjoint partitions (silos) under distributed noise with a dropout, one with a non-private
baseline run record and a private run record that is missing from the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from privaudit.ledger import append_entry
from privaudit.records.run import EpochRecord, PrivacyRecord, RunRecord, write_record

POLICY = """\
version: 1
organisation: Test Hospital Group
system: notes-classifier
approvers: [J. Doe (DPO), R. Roe (ML lead)]
tiers:
  medical:
    description: Medical records; strong guarantee.
    epsilon: 1.0
    delta: 1.0e-6
    warn_at: 0.8
    privacy_unit: example
    accountant: pld
  internal:
    description: Internal data.
    epsilon: 8.0
    delta: 1.0e-5
    warn_at: 0.8
    privacy_unit: example
    accountant: pld
datasets:
  notes:
    tier: medical
    size: 100000
    description: Clinical notes across three hospitals.
  digits:
    tier: internal
    size: 60000
"""

DPSGD = {
    "type": "dpsgd",
    "noise_multiplier": 1.1,
    "sampling_rate": 0.004,
    "steps": 250,
    "sampling": "poisson",
}


def write_inputs(folder: Path, *, extra_steps: int = 0) -> tuple[Path, Path, Path]:
    """Policy, ledger and a runs folder in ``folder``; ``extra_steps`` > 0 adds a heavy run on
    the medical dataset that exceeds its cap."""
    policy = folder / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    ledger = folder / "ledger.jsonl"
    for epoch in range(1, 4):
        append_entry(
            ledger,
            dataset="digits",
            mechanism=DPSGD,
            run="train-a",
            privacy_unit="example",
            meta={"epoch": epoch},
        )
    for silo in ("h1", "h2", "h3"):
        append_entry(
            ledger,
            dataset="notes",
            partition=silo,
            mechanism={"type": "gaussian", "noise_multiplier": 20.0},
            run="silo-stats",
            privacy_unit="example",
        )
    append_entry(
        ledger,
        dataset="notes",
        mechanism={
            "type": "distributed_gaussian",
            "noise_multiplier": 30.0,
            "clients": 3,
            "survivors": 2,
            "steps": 5,
        },
        run="secagg",
        privacy_unit="example",
    )
    if extra_steps:
        append_entry(
            ledger,
            dataset="notes",
            mechanism={**DPSGD, "steps": extra_steps},
            run="overrun",
            privacy_unit="example",
        )
    runs = folder / "runs"
    runs.mkdir()
    for name, private, accuracy in (
        ("train-a", True, 0.95),
        ("baseline", False, 0.99),
        ("forgotten", True, 0.9),
    ):
        write_record(_record(name, private, accuracy), runs / f"{name}.json")
    return ledger, policy, runs


def _record(name: str, private: bool, accuracy: float) -> RunRecord:
    privacy = (
        PrivacyRecord(
            target_epsilon=2.0,
            delta=1e-5,
            noise_multiplier=1.1,
            clip_norm=1.0,
            sampling="poisson",
            sampling_rate=0.004,
            steps_planned=750,
            steps_done=750,
            epsilon=1.5 if name == "train-a" else 0.7,
            mechanism=None,
        )
        if private
        else None
    )
    return RunRecord(
        kind="dpsgd" if private else "baseline",
        name=name,
        created="2026-11-26T00:00:00Z",
        data={"name": "digits", "train": 60000, "test": 10000},
        config={},
        privacy=privacy,
        epochs=tuple(
            EpochRecord(
                epoch=k,
                steps=250 * k,
                epsilon=0.5 * k if private else None,
                test_accuracy=accuracy,
                test_loss=0.1,
                seconds=1.0,
            )
            for k in (1, 2, 3)
        ),
        test_accuracy=accuracy,
        wall_seconds=3.0,
        random_source="seed=0",
        versions={"privaudit": "test"},
    )


def _weasyprint_problem() -> str | None:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as error:
        return (
            f"WeasyPrint cannot load ({' '.join(str(error).split())[:120]}); install Pango:"
            " apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"
        )
    return None


WEASYPRINT_PROBLEM = _weasyprint_problem()
needs_weasyprint = pytest.mark.skipif(
    WEASYPRINT_PROBLEM is not None, reason=WEASYPRINT_PROBLEM or ""
)
"""For tests that render PDF: skipped, saying why, where the system lacks Pango (CI has it)."""


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    return write_inputs(tmp_path)


def signing_key(folder: Path, name: str = "Test Signer") -> Path:
    """A new Ed25519 key ``folder/key`` (with ``key.pub``, as `ledger keygen` writes them) and a
    self-signed X.509 certificate of it, ``folder/key.crt``, valid from yesterday for 30 days."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    from privaudit.seals import generate_key, load_private_key

    key = folder / "key"
    generate_key(key)
    private = load_private_key(key)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(private, None)
    )
    (folder / "key.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key


def flip_one_byte(path: Path, at: float = 0.5) -> None:
    """Change one byte of ``path`` (at fraction ``at`` of its length)."""
    data = bytearray(path.read_bytes())
    index = int(len(data) * at)
    data[index] ^= 0x01
    path.write_bytes(bytes(data))
