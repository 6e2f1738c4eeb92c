"""Policy + ledger → Assessment: per dataset ε, δ, limit, fraction used, status and findings.

Composition rules (DESIGN.md): entries on one dataset and partition compose sequentially;
disjoint partitions of a dataset compose in parallel (the dataset's ε is the maximum over its
partitions, valid because each privacy unit lives in exactly one partition); an entry without a
partition touches every partition. Different datasets are accounted separately.

A verdict only ever uses a certified upper bound (PLD or RDP). Anything that could make the
reported ε too small is a finding; the ones that could understate the loss fail the dataset.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from privaudit.accounting.accountant import Accounting, Method, account, versions
from privaudit.accounting.dp_events import NeighbouringRelation
from privaudit.errors import describe_value
from privaudit.ledger import Ledger, LedgerEntry
from privaudit.mechanisms import DpSgd, Mechanism, Sampling
from privaudit.policy import AccountantName, Policy, Tier
from privaudit.rounding import number, up

DEFAULT_DELTA = 1e-5
"""δ used when neither a policy nor ``--delta`` gives one (stated in every output)."""


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


class Severity(StrEnum):
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"


class Finding(BaseModel):
    """Something a reviewer must know about a number; ``fail`` findings fail the dataset."""

    model_config = ConfigDict(frozen=True)

    code: str
    severity: Severity
    message: str


class PartitionResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    partition: str | None
    entries: int
    epsilon: float
    epsilon_pld: float | None
    epsilon_rdp: float | None


class FrameworkComparison(BaseModel):
    """Another framework's own ε for one run (ledger ``meta.framework``, written by an import or
    a guard) beside privaudit's certified figures for the same releases at the same δ.

    privaudit's figures compose the run's entries on the dataset up to and including entry
    ``seq``, the latest one carrying the framework's ε (or, when none does, the latest carrying
    a readable ``meta.framework``). The framework's figure is shown, never used for a verdict.
    """

    model_config = ConfigDict(frozen=True)

    run: str | None
    framework: str
    version: str | None
    accountant: str | None
    via: str | None
    how: str | None
    delta: float
    """The framework's δ; the dataset's δ when the framework states none."""
    framework_epsilon: float | None
    """The framework's own ε at ``delta``; None when the ledger does not hold it."""
    epsilon_pld: float | None
    epsilon_rdp: float | None
    epsilon_certified: float
    """privaudit's certified ε with the verdict's method (``inf`` when unbounded)."""
    method: Method | None
    seq: int
    """The entry whose framework figure is compared: privaudit composes the run up to it."""
    entries: int
    """How many of the run's entries that is."""

    @property
    def label(self) -> str:
        """The framework and its accountant, as a person reads them: "Opacus gdp"."""
        name = _FRAMEWORK_NAMES.get(self.framework, self.framework)
        return f"{name} {self.accountant}" if self.accountant else name

    @property
    def below_certified(self) -> bool:
        """The framework's ε is below privaudit's certified bound for the same releases."""
        return self.framework_epsilon is not None and self.framework_epsilon < (
            self.epsilon_certified
        )


