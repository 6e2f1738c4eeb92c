"""Audit records: what a one-run privacy audit tested, what it measured and its verdict.

One JSON file per audit, written atomically, read back strictly (duplicate keys, NaN and unknown
fields refused; never unpickled). The verdict is re-derived when a record is read: a file whose
verdict disagrees with its own numbers is refused, so an edited "consistent" cannot pass. Schema
rule as for run records: fields are only ever added (optional), never renamed or removed.

An audit record is *not* a ledger entry: the audit's training run is a test of the trainer, not
a release, and a run with a planted bug (``planted_bug`` set) offers no privacy at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from privaudit.mechanisms import parse_mechanism
from privaudit.records.io import read_json_record, write_json_record

AUDIT_SCHEMA_VERSION = 1

Verdict = Literal["consistent", "violation"]
Target = Literal["dpsgd", "fedavg", "opacus"]

_STRICT = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class NoiseStdRecord(BaseModel):
    """The noise on the untouched coordinates against the claimed σ·C."""

    model_config = _STRICT

    observed: float
    claimed: float
    low: float
    high: float
    """Exact χ² confidence interval (two-sided, 1 − ``level``) for the noise std."""
    ok: bool
    observations: int = Field(ge=1)
    level: float = Field(gt=0, lt=1)


class SamplingRateRecord(BaseModel):
    """How often the trainer sampled the included canaries, against the claimed q."""

    model_config = _STRICT

    observed: float
    claimed: float
    p_value: float = Field(ge=0, le=1)
    ok: bool
    sampled: int = Field(ge=0)
    trials: int = Field(ge=0)
    level: float = Field(gt=0, lt=1)


class ContributionRecord(BaseModel):
    """What one sampling of an included canary added to its coordinate, against C."""

    model_config = _STRICT

    observed: float
    claimed: float
    low: float
    high: float
    p_value: float = Field(ge=0, le=1)
    ok: bool
    sampled: int = Field(ge=0)
    level: float = Field(gt=0, lt=1)


class DirectChecks(BaseModel):
    model_config = _STRICT

    noise_std: NoiseStdRecord
    sampling_rate: SamplingRateRecord
    contribution: ContributionRecord | None = None
    """The clipping check (None in records written before it existed)."""

    @property
    def ok(self) -> bool:
        contribution_ok = self.contribution is None or self.contribution.ok
        return self.noise_std.ok and self.sampling_rate.ok and contribution_ok


class AuditRecord(BaseModel):
    """One audit: ``verdict`` is "violation" iff the empirical lower bound on ε exceeds the
    claimed ε, or a direct check (noise, sampling) failed."""

    model_config = _STRICT

    schema_version: int = AUDIT_SCHEMA_VERSION
    kind: Literal["audit"] = "audit"
    name: str
    created: str
    target: Target
    data: dict[str, Any]
    """Sizes of the real data (records, features, clients) and, when given, its provenance."""
    config: dict[str, Any]
    """The trainer's configuration as run (noise multiplier, clip norm, rate, steps, model)."""
    epsilon_claimed: float = Field(gt=0)
    delta: float = Field(gt=0, lt=1)
    mechanism: dict[str, Any]
    """What the accountant was told, in ledger JSON form (``mechanism_to_json``)."""
    canaries: int = Field(ge=2)
    untouched: int = Field(ge=1)
    canary_gradient_norm: float = Field(gt=0)
    score: str
    """How canaries were scored: ``sum`` or ``likelihood_ratio`` (privaudit.audit.canaries)."""
    guess_rule: str = "search"
    """How the number of guesses was chosen: ``design`` (fixed before training from simulated
    audits of a correct trainer), ``fixed`` (given) or ``search`` (several, union bound)."""
    expected_lower_bound: float | None = None
    """With ``design``: the median simulated bound of a correct trainer, the audit's power."""
    steps: int = Field(ge=1)
    epsilon_lower_bound: float = Field(ge=0)
    confidence: float = Field(gt=0, lt=1)
    """The lower bound holds with this probability for a trainer that meets ``epsilon_claimed``."""
    method: str
    guesses: int = Field(ge=0)
    correct: int = Field(ge=0)
    guesses_in: int = Field(ge=0)
    guesses_out: int = Field(ge=0)
    candidates: int = Field(ge=1)
    """How many guess counts the bound chose among (the bound pays for the choice)."""
    method_requested: str | None = None
    """``auto``, ``one_run`` or ``one_run_fdp`` as asked (None in records before ``auto``);
    ``method`` is the bound used."""
    method_reason: str | None = None
    """Why ``method`` was used (with ``auto``: whether the claim is a Gaussian curve)."""
    gaussian_mu: float | None = Field(default=None, gt=0)
    """μ* of the Gaussian trade-off curve with the claimed ε at δ."""
    dominating_mu: float | None = Field(default=None, gt=0)
    """With ``auto``: μd ≥ μ*, the claimed mechanism is μd-GDP (the f-DP bound's μ is scaled by
    μ*/μd); see privaudit.audit.premise."""
    ceiling: float | None = Field(default=None, ge=0)
    """The bound an ideal auditor certifies, with the same m, guesses, method, δ and β, against
    a mechanism that is exactly the claimed Gaussian curve (privaudit.audit.ceiling)."""
    efficiency: float | None = Field(default=None, ge=0)
    """``epsilon_lower_bound`` / ``ceiling`` (None when the ceiling is 0)."""
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    """Why the verdict is "violation" (empty when consistent)."""
    direct_checks: DirectChecks
    planted_bug: str | None = None
    """Set only for a deliberately broken trainer (tests of the audit itself)."""
    test_accuracy: float | None = None
    """Of the audited model on the (public) test set: shows the audited trainer did train."""
    seed: int = Field(ge=0)
    ledger_head: str | None = None
    """The audited ledger's head (an entry hash) when the audit was bound to a run of it."""
    dataset_id: str | None = None
    """The ledger dataset of the audited run."""
    run: str | None = None
    """The ledger run whose trainer configuration was audited. A report attaches the record only
    to a ledger holding ``ledger_head`` with entries of this run on this dataset."""
    wall_seconds: float = Field(ge=0)
    versions: dict[str, str]

    @model_validator(mode="after")
    def _verdict_follows_numbers(self) -> AuditRecord:
        expected = verdict_of(self.epsilon_lower_bound, self.epsilon_claimed, self.direct_checks)
        if self.verdict != expected:
            raise ValueError(
                f"verdict {self.verdict!r} contradicts the record's numbers (expected {expected!r})"
            )
        if self.correct > self.guesses or self.guesses_in + self.guesses_out != self.guesses:
            raise ValueError("expected correct <= guesses = guesses_in + guesses_out")
        return self


