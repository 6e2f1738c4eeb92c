"""Ledger + policy + run records → :class:`Report`: every number the HTML and PDF show.

The report model is the single source of both documents: the template reads nothing else, so
the HTML and the PDF cannot disagree, and the model itself is attached to the PDF as JSON so a
reviewer can check any figure against the ledger and policy attached beside it.

Every ε here is a certified upper bound from the same engine as the gate (``assess``); every
chart's data is kept in the model. Curves are sampled at a bounded number of points, so a
10,000-entry ledger costs about as much as a 100-entry one.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final

import numpy as np
from pydantic import BaseModel, ConfigDict

from privaudit.accounting.accountant import (
    DEFAULT_RDP_ORDERS,
    Method,
    PldAccountant,
    RdpAccountant,
    account,
    flatten_counts,
    rdp_of,
)
from privaudit.accounting.dp_events import NeighbouringRelation, flatten
from privaudit.accounting.profile import (
    default_epsilon_grid,
    privacy_profile,
    tradeoff_upper_bound,
)
from privaudit.accounting.rdp import epsilon_from_rdp
from privaudit.assess import Assessment, DatasetAssessment, assess, partition_compositions
from privaudit.errors import UnsupportedMechanismError
from privaudit.ledger import Ledger, LedgerEntry, read_ledger
from privaudit.mechanisms import (
    DistributedGaussian,
    DpFedAvg,
    DpSgd,
    Mechanism,
    mechanism_to_json,
)
from privaudit.policy import Policy, load_policy
from privaudit.records.audit import AuditRecord
from privaudit.records.run import RunRecord
from privaudit.report.duties import DUTIES, Declared, Duty, declared_fields
from privaudit.report.evidence import (
    SkippedRecord,
    match_records,
    read_bytes,
    read_runs,
    review_id_of,
)
from privaudit.report.limits import GroupPrivacy, group_privacy

__all__ = [
    "FALSE_POSITIVE_RATES",
    "Curve",
    "DatasetSection",
    "LedgerRow",
    "Report",
    "RunSummary",
    "SkippedRecord",
    "build_report",
    "tier_rating",
]

FALSE_POSITIVE_RATES: Final = (0.001, 0.01, 0.05, 0.1)
"""False-positive rates at which the plain-words section states the attacker's best power."""
_BUDGET_POINTS: Final = 40
"""At most this many cumulative-ε checkpoints per dataset (one per run end, thinned)."""
_RUN_PROFILES: Final = 6
"""Runs whose own privacy profile is drawn: the ones with the largest ε."""
_LEDGER_ROWS: Final = 1000
"""The appendix shows at most this many grouped rows; the whole ledger is attached."""
_TRADEOFF_ALPHAS: Final = tuple(float(a) for a in np.concatenate([[0.0], np.logspace(-4, 0, 81)]))


class Curve(BaseModel):
    """One line of a chart: its label and points, kept so a reader can re-plot or check it."""

    model_config = ConfigDict(frozen=True)

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]


class RunSummary(BaseModel):
    """The ledger entries of one run on one dataset."""

    model_config = ConfigDict(frozen=True)

    run: str
    dataset: str
    entries: int
    first_seq: int
    last_seq: int
    first_time: str
    last_time: str
    partitions: tuple[str, ...]
    releases: tuple[str, ...]
    """Each distinct release described once, with how often it was recorded."""
    epsilon: float
    """This run alone, certified, at the dataset's δ (max over its partitions)."""
    record: str | None = None
    """Path of the matching run record, when one was given."""