class DatasetAssessment(BaseModel):
    """The verdict for one dataset. ``epsilon`` is ``inf`` (JSON ``null``) when unbounded."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    tier: str | None
    privacy_unit: str | None
    size: int | None
    entries: int
    epsilon: float
    delta: float
    method: Method | None
    relation: NeighbouringRelation
    epsilon_pld: float | None
    epsilon_rdp: float | None
    rdp_order: float | None
    limit_epsilon: float | None
    limit_delta: float | None
    tolerance: float
    warn_at: float | None
    used_fraction: float | None
    status: Status
    findings: tuple[Finding, ...]
    partitions: tuple[PartitionResult, ...]
    settings: dict[str, Any]
    epsilon_query: float | None = None
    """The ε at which δ was asked for (``privaudit account --epsilon``), if it was."""
    delta_at_epsilon: float | None = None
    delta_at_epsilon_pld: float | None = None
    delta_at_epsilon_rdp: float | None = None
    frameworks: tuple[FrameworkComparison, ...] = ()
    """Other frameworks' own ε per imported or guarded run, beside privaudit's certified ε."""


class Source(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str


class Assessment(BaseModel):
    """Everything the gate and the report need; a plain value, JSON-serialisable."""

    model_config = ConfigDict(frozen=True)

    status: Status
    generated_at: str
    ledger: Source | None
    ledger_entries: int
    ledger_head: str | None
    policy: Source | None
    datasets: tuple[DatasetAssessment, ...]
    findings: tuple[Finding, ...]
    """Findings about the inputs as a whole (e.g. a broken hash chain)."""
    versions: dict[str, str]
    policy_given: bool = True
    """False when no policy was given: the figures stand alone, with no limit and no verdict
    (``status`` then only says whether a ledger or accounting problem fails the run)."""

    @property
    def exceeded(self) -> bool:
        return self.status is Status.FAIL


def assess(
    ledger: Ledger,
    policy: Policy | None = None,
    *,
    policy_path: str | Path | None = None,
    delta: float | None = None,
    epsilon: float | None = None,
    source: str | None = None,
) -> Assessment:
    """Account every dataset of ``ledger`` and judge it against ``policy`` (if given).

    ``delta`` overrides the tiers' δ (and is required in spirit when there is no policy; it
    defaults to :data:`DEFAULT_DELTA`). With ``epsilon``, each dataset also reports δ at that ε
    (the maximum over its partitions, as for ε). ``source`` names the ledger in the assessment
    (a store's name: a database URL without its password, which ``ledger.path`` would mangle);
    by default its path.
    """
    by_dataset: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in ledger.entries:
        by_dataset[entry.dataset].append(entry)
    names = list(by_dataset)
    if policy is not None:
        names += [name for name in policy.datasets if name not in by_dataset]
    # Datasets are accounted independently: on all cores (numpy releases the GIL in the FFTs
    # that dominate), in a fixed order of results.
    with ThreadPoolExecutor(max_workers=max(1, min(len(names), os.cpu_count() or 1))) as pool:
        results = tuple(
            pool.map(
                lambda name: _assess_dataset(
                    name, by_dataset.get(name, []), policy, delta, epsilon
                ),
                sorted(names),
            )
        )
    return Assessment(
        status=_worst(r.status for r in results),
        generated_at=_now(),
        ledger=Source(path=source or str(ledger.path), sha256=ledger.sha256),
        ledger_entries=len(ledger.entries),
        ledger_head=ledger.head,
        policy=_source(policy_path),
        datasets=results,
        findings=(),
        versions=versions(),
        policy_given=policy is not None,
    )


def broken_ledger_assessment(
    ledger_path: str | Path, problem: str, *, policy_path: str | Path | None = None
) -> Assessment:
    """A failing assessment for a ledger whose hash chain does not verify: no entry of a
    tampered ledger can be trusted, so nothing is accounted."""
    return Assessment(
        status=Status.FAIL,
        generated_at=_now(),
        ledger=_source(ledger_path),
        ledger_entries=0,
        ledger_head=None,
        policy=_source(policy_path),
        datasets=(),
        findings=(Finding(code="ledger_chain_broken", severity=Severity.FAIL, message=problem),),
        versions=versions(),
        policy_given=policy_path is not None,
    )


def _assess_dataset(
    name: str,
    entries: Sequence[LedgerEntry],
    policy: Policy | None,
    delta: float | None,
    epsilon: float | None = None,
) -> DatasetAssessment:
    findings: list[Finding] = []
    tier_name = policy.datasets[name].tier if policy and name in policy.datasets else None
    tier: Tier | None = policy.tiers[tier_name] if policy and tier_name else None
    spec = policy.datasets.get(name) if policy else None
    if policy is not None and spec is None:
        findings.append(
            Finding(
                code="dataset_not_in_policy",
                severity=Severity.FAIL,
                message=(
                    f"dataset '{name}' is in the ledger but not in the policy: no limit applies"
                ),
            )
        )
    target_delta = delta if delta is not None else tier.delta if tier else DEFAULT_DELTA
    if tier is not None and target_delta != tier.delta:
        findings.append(_delta_override_finding(target_delta, tier, tier_name))
    method = _method_for(tier, findings)

    mechanisms = [entry.mechanism for entry in entries]
    partitions = _partition(entries)
    per_partition: list[tuple[str | None, int, Accounting]] = [
        (part, len(members), account(members, target_delta, method, epsilon=epsilon))
        for part, members in partitions
    ]
    # Disjoint partitions compose in parallel: every figure is the maximum over partitions.
    results = [acc for _, _, acc in per_partition] or [
        account([], target_delta, method, epsilon=epsilon)
    ]
    overall = max(results, key=lambda acc: _sort_key(acc.epsilon))

    unit = (spec.privacy_unit if spec and spec.privacy_unit else None) or (
        tier.privacy_unit if tier else None
    )
    findings += _unit_findings(name, entries, tier, unit)
    for result in results:
        findings += [f for f in _accounting_findings(result, method) if f not in findings]
    findings += _shuffle_findings(mechanisms, target_delta, method)
    findings += _seed_findings(entries)
    if spec is not None and tier is not None and target_delta >= 1 / spec.size:
        findings.append(
            Finding(
                code="delta_too_large",
                severity=Severity.FAIL,
                message=(
                    f"δ = {target_delta:g} is not below 1/n = {1 / spec.size:.3g}"
                    f" for n = {spec.size}:"
                    " such a δ allows releasing a whole record; choose δ well below 1/n"
                ),
            )
        )
    if tier is not None and tier.per_run_epsilon is not None:
        findings += _per_run_findings(entries, tier, target_delta, method)
    frameworks, framework_findings = _framework_comparisons(entries, target_delta, method)
    findings += framework_findings

    limit = tier.epsilon if tier else None
    used = None if limit is None else overall.epsilon / limit
    status = _status(overall.epsilon, tier, findings)
    return DatasetAssessment(
        dataset=name,
        tier=tier_name,
        privacy_unit=unit,
        size=spec.size if spec else None,
        entries=len(entries),
        epsilon=overall.epsilon,
        delta=target_delta,
        method=overall.method,
        relation=overall.relation,
        epsilon_pld=_max_or_none(acc.pld.epsilon for acc in results),
        epsilon_rdp=_max_or_none(acc.rdp.epsilon for acc in results),
        rdp_order=overall.rdp.rdp_order,
        limit_epsilon=limit,
        limit_delta=tier.delta if tier else None,
        tolerance=tier.tolerance if tier else 0.0,
        warn_at=tier.warn_at if tier else None,
        used_fraction=used,
        status=status,
        findings=tuple(findings),
        partitions=tuple(
            PartitionResult(
                partition=part,
                entries=count,
                epsilon=acc.epsilon,
                epsilon_pld=acc.pld.epsilon,
                epsilon_rdp=acc.rdp.epsilon,
            )
            for part, count, acc in per_partition
        ),
        settings={"pld": overall.pld.settings, "rdp": overall.rdp.settings},
        epsilon_query=epsilon,
        delta_at_epsilon=_max_or_none(acc.delta_at_epsilon for acc in results),
        delta_at_epsilon_pld=_max_or_none(acc.pld.delta_at_epsilon for acc in results),
        delta_at_epsilon_rdp=_max_or_none(acc.rdp.delta_at_epsilon for acc in results),
        frameworks=tuple(frameworks),
    )


def _max_or_none(values: Iterable[float | None]) -> float | None:
    """Maximum over partitions; unknown (None) if any partition's value is unknown."""
    collected = list(values)
    if not collected or any(v is None for v in collected):
        return None
    return max(v for v in collected if v is not None)


def _partition(entries: Sequence[LedgerEntry]) -> list[tuple[str | None, list[Mechanism]]]:
    return partition_compositions((e.partition, e.mechanism) for e in entries)


def partition_compositions(
    releases: Iterable[tuple[str | None, Mechanism]],
) -> list[tuple[str | None, list[Mechanism]]]:
    """The sequential compositions a dataset's ε is the maximum of: one per named partition
    (sorted), each with the releases that touch every partition (partition None); without
    named partitions, one composition of everything. Empty input gives none."""
    shared: list[Mechanism] = []
    named: dict[str, list[Mechanism]] = defaultdict(list)
    for partition, mechanism in releases:
        if partition is None:
            shared.append(mechanism)
        else:
            named[partition].append(mechanism)
    if not named:
        return [(None, shared)] if shared else []
    return [(part, shared + members) for part, members in sorted(named.items())]


def _delta_override_finding(delta: float, tier: Tier, tier_name: str | None) -> Finding:
    """δ overridden (``--delta``): every output says at which δ ε is stated, and whether it is
    tighter than the tier's (the CLI refuses a looser one; the Python API fails it)."""
    said = (
        f"δ = {number(delta)} is {{}} than the policy's δ = {number(tier.delta)} (tier {tier_name})"
    )
    if delta < tier.delta:
        return Finding(
            code="delta_tighter_than_policy",
            severity=Severity.INFO,
            message=said.format("tighter") + ": --delta; ε is stated at the tighter δ",
        )
    return Finding(
        code="delta_looser_than_policy",
        severity=Severity.FAIL,
        message=said.format("looser") + ": a δ above the tier's cannot pass its limit",
    )


def _method_for(tier: Tier | None, findings: list[Finding]) -> Method:
    if tier is None or tier.accountant is AccountantName.PLD:
        return Method.PLD
    if tier.accountant is AccountantName.RDP:
        return Method.RDP
    findings.append(
        Finding(
            code="non_certified_accountant",
            severity=Severity.WARN,
            message=(
                f"the tier asks for '{tier.accountant.value}', an estimate that can understate ε;"
                " the verdict uses the certified PLD bound instead"
            ),
        )
    )
    return Method.PLD


def _unit_findings(
    name: str, entries: Sequence[LedgerEntry], tier: Tier | None, unit: str | None
) -> list[Finding]:
    findings: list[Finding] = []
    if tier is not None and unit is not None and unit != tier.privacy_unit:
        findings.append(
            Finding(
                code="privacy_unit_differs_from_tier",
                severity=Severity.WARN,
                message=(
                    f"dataset '{name}' is accounted per '{unit}' but its tier names"
                    f" '{tier.privacy_unit}'"
                ),
            )
        )
    if unit is None:
        return findings
    mismatched = sorted(
        {e.privacy_unit for e in entries if e.privacy_unit and e.privacy_unit != unit}
    )
    for other in mismatched:
        lines = [str(e.seq) for e in entries if e.privacy_unit == other]
        findings.append(
            Finding(
                code="privacy_unit_mismatch",
                severity=Severity.FAIL,
                message=(
                    f"entries {', '.join(lines[:5])}{'...' if len(lines) > 5 else ''} protect a"
                    f" '{other}' but the policy requires '{unit}': their ε does not bound the"
                    f" loss per '{unit}'"
                ),
            )
        )
    return findings


def _accounting_findings(result: Accounting, method: Method) -> list[Finding]:
    findings: list[Finding] = []
    if result.method is None:
        reasons = "; ".join(r.reason or "" for r in (result.pld, result.rdp))
        findings.append(
            Finding(
                code="not_accountable",
                severity=Severity.FAIL,
                message=f"no certified accountant can bound this composition: {reasons}",
            )
        )
    elif result.method is not method:
        chosen = result.result(method)
        why = chosen.reason or f"its bound is infinite at δ = {result.delta:g}"
        findings.append(
            Finding(
                code="accountant_fallback",
                severity=Severity.INFO,
                message=(
                    f"{method.value.upper()} cannot bound this ledger ({why});"
                    f" the verdict uses the certified {result.method.value.upper()} bound"
                ),
            )
        )
    if result.relation is NeighbouringRelation.REPLACE_ONE:
        findings.append(
            Finding(
                code="replace_one_relation",
                severity=Severity.INFO,
                message=(
                    "fixed-size batches or randomized response are only analysed under the"
                    " replace-one relation; ε is stated for replace-one, with the sensitivity"
                    " doubled (noise multiplier halved) relative to add-or-remove"
                ),
            )
        )
    if math.isinf(result.epsilon) and result.method is not None:
        findings.append(
            Finding(
                code="unbounded",
                severity=Severity.FAIL,
                message=(
                    f"ε is unbounded at δ = {result.delta:g}: the ledger holds a release without a"
                    " DP guarantee, or noise too small for any finite bound"
                ),
            )
        )
    return findings


def _shuffle_findings(
    mechanisms: Iterable[Mechanism], delta: float, method: Method
) -> list[Finding]:
    shuffled = [m for m in mechanisms if isinstance(m, DpSgd) and m.sampling is Sampling.SHUFFLE]
    if not shuffled:
        return []
    poisson = account([m.as_poisson() for m in shuffled], delta, method)
    unamplified = account(shuffled, delta, method)
    return [
        Finding(
            code="shuffle_not_amplified",
            severity=Severity.INFO,
            message=(
                f"{len(shuffled)} entr{'y uses' if len(shuffled) == 1 else 'ies use'} shuffled"
                " batches, which have no certified amplification bound: accounted as one"
                f" unsampled Gaussian per epoch (ε = {up(unamplified.epsilon)}); if the batches"
                f" were truly Poisson-sampled the same entries would give ε = {up(poisson.epsilon)}"
            ),
        )
    ]


SEED_META: Final = "seed"
"""Ledger ``meta`` key privaudit's own trainers write: ``{"origin": "os.urandom"}`` when the
noise generator was seeded from the OS's cryptographic entropy, ``{"origin": "user"}`` when the
user fixed the seed. The seed's value is not written: the ledger travels with every report, and a
known seed lets anyone regenerate the noise (the run record keeps it for reproducibility).
Optional: entries without it (older ledgers, other writers) produce no finding."""


def _seed_findings(entries: Sequence[LedgerEntry]) -> list[Finding]:
    """A release whose noise seed the user fixed: whoever knows the seed knows the noise."""
    runs: list[str] = []
    for entry in entries:
        seed = entry.meta.get(SEED_META)
        if isinstance(seed, dict) and seed.get("origin") == "user":
            name = entry.run or "(no run name)"
            if name not in runs:
                runs.append(name)
    if not runs:
        return []
    shown = ", ".join(runs[:5]) + (f" and {len(runs) - 5} more" if len(runs) > 5 else "")
    return [
        Finding(
            code="user_seed",
            severity=Severity.WARN,
            message=(
                f"{'runs' if len(runs) > 1 else 'run'} {shown} drew"
                f" {'their' if len(runs) > 1 else 'its'} noise from a seed the user fixed:"
                " anyone who knows or guesses the seed can"
                " regenerate the noise and remove it, so the guarantee holds only while the seed"
                " stays secret; release models trained with OS entropy (no --seed)"
            ),
        )
    ]


def _per_run_findings(
    entries: Sequence[LedgerEntry], tier: Tier, delta: float, method: Method
) -> list[Finding]:
    assert tier.per_run_epsilon is not None
    runs: dict[str, list[Mechanism]] = defaultdict(list)
    for entry in entries:
        runs[entry.run or "(no run name)"].append(entry.mechanism)
    findings = []
    for run, members in sorted(runs.items()):
        epsilon = account(members, delta, method).epsilon
        if epsilon > tier.per_run_epsilon * (1 + tier.tolerance):
            findings.append(
                Finding(
                    code="per_run_limit_exceeded",
                    severity=Severity.FAIL,
                    message=(
                        f"run '{run}' spent ε = {up(epsilon)} (sequential bound over its entries),"
                        f" above the tier's per-run cap {tier.per_run_epsilon:g}"
                    ),
                )
            )
    return findings


_FRAMEWORK_NAMES = {"opacus": "Opacus", "tf-privacy": "TF Privacy", "jax-privacy": "JAX Privacy"}


@dataclass(frozen=True)
class _FrameworkFigure:
    """A readable ``meta.framework`` (schema: :mod:`privaudit.imports.common`)."""

    name: str
    version: str | None
    accountant: str | None
    epsilon: float | None
    delta: float | None
    how: str | None
    via: str | None


def _read_framework(value: object) -> _FrameworkFigure | str:
    """``meta.framework`` as a figure, or what is wrong with it. The ledger's ``meta`` is
    free-form JSON, so nothing about its shape is assumed; unknown keys are left alone (the
    schema only grows)."""
    if not isinstance(value, dict):
        return f"expected an object; found {describe_value(value)}"
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        return f"name: expected the framework's name; found {describe_value(name)}"
    texts: dict[str, str | None] = {}
    for key in ("version", "accountant", "how", "via"):
        text = value.get(key)
        if text is not None and not isinstance(text, str):
            return f"{key}: expected text or null; found {describe_value(text)}"
        texts[key] = text or None
    epsilon = value.get("epsilon")
    if epsilon is not None and not (_is_number(epsilon) and 0 <= epsilon < math.inf):
        return f"epsilon: expected a finite number >= 0 or null; found {describe_value(epsilon)}"
    delta = value.get("delta")
    if delta is not None and not (_is_number(delta) and 0 < delta < 1):
        return f"delta: expected a number in (0, 1) or null; found {describe_value(delta)}"
    return _FrameworkFigure(
        name=name,
        version=texts["version"],
        accountant=texts["accountant"],
        epsilon=None if epsilon is None else float(epsilon),
        delta=None if delta is None else float(delta),
        how=texts["how"],
        via=texts["via"],
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _framework_comparisons(
    entries: Sequence[LedgerEntry], target_delta: float, method: Method
) -> tuple[list[FrameworkComparison], list[Finding]]:
    """One comparison per run whose entries carry a readable ``meta.framework`` (in ledger
    order), and the findings: an unreadable figure (info) and a framework ε below privaudit's
    certified bound (warn). Neither changes an ε; the verdict uses privaudit's bound."""
    runs: dict[str | None, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        runs[entry.run].append(entry)
    comparisons: list[FrameworkComparison] = []
    findings: list[Finding] = []
    for run, members in runs.items():
        figures: list[tuple[LedgerEntry, _FrameworkFigure]] = []
        unreadable: list[tuple[int, str]] = []
        for entry in members:
            if "framework" not in entry.meta:
                continue
            figure = _read_framework(entry.meta["framework"])
            if isinstance(figure, str):
                unreadable.append((entry.seq, figure))
            else:
                figures.append((entry, figure))
        if unreadable:
            findings.append(_unreadable_finding(run, unreadable))
        if not figures:
            continue
        stated = [pair for pair in figures if pair[1].epsilon is not None]
        last, figure = max(stated or figures, key=lambda pair: pair[0].seq)
        released = [e.mechanism for e in members if e.seq <= last.seq]
        delta = figure.delta if figure.delta is not None else target_delta
        accounting = account(released, delta, method)
        comparison = FrameworkComparison(
            run=run,
            framework=figure.name,
            version=figure.version,
            accountant=figure.accountant,
            via=figure.via,
            how=figure.how,
            delta=delta,
            framework_epsilon=figure.epsilon,
            epsilon_pld=accounting.pld.epsilon,
            epsilon_rdp=accounting.rdp.epsilon,
            epsilon_certified=accounting.epsilon,
            method=accounting.method,
            seq=last.seq,
            entries=len(released),
        )
        comparisons.append(comparison)
        if comparison.below_certified:
            findings.append(_below_certified_finding(comparison, figure.delta is None))
    return comparisons, findings


def _run_name(run: str | None) -> str:
    return "(no run name)" if run is None else f"'{run}'"


def _unreadable_finding(run: str | None, unreadable: Sequence[tuple[int, str]]) -> Finding:
    seqs = [str(seq) for seq, _ in unreadable]
    which = ", ".join(seqs[:5]) + ("..." if len(seqs) > 5 else "")
    return Finding(
        code="framework_figure_unreadable",
        severity=Severity.INFO,
        message=(
            f"run {_run_name(run)}: meta.framework of entr{'y' if len(seqs) == 1 else 'ies'}"
            f" {which} cannot be read ({unreadable[0][1]}); left out of the framework comparison"
            " (privaudit's own accounting of the entries is unaffected)"
        ),
    )


def _below_certified_finding(comparison: FrameworkComparison, delta_assumed: bool) -> Finding:
    assert comparison.framework_epsilon is not None
    method = comparison.method.value.upper() if comparison.method else "none"
    at = f"δ = {up(comparison.delta)}" + (
        " (the dataset's δ: the framework states none)" if delta_assumed else ""
    )
    return Finding(
        code="framework_epsilon_below_certified",
        severity=Severity.WARN,
        message=(
            f"run {_run_name(comparison.run)}: {comparison.label} reports"
            f" ε = {up(comparison.framework_epsilon)} at {at}, below privaudit's certified"
            f" bound ε = {up(comparison.epsilon_certified)} ({method}) for the same"
            f" {comparison.entries} entr{'y' if comparison.entries == 1 else 'ies'};"
            " the verdict uses privaudit's certified bound"
        ),
    )


def _status(epsilon: float, tier: Tier | None, findings: Sequence[Finding]) -> Status:
    if any(f.severity is Severity.FAIL for f in findings):
        return Status.FAIL
    if tier is not None:
        if epsilon > tier.epsilon * (1 + tier.tolerance):
            return Status.FAIL
        if epsilon >= tier.warn_at * tier.epsilon:
            return Status.WARN
    if any(f.severity is Severity.WARN for f in findings):
        return Status.WARN
    return Status.PASS


def _worst(statuses: Iterable[Status]) -> Status:
    order = [Status.PASS, Status.WARN, Status.FAIL]
    return max(statuses, key=order.index, default=Status.PASS)


def _sort_key(epsilon: float) -> float:
    return math.inf if math.isnan(epsilon) else epsilon


def _source(path: str | Path | None) -> Source | None:
    if path is None:
        return None
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        digest = ""
    return Source(path=str(path), sha256=digest)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