def verdict_of(epsilon_lower_bound: float, epsilon_claimed: float, checks: DirectChecks) -> Verdict:
    return "violation" if epsilon_lower_bound > epsilon_claimed or not checks.ok else "consistent"


def reasons_of(
    epsilon_lower_bound: float, epsilon_claimed: float, checks: DirectChecks
) -> tuple[str, ...]:
    """One sentence per failed test, for people reading the record."""
    reasons: list[str] = []
    if epsilon_lower_bound > epsilon_claimed:
        reasons.append(
            f"empirical ε lower bound {epsilon_lower_bound:.4g} exceeds the claimed ε"
            f" {epsilon_claimed:.4g}"
        )
    noise = checks.noise_std
    if not noise.ok:
        reasons.append(
            f"noise std {noise.observed:.4g} (interval {noise.low:.4g}–{noise.high:.4g}) is not"
            f" the claimed σ·C = {noise.claimed:.4g}"
        )
    contribution = checks.contribution
    if contribution is not None and not contribution.ok:
        reasons.append(
            f"each sampled canary added {contribution.observed:.4g} (interval"
            f" {contribution.low:.4g}–{contribution.high:.4g}) to its coordinate, not the clip"
            f" norm C = {contribution.claimed:.4g}"
        )
    rate = checks.sampling_rate
    if not rate.ok:
        reasons.append(
            f"canaries were sampled at rate {rate.observed:.4g}, not the claimed q ="
            f" {rate.claimed:.4g} (p = {rate.p_value:.2g})"
        )
    return tuple(reasons)


def write_audit_record(record: AuditRecord, path: Path) -> None:
    """Write ``record`` as JSON atomically (temporary file + rename)."""
    write_json_record(record, path)


def read_audit_record(path: Path) -> AuditRecord:
    """Read an audit record; any problem is one :class:`InputError` line."""
    record = read_json_record(path, AuditRecord, "the audit record")
    parse_mechanism(record.mechanism, str(path), "mechanism")
    return record