class DatasetSection(BaseModel):
    model_config = ConfigDict(frozen=True)

    assessment: DatasetAssessment
    description: str | None
    tier_description: str | None
    rating: str
    """strong / reasonable / weak guarantee (Ponomareva et al. 2023, Sec. 5.2)."""
    per_run_epsilon: float | None
    runs: tuple[RunSummary, ...]
    trust_models: tuple[str, ...]
    """Keys of :data:`privaudit.report.render.TRUST_MODELS` present in the ledger."""
    sampling: tuple[str, ...]
    profile: Curve | None
    """Cumulative δ(ε): the dataset's whole privacy profile (max over partitions)."""
    run_profiles: tuple[Curve, ...]
    budget: Curve | None
    """Cumulative ε after ledger entries (x = entry number of the dataset)."""
    tradeoff: Curve | None
    """Highest true-positive rate of any membership test, against its false-positive rate."""
    tpr_at: tuple[tuple[float, float], ...]
    """(false-positive rate, highest true-positive rate) at :data:`FALSE_POSITIVE_RATES`."""
    tpr_at_limit: tuple[tuple[float, float], ...] = ()
    """The same at the tier's cap (ε limit, δ limit): what the policy would allow."""
    steps: int = 0
    """Base releases composed over the whole ledger (DP-SGD steps, rounds, queries)."""
    mechanism_types: tuple[str, ...] = ()
    """The kinds of release recorded (ledger ``type``: dpsgd, dp_fedavg, gaussian, ...)."""


class LedgerRow(BaseModel):
    """Ledger entries of one run recording the same release on one dataset, as one row;
    ``partition`` lists the partitions they went to."""

    model_config = ConfigDict(frozen=True)

    first_seq: int
    last_seq: int
    count: int
    first_time: str
    last_time: str
    dataset: str
    partition: str | None
    privacy_unit: str | None
    run: str | None
    mechanism: str
    meta: str
    last_hash: str


class Report(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    generated_at: str
    review_id: str
    organisation: str | None
    system: str | None
    approvers: tuple[str, ...]
    privaudit_version: str
    code_commit: str
    ledger_path: str
    ledger_sha256: str
    ledger_head: str
    ledger_entries: int
    ledger_first_time: str | None
    ledger_last_time: str | None
    policy_path: str
    policy_sha256: str
    assessment: Assessment
    datasets: tuple[DatasetSection, ...]
    runs: tuple[RunRecord, ...]
    run_paths: tuple[str, ...]
    audits: tuple[AuditRecord, ...] = ()
    """Empirical audit records supplied with ``--runs`` that belong to the ledger (section 11)."""
    skipped: tuple[SkippedRecord, ...] = ()
    """Records supplied with ``--runs`` but not attached: they do not match the ledger."""
    ledger_rows: tuple[LedgerRow, ...]
    ledger_groups: int = 0
    """Rows the appendix would need for the whole ledger (more than shown when truncated)."""
    commands: tuple[str, ...]
    declared: tuple[Declared, ...] = ()
    """The policy's assessment fields (purpose, controller, ...), each as written or absent."""
    duties: tuple[Duty, ...] = ()
    """The assessment duties (DPIA, AI Act, NIST SP 800-226) and what answers each."""
    groups: tuple[GroupPrivacy, ...] = ()
    """Group privacy per dataset: the guarantee for k units at once (limitations section)."""

    def relocated(self, before: Path, after: Path) -> Report:
        """The same report naming its input files under ``after`` instead of ``before`` (a
        report built in a scratch folder that is then moved into place)."""

        def moved(text: str) -> str:
            return text.replace(str(before), str(after))

        sources = {
            name: None if source is None else source.model_copy(update={"path": moved(source.path)})
            for name, source in (
                ("ledger", self.assessment.ledger),
                ("policy", self.assessment.policy),
            )
        }
        return self.model_copy(
            update={
                "assessment": self.assessment.model_copy(update=sources),
                "ledger_path": moved(self.ledger_path),
                "policy_path": moved(self.policy_path),
                "run_paths": tuple(moved(p) for p in self.run_paths),
                "skipped": tuple(
                    s.model_copy(update={"path": moved(s.path)}) for s in self.skipped
                ),
                "commands": tuple(moved(c) for c in self.commands),
            }
        )

    def runs_not_in_ledger(self) -> list[RunRecord | SkippedRecord]:
        """Private runs supplied but absent from the ledger (attached comparison runs and
        skipped private records): their privacy cost is not counted."""
        in_ledger = {run.run for section in self.datasets for run in section.runs}
        attached: list[RunRecord | SkippedRecord] = [
            r for r in self.runs if r.privacy is not None and r.name not in in_ledger
        ]
        return attached + [s for s in self.skipped if s.kind == "run" and s.private]


def tier_rating(epsilon: float) -> str:
    """Ponomareva et al. 2023 ("How to DP-fy ML"), Sec. 5.2: ε ≤ 1 strong, ε ≤ 10 reasonable,
    larger ε weak formal guarantees."""
    if epsilon <= 1:
        return "strong"
    if epsilon <= 10:
        return "reasonable"
    return "weak"


def build_report(
    ledger_path: Path,
    policy_path: Path,
    *,
    runs: Sequence[Path] = (),
    review_id: str | None = None,
    generated_at: str | None = None,
    title: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Assess ``ledger_path`` under ``policy_path`` and gather everything a report shows.

    ``runs`` are run-record files or folders of them (``runs/*.json``). Raises
    :class:`InputError` for unreadable inputs and :class:`LedgerIntegrityError` for a ledger
    whose hash chain does not verify (no report is made of a tampered ledger).
    """
    say = progress or (lambda _line: None)
    ledger = read_ledger(ledger_path)
    policy = load_policy(policy_path)
    policy_bytes = read_bytes(policy_path)
    supplied = read_runs(runs)
    records, record_paths, audits, skipped = match_records(ledger, supplied)
    for item in skipped:
        say(f"skipped {item.kind} record {item.path}: {item.reason}")
    say(f"assessing {len(ledger.entries)} ledger entries")
    assessment = assess(ledger, policy, policy_path=policy_path)
    by_dataset: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in ledger.entries:
        by_dataset[entry.dataset].append(entry)
    sections = []
    for dataset in assessment.datasets:
        say(f"privacy profile and budget curve of dataset {dataset.dataset}")
        sections.append(
            _section(dataset, by_dataset.get(dataset.dataset, []), policy, records, record_paths)
        )
    stamp = generated_at or datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    policy_sha = hashlib.sha256(policy_bytes).hexdigest()
    review = review_id or review_id_of(ledger.sha256, policy_sha, supplied, title)
    times = [e.time for e in ledger.entries]
    return Report(
        title=title or f"Differential privacy report: {policy.system or ledger_path.stem}",
        generated_at=stamp,
        review_id=review,
        organisation=policy.organisation,
        system=policy.system,
        approvers=policy.approvers,
        privaudit_version=_version("privaudit"),
        code_commit=_code_commit(),
        ledger_path=str(ledger_path),
        ledger_sha256=ledger.sha256,
        ledger_head=ledger.head,
        ledger_entries=len(ledger.entries),
        ledger_first_time=min(times) if times else None,
        ledger_last_time=max(times) if times else None,
        policy_path=str(policy_path),
        policy_sha256=policy_sha,
        assessment=assessment,
        datasets=tuple(sections),
        runs=tuple(records),
        run_paths=tuple(str(p) for p in record_paths),
        audits=tuple(audits),
        skipped=tuple(skipped),
        ledger_rows=tuple(_ledger_rows(ledger)),
        ledger_groups=_group_count(ledger),
        commands=_commands(ledger_path, policy_path, runs),
        declared=declared_fields(policy),
        duties=DUTIES,
        groups=tuple(
            group
            for group in (group_privacy(dataset) for dataset in assessment.datasets)
            if group is not None
        ),
    )


# --- sections ----------------------------------------------------------------------------------


def _section(
    dataset: DatasetAssessment,
    entries: Sequence[LedgerEntry],
    policy: Policy,
    records: Sequence[RunRecord],
    record_paths: Sequence[Path],
) -> DatasetSection:
    spec = policy.datasets.get(dataset.dataset)
    tier = policy.tiers.get(dataset.tier) if dataset.tier else None
    method = dataset.method or Method.PLD
    partitions = _partitions(entries)
    record_of = {r.name: str(p) for r, p in zip(records, record_paths, strict=True)}
    run_summaries = tuple(
        _run_summary(name, dataset, members, record_of.get(name))
        for name, members in _by_run(entries).items()
    )
    profile = budget = tradeoff = None
    run_profiles: list[Curve] = []
    tpr_at: tuple[tuple[float, float], ...] = ()
    if entries and math.isfinite(dataset.epsilon):
        # One fine ε grid serves the chart and the trade-off: every (ε, δ(ε)) pair is a valid
        # constraint, so more points only tighten the attacker bound.
        grid = default_epsilon_grid(dataset.epsilon, points=120)
        deltas = _profile(partitions, grid, dataset.relation, method)
        profile = Curve(label="all releases (cumulative)", x=grid, y=tuple(deltas))
        heaviest = sorted(run_summaries, key=lambda r: -r.epsilon)[:_RUN_PROFILES]
        runs_by_name = _by_run(entries)
        for summary in heaviest:
            members = runs_by_name[summary.run]
            run_deltas = _profile(_partitions(members), grid, dataset.relation, method)
            run_profiles.append(Curve(label=f"run {summary.run}", x=grid, y=tuple(run_deltas)))
        tpr = tradeoff_upper_bound(grid, deltas, _TRADEOFF_ALPHAS)
        tradeoff = Curve(
            label="highest true-positive rate", x=_TRADEOFF_ALPHAS, y=tuple(float(t) for t in tpr)
        )
        at = tradeoff_upper_bound(grid, deltas, FALSE_POSITIVE_RATES)
        tpr_at = tuple((a, float(t)) for a, t in zip(FALSE_POSITIVE_RATES, at, strict=True))
        budget = _budget_curve(entries, dataset.delta, dataset.relation)
    tpr_at_limit: tuple[tuple[float, float], ...] = ()
    if dataset.limit_epsilon is not None and dataset.limit_delta is not None:
        at_limit = tradeoff_upper_bound(
            [dataset.limit_epsilon], [dataset.limit_delta], FALSE_POSITIVE_RATES
        )
        tpr_at_limit = tuple(
            (a, float(t)) for a, t in zip(FALSE_POSITIVE_RATES, at_limit, strict=True)
        )
    return DatasetSection(
        assessment=dataset,
        description=spec.description if spec else None,
        tier_description=tier.description if tier else None,
        rating=tier_rating(dataset.epsilon),
        per_run_epsilon=tier.per_run_epsilon if tier else None,
        runs=run_summaries,
        trust_models=_trust_models(entries),
        sampling=tuple(sorted({_sampling(e.mechanism) for e in entries} - {""})),
        profile=profile,
        run_profiles=tuple(run_profiles),
        budget=budget,
        tradeoff=tradeoff,
        tpr_at=tpr_at,
        tpr_at_limit=tpr_at_limit,
        steps=sum(count for _, count in _key(e.mechanism for e in entries)),
        mechanism_types=tuple(
            sorted({str(mechanism_to_json(m)["type"]) for m in {e.mechanism for e in entries}})
        ),
    )


def _partitions(entries: Sequence[LedgerEntry]) -> list[list[Mechanism]]:
    """The compositions a dataset's ε is the maximum of, formed as ``assess`` forms them."""
    return [
        members
        for _, members in partition_compositions((e.partition, e.mechanism) for e in entries)
    ]


def _profile(
    partitions: Sequence[Sequence[Mechanism]],
    grid: Sequence[float],
    relation: NeighbouringRelation,
    method: Method,
) -> list[float]:
    """Pointwise maximum of δ(ε) over disjoint partitions (parallel composition); partitions
    that hold the same releases (silos on one schedule) are composed once."""
    worst = np.zeros(len(grid))
    for key in _undominated({_key(members) for members in partitions}):
        worst = np.maximum(worst, _profile_of(key, tuple(grid), relation, method))
    return [float(d) for d in worst]


def _undominated(keys: Iterable[Composition]) -> list[Composition]:
    """Drop compositions contained (as multisets) in another: composing more releases never
    lowers δ(ε) or ε (the extra outputs could be ignored: post-processing), so the maximum
    over partitions is the maximum over the rest. Silos that ran the same schedule for
    different numbers of steps then need one composition, not one each."""
    counted = [(key, Counter(dict(key))) for key in set(keys)]
    kept = []
    for key, counts in counted:
        dominated = any(
            other_key != key and all(other[m] >= c for m, c in counts.items())
            for other_key, other in counted
        )
        if not dominated:
            kept.append(key)
    return kept


Composition = tuple[tuple[Mechanism, int], ...]


def _key(members: Iterable[Mechanism]) -> Composition:
    """The composition as base releases with counts (DP-SGD and friends expanded, as the
    accountant does), in a canonical order: equal compositions share one cache entry."""
    # Count first, then expand each distinct release once (a ledger repeats few kinds).
    expanded = flatten_counts(Counter(members))
    return tuple(sorted(expanded.items(), key=lambda item: item[0].describe()))


@lru_cache(maxsize=256)
def _profile_of(
    key: Composition, grid: tuple[float, ...], relation: NeighbouringRelation, method: Method
) -> np.ndarray[Any, np.dtype[np.float64]]:
    return privacy_profile(dict(key), grid, relation=relation, method=method)


@lru_cache(maxsize=4096)
def _epsilon(
    key: Composition, delta: float, method: Method, relation: NeighbouringRelation
) -> float:
    """ε of one composition with one certified backend (the per-run and budget figures need one
    method, not both as :func:`account` computes them for the verdict)."""
    accountant = PldAccountant(relation) if method is Method.PLD else RdpAccountant(relation)
    try:
        for mechanism, count in key:
            accountant.compose(mechanism, count)
        return accountant.get_epsilon(delta)
    except (UnsupportedMechanismError, ArithmeticError):
        # As for the verdict: when this backend has no certified figure, the other one decides.
        return account(dict(key), delta, method).epsilon


def _budget_curve(
    entries: Sequence[LedgerEntry], delta: float, relation: NeighbouringRelation
) -> Curve:
    """Cumulative ε after checkpoints of the dataset's entries (after each run's last entry,
    thinned to at most :data:`_BUDGET_POINTS`), each the maximum over partitions.

    RDP, the other certified bound, draws the curve: composing is a sum of cached vectors, so a
    10,000-entry ledger costs milliseconds, where a PLD per checkpoint and partition would cost
    minutes. RDP is never below the true ε; the report marks the verdict's own figure beside it.
    """
    ends = sorted(
        {
            i
            for i, (a, b) in enumerate(zip(entries, [*entries[1:], None], strict=True))
            if b is None or b.run != a.run
        }
    )
    if len(ends) < 8:
        ends = sorted(set(ends) | {round(k) for k in np.linspace(0, len(entries) - 1, 12)})
    if len(ends) > _BUDGET_POINTS:
        keep = {ends[round(k)] for k in np.linspace(0, len(ends) - 1, _BUDGET_POINTS)}
        ends = sorted(keep | {len(entries) - 1})
    # One pass over the entries with running RDP vectors (composition adds RDP: Mironov 2017,
    # Prop. 1), one per partition plus one for the releases that touch every partition.
    checkpoints = set(ends)
    shared = np.zeros(len(DEFAULT_RDP_ORDERS))
    named: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
    xs, ys = [], []
    for index, entry in enumerate(entries):
        vector = _entry_rdp(entry.mechanism, relation)
        if entry.partition is None:
            shared = shared + vector
        else:
            named[entry.partition] = named.get(entry.partition, 0.0) + vector
        if index in checkpoints:
            totals = [shared + v for v in named.values()] or [shared]
            worst = max(
                float(epsilon_from_rdp(total, DEFAULT_RDP_ORDERS, delta)[0]) for total in totals
            )
            xs.append(float(index + 1))
            ys.append(worst)
    return Curve(label="cumulative ε (RDP, certified)", x=tuple(xs), y=tuple(ys))


@lru_cache(maxsize=1024)
def _entry_rdp(
    mechanism: Mechanism, relation: NeighbouringRelation
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """RDP vector of one ledger entry at the default orders (cached per distinct release)."""
    total = np.zeros(len(DEFAULT_RDP_ORDERS))
    for base, count in flatten([mechanism]).items():
        total = total + np.asarray(rdp_of(base, count, relation, DEFAULT_RDP_ORDERS))
    return total


def _by_run(entries: Sequence[LedgerEntry]) -> dict[str, list[LedgerEntry]]:
    runs: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        runs[entry.run or "(no run named)"].append(entry)
    return dict(runs)


def _run_summary(
    name: str, dataset: DatasetAssessment, members: Sequence[LedgerEntry], record: str | None
) -> RunSummary:
    counts = Counter(e.mechanism.describe() for e in members)
    values = [
        _epsilon(key, dataset.delta, dataset.method or Method.PLD, dataset.relation)
        for key in _undominated(_key(part) for part in _partitions(members))
    ]
    return RunSummary(
        run=name,
        dataset=dataset.dataset,
        entries=len(members),
        first_seq=members[0].seq,
        last_seq=members[-1].seq,
        first_time=members[0].time,
        last_time=members[-1].time,
        partitions=tuple(sorted({e.partition for e in members if e.partition is not None})),
        releases=tuple(
            text if count == 1 else f"{count} × {text}" for text, count in counts.items()
        ),
        epsilon=max(values) if values else 0.0,
        record=record,
    )


def _trust_models(entries: Sequence[LedgerEntry]) -> tuple[str, ...]:
    found: list[str] = []

    def add(key: str) -> None:
        if key not in found:
            found.append(key)

    for entry in entries:
        mechanism = entry.mechanism
        if isinstance(mechanism, DistributedGaussian):
            add("distributed")
        elif isinstance(mechanism, DpFedAvg):
            add("federated_client")
        elif entry.partition is not None:
            add("silo_local")
        else:
            add("central")
    return tuple(found)


def _sampling(mechanism: Mechanism) -> str:
    if isinstance(mechanism, DpSgd):
        return mechanism.sampling.value
    if isinstance(mechanism, DpFedAvg):
        return "poisson"
    data = json.dumps(mechanism_to_json(mechanism))
    if '"poisson_sampled"' in data:
        return "poisson"
    if '"sampled_without_replacement"' in data:
        return "fixed_batch"
    return ""


# --- ledger appendix ---------------------------------------------------------------------------


def _ledger_rows(ledger: Ledger) -> list[LedgerRow]:
    """Entries of one run that record the same release on one dataset fold into one row (in
    order of first appearance), whatever partition each went to; the row lists the partitions.
    A 10,000-step ledger stays a readable appendix; at most :data:`_LEDGER_ROWS` rows are kept,
    and the whole file is attached to the report."""
    groups: dict[tuple[Any, ...], list[LedgerEntry]] = {}
    for entry in ledger.entries:
        groups.setdefault(_row_key(entry), []).append(entry)
    rows = []
    for members in list(groups.values())[:_LEDGER_ROWS]:
        first, last = members[0], members[-1]
        meta = (
            ", ".join(f"{k}={v}" for k, v in sorted(first.meta.items()))
            if len(members) == 1 and first.meta
            else ""
        )
        parts = sorted({e.partition for e in members if e.partition is not None})
        shown = ", ".join(parts[:4]) + (f" and {len(parts) - 4} more" if len(parts) > 4 else "")
        rows.append(
            LedgerRow(
                first_seq=first.seq,
                last_seq=last.seq,
                count=len(members),
                first_time=first.time,
                last_time=last.time,
                dataset=first.dataset,
                partition=shown or None,
                privacy_unit=first.privacy_unit,
                run=first.run,
                mechanism=first.mechanism.describe(),
                meta=meta,
                last_hash=last.hash,
            )
        )
    return rows


def _row_key(entry: LedgerEntry) -> tuple[Any, ...]:
    return (entry.dataset, entry.privacy_unit, entry.run, entry.mechanism)


def _group_count(ledger: Ledger) -> int:
    return len({_row_key(e) for e in ledger.entries})


# --- inputs and provenance ---------------------------------------------------------------------


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def _code_commit() -> str:
    """The git commit of the privaudit source in use, marked if it has uncommitted changes."""
    source = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout (installed package)"
    return head + (" (with uncommitted changes)" if dirty else "")


def _commands(ledger: Path, policy: Path, runs: Sequence[Path]) -> tuple[str, ...]:
    run_options = "".join(f" --runs {p}" for p in runs)
    return (
        f"sha256sum {ledger} {policy}",
        f"privaudit ledger verify {ledger}",
        f"privaudit check {ledger} --policy {policy} --format json",
        f"privaudit account {ledger} --policy {policy} --format json",
        f"privaudit report {ledger} --policy {policy}{run_options} --out DIR",
        "pdfdetach -saveall report.pdf   # the ledger, policy and assessment inside the PDF",
    )
