"""Time privaudit's accounting engine against the anchor libraries, side by side, in one run.

Five workloads (the accounting issue's benchmark) and a tightness check at small δ, each printed
as a table — method, settings, ε (or σ), wall time, anchor time ÷ privaudit time — followed by one
PASS/MISS line per target:

(a) one ε: q = 256/60000, σ = 1.1, 14,062 steps, δ = 1e-5;
(b) the ε curve of (a) at 1,000 checkpoints;
(c) an RDP grid of 20 σ × 10 batch sizes × 10 epoch counts (2,000 configurations);
(d) calibration of σ for ε = 1 at (a)'s q and steps;
(e) a 10,000-round FL schedule whose sampling rate takes 100 distinct values;
(f) tightness at small δ: ε at δ = 1e-5 and 1e-10 on three DP-SGD cases against dp_accounting's
    pessimistic PLD on the fine grid, the gaps in % (issue 18 item 9).

Anchors: dp_accounting PLD and RDP (a core dependency of privaudit, so its reference values are
always computed), prv-accountant and Opacus (the optional ``anchors`` extra:
``pip install -e ".[anchors]"``). Anchors too slow to run in full (dp_accounting per checkpoint or
per grid point, prv-accountant on the FL schedule) are timed on a sample and extrapolated; such
rows say so. ``--full-anchors`` runs them in full instead (several extra minutes).

"Exact" ε for (a) is the h → 0 limit of dp_accounting's pessimistic connect-the-dots PLD: its
excess over the exact value is quadratic in the discretisation h, so two fine grids (2e-5, 1e-4)
extrapolate it (the fit is checked against the coarser grids and against prv-accountant's
estimate). dp_accounting's optimistic counterpart at h = 2e-5 is printed too, but it falls back
to the Privacy Buckets algorithm, whose rounding bias grows with the number of compositions, so
it is a valid but loose lower bound here (several % below), not a usable bracket.

Timing: ``time.perf_counter``; privaudit's caches are cleared before every timed repeat. (a) is
also timed cold, as the first call in a fresh interpreter after imports (one process per
repeat). Rows report the median and the best of ``--repeats``; ratios use medians.

Usage: ``python benchmarks/accounting.py [--repeats 3] [--skip-anchors] [--only a,b,c,d,e,f]
[--full-anchors]``. Progress goes to stderr, the tables to stdout. Not a test: the exit code is
0 whatever the PASS/MISS lines say.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import logging
import math
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from privaudit.accounting import accountant as pa_accountant
from privaudit.accounting import pld as pa_pld
from privaudit.accounting import rdp as pa_rdp
from privaudit.accounting.accountant import PldAccountant, account
from privaudit.accounting.calibrate import calibrate_noise, dpsgd_mechanism
from privaudit.mechanisms import Gaussian, PoissonSampled, SelfComposed

# --- workloads -----------------------------------------------------------------------------------

N = 60_000
Q = 256 / N
SIGMA = 1.1
STEPS = 14_062
DELTA = 1e-5
TIGHTNESS = 1e-3  # (a): at most 0.1% above exact
H_CANDIDATES = (1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4, 8e-4, 1e-3)  # tried for privaudit and dp_acc.
FINE_H = 2e-5  # dp_accounting reference grid
CHECKPOINTS = 1_000
CURVE_SAMPLE = 20
GRID_SAMPLE = 100
TARGET_EPSILON = 1.0
FL_RATES = 100
FL_ROUNDS_PER_RATE = 100
FL_SIGMA = 1.0
PRV_SAMPLE_EVENTS = 10
SMALL_DELTA_CASES = ((0.5, 0.8, 10), (0.01, 1.0, 1_000), (Q, SIGMA, STEPS))  # (q, σ, steps)
SMALL_DELTAS = (1e-5, 1e-10)

# --- output helpers -----------------------------------------------------------------------------

_START = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _START:6.1f} s] {message}", file=sys.stderr, flush=True)


def fmt_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_pct(value: float) -> str:
    return f"{value * 100:+.4f}%"


@dataclass(frozen=True)
class Timing:
    best: float
    median: float
    n: int
    extrapolated: str | None = None
    """How an extrapolated figure was obtained (None: measured in full)."""

    def describe(self) -> str:
        if self.extrapolated:
            return f"{fmt_seconds(self.median)} [extrapolated]"
        if self.n == 1:
            return f"{fmt_seconds(self.median)} (n=1)"
        return f"{fmt_seconds(self.median)} (best {fmt_seconds(self.best)}, n={self.n})"


@dataclass
class Row:
    method: str
    settings: str
    value: str
    timing: Timing | None
    baseline: Timing | None = None
    """The privaudit timing this row's ratio is taken against (None: no ratio)."""
    note: str = ""


@dataclass
class Section:
    title: str
    preamble: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    checks: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, label: str, ok: bool | None, detail: str) -> None:
        status = "n/a " if ok is None else "PASS" if ok else "MISS"
        self.checks.append((status, label, detail))

    def skipped(self, method: str, reason: str) -> None:
        self.rows.append(Row(method, f"skipped: {reason}", "—", None))

    def print(self) -> None:
        width = 118
        print()
        print("=" * width)
        print(self.title)
        print("=" * width)
        for line in self.preamble:
            print(line)
        if self.preamble:
            print()
        header = f"{'method':<41} {'settings':<32} {'value':>11}  {'wall time':<30} {'÷ ours':>7}"
        print(header)
        print("-" * width)
        for row in self.rows:
            time_text = row.timing.describe() if row.timing else "—"
            ratio = ""
            if row.timing and row.baseline and row.baseline.median > 0:
                ratio = f"{row.timing.median / row.baseline.median:.1f}×"
            settings = row.settings
            print(f"{row.method:<41} {settings:<32} {row.value:>11}  {time_text:<30} {ratio:>7}")
            if row.note:
                print(f"{'':<4}↳ {row.note}")
        print("-" * width)
        for status, label, detail in self.checks:
            print(f"{status}  {label}: {detail}")
        for line in self.notes:
            print(f"note: {line}")
        sys.stdout.flush()


def measure(
    function: Callable[[], Any], repeats: int, setup: Callable[[], None] | None = None
) -> tuple[Any, Timing]:
    """Run ``function`` ``repeats`` times (``setup`` untimed before each); last result, timing."""
    times: list[float] = []
    result: Any = None
    for _ in range(max(1, repeats)):
        if setup is not None:
            setup()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return result, Timing(min(times), statistics.median(times), len(times))


def extrapolated(
    per_item: Sequence[float], total_items: int, how: str, fixed: float = 0.0
) -> Timing:
    estimate = fixed + statistics.fmean(per_item) * total_items
    return Timing(estimate, estimate, len(per_item), how)


def clear_privaudit_caches() -> None:
    for owner, name in (
        (pa_pld, "mechanism_pld"),
        (pa_pld, "_cached_spectrum"),
        (pa_accountant, "_account_cached"),
        (pa_accountant, "rdp_of"),
    ):
        cached = getattr(owner, name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()


def clear_all_caches() -> None:
    """:func:`clear_privaudit_caches` and the composition cache too (a cold question)."""
    clear_privaudit_caches()
    pa_pld._compose.cache_clear()


class _CountConvergenceWarnings(logging.Filter):
    """Swallows (and counts) dp_accounting's '_compute_log_a_frac failed to converge' lines."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "failed to converge" in record.getMessage():
            self.count += 1
            return False
        return True


@contextlib.contextmanager
def quiet_absl() -> Iterator[_CountConvergenceWarnings]:
    counter = _CountConvergenceWarnings()
    logger = logging.getLogger("absl")
    logger.addFilter(counter)
    try:
        yield counter
    finally:
        logger.removeFilter(counter)


@contextlib.contextmanager
def counted_warnings() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


# --- anchors --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    repeats: int
    skip_anchors: bool
    full_anchors: bool


def anchor(module: str, options: Options) -> tuple[Any, str | None]:
    """Import an anchor lazily: (module, None), or (None, why it is skipped)."""
    if options.skip_anchors:
        return None, "--skip-anchors"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(module), None
    except ImportError as error:
        return None, f"not installed ({error.name}); pip install -e '.[anchors]'"


def dpa_pld(h: float, sigma: float = SIGMA, q: float = Q, pessimistic: bool = True) -> Any:
    """dp_accounting's single-step PLD (connect-the-dots when pessimistic; the optimistic
    estimate is only available with Privacy Buckets)."""
    from dp_accounting.pld import privacy_loss_distribution

    return privacy_loss_distribution.from_gaussian_mechanism(
        sigma,
        sensitivity=1,
        sampling_prob=q,
        value_discretization_interval=h,
        pessimistic_estimate=pessimistic,
        use_connect_dots=pessimistic,
    )


def dpa_epsilon(h: float, steps: int = STEPS, sigma: float = SIGMA, q: float = Q) -> float:
    return float(dpa_pld(h, sigma, q).self_compose(steps).get_epsilon_for_delta(DELTA))


def ours_epsilon(h: float, sigma: float = SIGMA, q: float = Q, steps: int = STEPS) -> float:
    step = dpsgd_mechanism(sigma, q, 1)
    return PldAccountant(discretisation=h).compose(step, steps).get_epsilon(DELTA)


def dpa_rdp_orders() -> np.ndarray[Any, Any]:
    from dp_accounting.rdp import rdp_privacy_accountant

    return np.array(rdp_privacy_accountant.DEFAULT_RDP_ORDERS, dtype=float)


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("privaudit", "dp-accounting", "prv-accountant", "opacus", "torch", "numpy"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


# --- (a)'s reference and the discretisation at 0.1% tightness -------------------------------------


@dataclass(frozen=True)
class Tightness:
    pessimistic_fine: float
    optimistic_fine: float
    exact: float
    fit_c: float
    ours: dict[float, float]
    dpa: dict[float, float]
    h_ours: float
    h_dpa: float


@functools.cache
def tightness() -> Tightness:
    progress(f"reference: dp_accounting PLD at h = {FINE_H:g}, pessimistic and optimistic")
    pessimistic_fine = dpa_epsilon(FINE_H)
    optimistic_fine = float(
        dpa_pld(FINE_H, pessimistic=False).self_compose(STEPS).get_epsilon_for_delta(DELTA)
    )
    progress("reference: privaudit and dp_accounting over the candidate discretisations")
    ours: dict[float, float] = {}
    dpa: dict[float, float] = {}
    for h in H_CANDIDATES:
        clear_privaudit_caches()
        ours[h] = ours_epsilon(h)
        dpa[h] = dpa_epsilon(h)
    # ε(h) = ε₀ + c·h² (connect-the-dots error is second order): fit on the two finest grids.
    h1, h2 = FINE_H, 1e-4
    fit_c = (dpa[h2] - pessimistic_fine) / (h2**2 - h1**2)
    exact = pessimistic_fine - fit_c * h1**2

    def largest(values: dict[float, float]) -> float:
        good = [h for h, eps in values.items() if eps <= exact * (1 + TIGHTNESS) and eps >= exact]
        return max(good) if good else min(values)

    return Tightness(
        pessimistic_fine,
        optimistic_fine,
        exact,
        fit_c,
        ours,
        dpa,
        largest(ours),
        largest(dpa),
    )


_COLD_SNIPPET = """
import json, sys, time
which, h, sigma, q, steps, delta = sys.argv[1], *map(float, sys.argv[2:])
steps = int(steps)
if which == "privaudit":
    from privaudit.accounting.accountant import PldAccountant
    from privaudit.accounting.calibrate import dpsgd_mechanism
    step = dpsgd_mechanism(sigma, q, 1)
    start = time.perf_counter()
    eps = PldAccountant(discretisation=h).compose(step, steps).get_epsilon(delta)
else:
    from dp_accounting.pld import privacy_loss_distribution as pld
    start = time.perf_counter()
    eps = pld.from_gaussian_mechanism(
        sigma, sensitivity=1, sampling_prob=q, value_discretization_interval=h
    ).self_compose(steps).get_epsilon_for_delta(delta)
print(json.dumps({"seconds": time.perf_counter() - start, "epsilon": eps}))
"""


def cold(which: str, h: float, repeats: int) -> tuple[float, Timing]:
    """(a) as the first call of a fresh interpreter, after imports; one process per repeat."""
    times, epsilon = [], math.nan
    for _ in range(max(1, repeats)):
        args = [which, repr(h), repr(SIGMA), repr(Q), str(STEPS), repr(DELTA)]
        done = subprocess.run(
            [sys.executable, "-c", _COLD_SNIPPET, *args], capture_output=True, text=True, check=True
        )
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        times.append(answer["seconds"])
        epsilon = answer["epsilon"]
    return epsilon, Timing(min(times), statistics.median(times), len(times))


# --- (a) ------------------------------------------------------------------------------------------


def bench_a(options: Options) -> Section:
    section = Section(
        f"(a) One ε: q = 256/60000, σ = {SIGMA}, {STEPS:,} steps, δ = {DELTA:g}  "
        f"[target: ≤ {TIGHTNESS:.1%} above exact, never below, ≤ 0.1 s, ≥ 2.5× dp_accounting]"
    )
    ref = tightness()
    h, h_dpa = ref.h_ours, ref.h_dpa
    optimistic_mid = (ref.pessimistic_fine + ref.optimistic_fine) / 2
    section.preamble += [
        "Reference values (untimed):",
        f"  dp_accounting PLD h={FINE_H:g} pessimistic (connect-the-dots): "
        f"{ref.pessimistic_fine:.7f}",
        f"  dp_accounting PLD h={FINE_H:g} optimistic (Privacy Buckets):   "
        f"{ref.optimistic_fine:.7f}   ({ref.optimistic_fine / ref.pessimistic_fine - 1:+.2%};"
        f" midpoint {optimistic_mid:.5f})",
        "    ↳ Privacy Buckets rounds each step's loss down by up to h; the bias adds up over the",
        f"      {STEPS:,} compositions (≈ T·h/2 = {STEPS * FINE_H / 2:.3f} in loss), so this is a"
        " loose lower bound",
        "      and the midpoint of the two is NOT used as 'exact'.",
        f"  exact ε (h→0 limit, ε(h) = ε₀ + c·h², c = {ref.fit_c:.4g}, fit on h = 2e-5, 1e-4):"
        f" {ref.exact:.7f}",
    ]
    for check_h in (2e-4, 3e-4, 5e-4):
        predicted = ref.exact + ref.fit_c * check_h**2
        section.preamble.append(
            f"    fit check at h={check_h:g}: predicted {predicted:.7f}, "
            f"dp_accounting {ref.dpa[check_h]:.7f} (Δ {ref.dpa[check_h] - predicted:+.1e})"
        )
    prv, prv_reason = anchor("prv_accountant", options)
    prv_fine = None
    if prv is not None:
        progress("(a) reference: prv-accountant at eps_error = 1e-3")
        with counted_warnings():
            accountant = prv.PRVAccountant(
                prvs=[prv.PoissonSubsampledGaussianMechanism(Q, SIGMA)],
                max_self_compositions=[STEPS],
                eps_error=1e-3,
                delta_error=DELTA / 1000,
            )
            prv_fine = accountant.compute_epsilon(DELTA, [STEPS])
        section.preamble.append(
            f"  prv-accountant eps_error=1e-3: lower {prv_fine[0]:.7f}, estimate {prv_fine[1]:.7f},"
            f" upper {prv_fine[2]:.7f}  (estimate − exact: {prv_fine[1] - ref.exact:+.1e})"
        )
    section.preamble += [
        "",
        f"Discretisation at {TIGHTNESS:.1%} tightness (largest h of {list(H_CANDIDATES)} with"
        " exact ≤ ε ≤ exact·1.001):",
        f"  {'h':>8}  {'privaudit ε':>12} {'excess':>10}   {'dp_acc. ε':>12} {'excess':>10}",
    ]
    for cand in H_CANDIDATES:
        mark = " ← privaudit" if cand == h else ""
        mark += " ← dp_accounting" if cand == h_dpa else ""
        section.preamble.append(
            f"  {cand:>8g}  {ref.ours[cand]:>12.7f} {fmt_pct(ref.ours[cand] / ref.exact - 1):>10}"
            f"   {ref.dpa[cand]:>12.7f} {fmt_pct(ref.dpa[cand] / ref.exact - 1):>10}{mark}"
        )

    step = dpsgd_mechanism(SIGMA, Q, 1)
    progress(f"(a) privaudit cold, {options.repeats} fresh processes, h = {h:g}")
    eps_cold, t_cold = cold("privaudit", h, options.repeats)
    progress("(a) privaudit in-process, caches cleared")
    eps_ours, t_ours = measure(
        lambda: PldAccountant(discretisation=h).compose(step, STEPS).get_epsilon(DELTA),
        options.repeats,
        clear_privaudit_caches,
    )
    section.rows += [
        Row(
            "privaudit PLD (cold: fresh process)",
            f"h={h:g}, pessimistic CTD",
            f"{eps_cold:.6f}",
            t_cold,
            t_cold,
        ),
        Row(
            "privaudit PLD (in-process, cold caches)", f"h={h:g}", f"{eps_ours:.6f}", t_ours, t_ours
        ),
    ]
    eps_rdp, t_rdp = measure(
        lambda: float(pa_rdp.rdp_grid_epsilon(Q, SIGMA, STEPS, DELTA)), options.repeats
    )
    section.rows.append(
        Row(
            "privaudit RDP engine",
            f"{len(pa_rdp.DEFAULT_ORDERS)} orders",
            f"{eps_rdp:.6f}",
            t_rdp,
            t_ours,
        )
    )

    t_dpa_cold: Timing | None = None
    t_dpa: Timing | None = None
    if options.skip_anchors:
        section.skipped("dp_accounting PLD / RDP", "--skip-anchors")
    else:
        progress(f"(a) dp_accounting PLD cold at h = {h_dpa:g}, and in-process")
        eps_dpa_cold, t_dpa_cold = cold("dp_accounting", h_dpa, options.repeats)
        eps_dpa, t_dpa = measure(lambda: dpa_epsilon(h_dpa), options.repeats)
        eps_def, t_def = measure(lambda: dpa_epsilon(1e-4), options.repeats)
        section.rows += [
            Row(
                "dp_accounting PLD (cold: fresh process)",
                f"h={h_dpa:g} (same tightness)",
                f"{eps_dpa_cold:.6f}",
                t_dpa_cold,
                t_cold,
            ),
            Row(
                "dp_accounting PLD (in-process)",
                f"h={h_dpa:g} (same tightness)",
                f"{eps_dpa:.6f}",
                t_dpa,
                t_ours,
            ),
            Row(
                "dp_accounting PLD (in-process)",
                "h=1e-4 (default)",
                f"{eps_def:.6f}",
                t_def,
                t_ours,
            ),
        ]
        import dp_accounting
        from dp_accounting.rdp import rdp_privacy_accountant

        def dpa_rdp() -> float:
            acc = rdp_privacy_accountant.RdpAccountant()
            event = dp_accounting.PoissonSampledDpEvent(Q, dp_accounting.GaussianDpEvent(SIGMA))
            acc.compose(event, STEPS)
            return float(acc.get_epsilon(DELTA))

        eps_dpa_rdp, t_dpa_rdp = measure(dpa_rdp, options.repeats)
        section.rows.append(
            Row(
                "dp_accounting RDP",
                f"default orders ({len(dpa_rdp_orders())})",
                f"{eps_dpa_rdp:.6f}",
                t_dpa_rdp,
                t_ours,
            )
        )
    prv_lower = None
    if prv is None:
        section.skipped("prv-accountant", prv_reason or "")
    else:
        progress("(a) prv-accountant")

        def run_prv() -> tuple[float, float, float]:
            with counted_warnings():
                acc = prv.PRVAccountant(
                    prvs=[prv.PoissonSubsampledGaussianMechanism(Q, SIGMA)],
                    max_self_compositions=[STEPS],
                    eps_error=0.01,
                    delta_error=DELTA / 1000,
                )
                return tuple(acc.compute_epsilon(DELTA, [STEPS]))

        bounds, t_prv = measure(run_prv, options.repeats)
        prv_lower = bounds[0]
        section.rows.append(
            Row(
                "prv-accountant PRVAccountant",
                "eps_error=0.01, δ_err=δ/1000",
                f"{bounds[2]:.6f}",
                t_prv,
                t_ours,
                f"upper bound shown; lower {bounds[0]:.6f}, estimate {bounds[1]:.6f}",
            )
        )
    opacus_acc, opacus_reason = anchor("opacus.accountants", options)
    if opacus_acc is None:
        section.skipped("Opacus rdp / prv", opacus_reason or "")
    else:
        progress("(a) Opacus")
        for name, cls, settings in (
            ("rdp", opacus_acc.RDPAccountant, "default alphas"),
            ("prv", opacus_acc.PRVAccountant, "eps_error=0.01 (upper bound)"),
        ):

            def run_opacus(cls: Any = cls) -> float:
                acc = cls()
                acc.history = [(SIGMA, Q, STEPS)]
                with counted_warnings():
                    return float(acc.get_epsilon(DELTA))

            eps_op, t_op = measure(run_opacus, options.repeats)
            section.rows.append(
                Row(f"Opacus {name} accountant", settings, f"{eps_op:.6f}", t_op, t_ours)
            )

    excess = eps_cold / ref.exact - 1
    section.check(
        f"ε ≤ {TIGHTNESS:.1%} above exact",
        excess <= TIGHTNESS,
        f"{eps_cold:.7f} is {fmt_pct(excess)} over exact {ref.exact:.7f} (h = {h:g}); "
        f"{fmt_pct(eps_cold / ref.pessimistic_fine - 1)} over dp_accounting pessimistic "
        f"h={FINE_H:g}; {fmt_pct(eps_cold / ref.optimistic_fine - 1)} over its optimistic bound",
    )
    lower_bounds = {
        "dp_accounting pessimistic h=2e-5 (≥ exact)": ref.pessimistic_fine,
        "extrapolated exact": ref.exact,
    }
    if prv_fine is not None:
        lower_bounds["prv-accountant lower (eps_error 1e-3)"] = prv_fine[0]
    if prv_lower is not None:
        lower_bounds["prv-accountant lower (eps_error 0.01)"] = prv_lower
    below = [name for name, value in lower_bounds.items() if eps_cold < value - 1e-12]
    section.check(
        "never below exact",
        not below,
        "ε ≥ " + ", ".join(lower_bounds) if not below else f"BELOW {', '.join(below)}",
    )
    section.check("≤ 0.1 s (cold, median)", t_cold.median <= 0.1, f"{fmt_seconds(t_cold.median)}")
    if t_dpa_cold is None or t_dpa is None:
        section.check(
            "≥ 2.5× faster than dp_accounting PLD at same tightness", None, "anchors skipped"
        )
    else:
        ratio = t_dpa_cold.median / t_cold.median
        section.check(
            "≥ 2.5× faster than dp_accounting PLD at same tightness",
            ratio >= 2.5,
            f"{ratio:.1f}× cold (h = {h_dpa:g} vs {h:g}); "
            f"in-process {t_dpa.median / t_ours.median:.1f}×",
        )
    return section


# --- (b) ------------------------------------------------------------------------------------------


def bench_b(options: Options) -> Section:
    ref = tightness()
    h = ref.h_ours
    counts = [int(c) for c in np.unique(np.round(np.linspace(14, STEPS, CHECKPOINTS)))]
    section = Section(
        f"(b) ε curve of (a) at {len(counts):,} checkpoints (14 … {STEPS:,} steps)  "
        "[target: ≤ 3 s, ≥ 50× dp_accounting per checkpoint, every point an upper bound]"
    )
    step = dpsgd_mechanism(SIGMA, Q, 1)
    progress(f"(b) privaudit epsilon_curve, h = {h:g}")
    curve, t_ours = measure(
        lambda: pa_pld.epsilon_curve(pa_pld.mechanism_pld(step, h), counts, DELTA),
        options.repeats,
        clear_privaudit_caches,
    )
    section.rows.append(
        Row(
            "privaudit pld.epsilon_curve",
            f"h={h:g}, {len(counts)} points",
            f"{curve[-1]:.6f}",
            t_ours,
            t_ours,
            "value: ε at the last checkpoint",
        )
    )
    sample_index = np.unique(np.round(np.linspace(0, len(counts) - 1, CURVE_SAMPLE)).astype(int))
    sample = [counts[i] for i in sample_index]
    t_dpa_best: Timing | None = None
    t_rebuild: Timing | None = None
    dpa_same: list[float] = []
    if options.skip_anchors:
        section.skipped("dp_accounting PLD per checkpoint", "--skip-anchors")
    else:
        timed = counts if options.full_anchors else sample
        label = "all" if options.full_anchors else f"{len(sample)} sampled"
        progress(f"(b) dp_accounting per checkpoint ({label}), rebuilding the PLD each time")
        rebuild = []
        for count in sample:
            start = time.perf_counter()
            dpa_pld(h).self_compose(count).get_epsilon_for_delta(DELTA)
            rebuild.append(time.perf_counter() - start)
        how = f"{len(sample)} sampled checkpoints × {len(counts)}/{len(sample)}"
        t_rebuild = extrapolated(rebuild, len(counts), how)
        progress(f"(b) dp_accounting per checkpoint ({label}), PLD built once")
        start = time.perf_counter()
        base = dpa_pld(h)
        build = time.perf_counter() - start
        per_point, values = [], {}
        for count in timed:
            start = time.perf_counter()
            values[count] = float(base.self_compose(count).get_epsilon_for_delta(DELTA))
            per_point.append(time.perf_counter() - start)
        if options.full_anchors:
            total = build + sum(per_point)
            t_dpa_best = Timing(total, total, 1)
        else:
            t_dpa_best = extrapolated(per_point, len(counts), how + " + one build", build)
        dpa_same = [values[c] for c in sample]
        section.rows += [
            Row(
                "dp_accounting PLD per checkpoint",
                f"h={h:g}, rebuild each time",
                f"{dpa_same[-1]:.6f}",
                t_rebuild,
                t_ours,
                f"from_gaussian_mechanism + self_compose(T) per point; timed on {how}",
            ),
            Row(
                "dp_accounting PLD per checkpoint",
                f"h={h:g}, built once",
                f"{dpa_same[-1]:.6f}",
                t_dpa_best,
                t_ours,
                "self_compose(T) per point on one PLD"
                + ("" if options.full_anchors else f"; timed on {how}"),
            ),
        ]
    progress(f"(b) certified check: dp_accounting at h = {FINE_H:g} on {len(sample)} checkpoints")
    fine_base = dpa_pld(FINE_H)
    fine = [float(fine_base.self_compose(c).get_epsilon_for_delta(DELTA)) for c in sample]
    ours_sample = [float(curve[counts.index(c)]) for c in sample]
    gaps = [o - f for o, f in zip(ours_sample, fine, strict=True)]
    excess = max(o / f - 1 for o, f in zip(ours_sample, fine, strict=True))
    section.preamble += [
        f"Sampled checkpoints: {sample}",
        f"  privaudit ε:          {', '.join(f'{v:.4f}' for v in ours_sample)}",
        f"  dp_acc. h={FINE_H:g} ε: {', '.join(f'{v:.4f}' for v in fine)}",
    ]
    if dpa_same:
        diff = max(abs(o - d) for o, d in zip(ours_sample, dpa_same, strict=True))
        section.preamble.append(
            f"  max |privaudit − dp_accounting at the same h| on the sample: {diff:.1e}"
        )
    monotone = bool(np.all(np.diff(curve) >= -1e-12))
    section.check("≤ 3 s", t_ours.median <= 3.0, fmt_seconds(t_ours.median))
    if t_dpa_best is None or t_rebuild is None:
        section.check("≥ 50× faster than dp_accounting per checkpoint", None, "anchors skipped")
    else:
        suffix = "" if options.full_anchors else " (anchor time extrapolated)"
        section.check(
            "≥ 50× faster than dp_accounting per checkpoint (issue's anchor: rebuild per point)",
            t_rebuild.median / t_ours.median >= 50,
            f"{t_rebuild.median / t_ours.median:.0f}×{suffix}",
        )
        section.check(
            "  stricter anchor, same target: dp_accounting PLD built once, self_compose per point",
            t_dpa_best.median / t_ours.median >= 50,
            f"{t_dpa_best.median / t_ours.median:.0f}×{suffix}",
        )
    section.check(
        "every sampled point ≥ dp_accounting fine bound − 1e-9",
        min(gaps) >= -1e-9,
        f"min(ours − dp_acc h={FINE_H:g}) = {min(gaps):+.2e} over {len(sample)} checkpoints",
    )
    section.check(
        f"tightness of (a): ≤ {TIGHTNESS:.1%} over the fine bound on the sample",
        excess <= TIGHTNESS,
        f"max relative excess {fmt_pct(excess)}",
    )
    section.check("curve non-decreasing in steps", monotone, f"{len(counts)} points")
    return section


# --- (c) ------------------------------------------------------------------------------------------


def bench_c(options: Options) -> Section:
    sigmas = np.linspace(0.5, 5, 20)
    batches = np.geomspace(64, 4096, 10).round()
    epochs = np.linspace(1, 100, 10).round()
    rates = batches / N
    steps = (epochs[None, :] * N / batches[:, None]).astype(int)  # (batch, epochs)
    total = sigmas.size * batches.size * epochs.size
    section = Section(
        f"(c) RDP grid: {sigmas.size} σ × {batches.size} batch sizes × {epochs.size} epoch counts"
        f" = {total:,} configurations, n = {N:,}  [target: ≤ 2 s, ≥ 50× dp_accounting per point]"
    )
    section.preamble += [
        f"σ = linspace(0.5, 5, 20); batch = {batches.astype(int).tolist()}",
        f"epochs = {epochs.astype(int).tolist()}; steps = epochs·n/batch "
        f"({steps.min():,} … {steps.max():,})",
    ]

    def grid(orders: Any) -> np.ndarray[Any, Any]:
        return pa_rdp.rdp_grid_epsilon(
            rates[None, :, None], sigmas[:, None, None], steps[None, :, :], DELTA, orders
        )

    progress("(c) privaudit rdp_grid_epsilon")
    ours, t_ours = measure(lambda: grid(pa_rdp.DEFAULT_ORDERS), options.repeats)
    ours_dpo, t_ours_dpo = measure(lambda: grid(dpa_rdp_orders()), options.repeats)
    section.rows += [
        Row(
            "privaudit rdp_grid_epsilon",
            f"{len(pa_rdp.DEFAULT_ORDERS)} orders (default)",
            f"{ours.max():.4g}",
            t_ours,
            t_ours,
            f"value: max ε over the grid (min {ours.min():.4g})",
        ),
        Row(
            "privaudit rdp_grid_epsilon",
            f"dp_accounting's {len(dpa_rdp_orders())} orders",
            f"{ours_dpo.max():.4g}",
            t_ours_dpo,
            t_ours,
        ),
    ]
    rng = np.random.default_rng(0)
    flat = rng.choice(total, size=min(GRID_SAMPLE, total), replace=False)
    if options.full_anchors:
        flat = np.arange(total)
    points = [np.unravel_index(int(i), ours.shape) for i in flat]
    label = "all points" if options.full_anchors else f"{len(points)} random points"
    how = f"{len(points)} random points × {total}/{len(points)}"

    def timing_of(per_point: list[float]) -> Timing:
        if options.full_anchors:
            return Timing(sum(per_point), sum(per_point), 1)
        return extrapolated(per_point, total, how)

    gap_to_dpa: dict[tuple[Any, ...], float] = {}
    worst_line: tuple[tuple[Any, ...], str] | None = None
    sample_max = max(float(ours[p]) for p in points)
    if options.skip_anchors:
        section.skipped("dp_accounting RDP per point", "--skip-anchors")
        t_dpa = None
    else:
        import dp_accounting
        from dp_accounting.rdp import rdp_privacy_accountant

        progress(f"(c) dp_accounting RDP per point ({label})")
        per_point, theirs = [], []
        with quiet_absl() as dropped:
            for i, j, k in points:
                start = time.perf_counter()
                acc = rdp_privacy_accountant.RdpAccountant()
                event = dp_accounting.PoissonSampledDpEvent(
                    float(rates[j]), dp_accounting.GaussianDpEvent(float(sigmas[i]))
                )
                acc.compose(event, int(steps[j, k]))
                theirs.append(float(acc.get_epsilon(DELTA)))
                per_point.append(time.perf_counter() - start)
        t_dpa = timing_of(per_point)
        mine = np.array([ours[p] for p in points])
        mine_dpo = np.array([ours_dpo[p] for p in points])
        theirs_a = np.array(theirs)
        rel = np.abs(mine - theirs_a) / theirs_a
        rel_dpo = np.abs(mine_dpo - theirs_a) / theirs_a
        above = int(np.sum(mine > theirs_a * (1 + 1e-9)))
        above_dpo = int(np.sum(mine_dpo > theirs_a * (1 + 1e-9)))
        section.rows.append(
            Row(
                "dp_accounting RDP per point",
                "RdpAccountant, default orders",
                f"{max(theirs):.4g}",
                t_dpa,
                t_ours,
                f"value: max ε on the sample (privaudit's: {sample_max:.4g}); timed on {label}"
                + (
                    f"; {dropped.count} 'failed to converge' log lines (orders dropped) hidden"
                    if dropped.count
                    else ""
                ),
            )
        )
        section.preamble += [
            f"On the {len(points)} {'grid points' if options.full_anchors else 'sampled points'}"
            " vs dp_accounting RDP:",
            f"  privaudit ({len(pa_rdp.DEFAULT_ORDERS)} orders): max |Δε|/ε = {rel.max():.2e}, "
            f"mean {rel.mean():.2e}; "
            f"ours > theirs at {above} points; ours < theirs at "
            f"{int(np.sum(mine < theirs_a * (1 - 1e-9)))}",
            f"  privaudit (dp_accounting's orders): max |Δε|/ε = {rel_dpo.max():.2e}; "
            f"ours > theirs at {above_dpo} points; ours < theirs at "
            f"{int(np.sum(mine_dpo < theirs_a * (1 - 1e-9)))}",
        ]
        gap_to_dpa.update({p: float(m / t) for p, m, t in zip(points, mine, theirs_a, strict=True)})
        worst = int(np.argmax(rel_dpo))
        worst_line = (
            points[worst],
            f"  largest gap at same orders: σ={sigmas[points[worst][0]]:.3f}, "
            f"q={rates[points[worst][1]]:.5f}, steps={steps[points[worst][1:]]:,}: "
            f"privaudit {mine_dpo[worst]:.6g} (own orders {mine[worst]:.6g}) vs dp_accounting "
            f"{theirs_a[worst]:.6g}",
        )
        section.check(
            "ours ≤ dp_accounting RDP (same orders) up to 1e-9 relative",
            above_dpo == 0,
            f"{above_dpo} of {len(points)} above; with privaudit's "
            f"{len(pa_rdp.DEFAULT_ORDERS)} orders: {above} above",
        )
    opacus_analysis, reason = anchor("opacus.accountants.analysis.rdp", options)
    if opacus_analysis is None:
        section.skipped("Opacus compute_rdp per point", reason or "")
    else:
        from opacus.accountants import RDPAccountant

        alphas = RDPAccountant.DEFAULT_ALPHAS
        progress(f"(c) Opacus compute_rdp + get_privacy_spent per point ({label})")
        per_point, theirs = [], []
        for i, j, k in points:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "optimal order is the largest alpha"
                rdp = opacus_analysis.compute_rdp(
                    q=float(rates[j]),
                    noise_multiplier=float(sigmas[i]),
                    steps=int(steps[j, k]),
                    orders=alphas,
                )
                eps, _ = opacus_analysis.get_privacy_spent(orders=alphas, rdp=rdp, delta=DELTA)
            theirs.append(float(eps))
            per_point.append(time.perf_counter() - start)
        same_orders = grid(np.array(alphas, dtype=float))
        mine = np.array([same_orders[p] for p in points])
        above = int(np.sum(mine > np.array(theirs) * (1 + 1e-9)))
        opacus_at = dict(zip(points, theirs, strict=True))
        if worst_line is not None:
            worst_line = (
                worst_line[0],
                worst_line[1] + f", Opacus {opacus_at[worst_line[0]]:.6g}",
            )
        section.rows.append(
            Row(
                "Opacus compute_rdp + get_privacy_spent",
                "default alphas (1.1…63)",
                f"{max(theirs):.4g}",
                timing_of(per_point),
                t_ours,
                f"value: max ε on the sample; timed on {label}; privaudit at Opacus' alphas is "
                f"above Opacus at {above} of them",
            )
        )
    # Soundness spot check: an RDP bound can never be below the (near-exact) PLD value.
    progress("(c) soundness spot check against dp_accounting PLD")
    if worst_line is not None:
        section.preamble.append(worst_line[1])
    # The points where privaudit is furthest below dp_accounting's RDP (a bug would show there
    # first), then a spread of the others.
    candidates = [p for p in points if steps[p[1], p[2]] <= 20_000 and ours[p] <= 8]
    candidates.sort(key=lambda p: gap_to_dpa.get(p, 0.0))
    spot = candidates[:3] + candidates[3:][:: max(1, len(candidates) // 4)][:3]
    ratios = []
    for i, j, k in spot:
        pld_eps = dpa_epsilon(2e-4, int(steps[j, k]), float(sigmas[i]), float(rates[j]))
        ratios.append(ours[i, j, k] / pld_eps)
    section.check(
        "RDP ≥ dp_accounting PLD (h=2e-4, pessimistic) on spot points",
        bool(ratios) and min(ratios) >= 1 - 1e-3,
        f"{len(spot)} points, RDP/PLD from {min(ratios):.4f} to {max(ratios):.4f}"
        if ratios
        else "no spot points",
    )
    section.check("≤ 2 s", t_ours.median <= 2.0, fmt_seconds(t_ours.median))
    if t_dpa is None:
        section.check("≥ 50× faster than dp_accounting RDP per point", None, "anchors skipped")
    else:
        section.check(
            "≥ 50× faster than dp_accounting RDP per point",
            t_dpa.median / t_ours.median >= 50,
            f"{t_dpa.median / t_ours.median:.0f}×"
            + ("" if options.full_anchors else " (anchor time extrapolated)"),
        )
    return section


# --- (d) ------------------------------------------------------------------------------------------


@functools.cache
def pld_exact_sigma(start: float) -> tuple[float, int, float]:
    """σ for ε = 1 with dp_accounting PLD at h = 2e-5, bisected to 1e-5 relative (feasible end);
    (σ, evaluations, ε at ``start``)."""
    evaluations = 0

    @functools.cache
    def eps(sigma: float) -> float:
        nonlocal evaluations
        evaluations += 1
        return dpa_epsilon(FINE_H, STEPS, sigma, Q)

    low, high = start * 0.99, start * 1.01
    while eps(low) <= TARGET_EPSILON:
        low *= 0.98
    while eps(high) > TARGET_EPSILON:
        high *= 1.02
    while high / low - 1 > 1e-5:
        middle = math.sqrt(low * high)
        if eps(middle) <= TARGET_EPSILON:
            high = middle
        else:
            low = middle
    return high, evaluations, eps(start)


def bench_d(options: Options) -> Section:
    section = Section(
        f"(d) Calibrate σ for ε = {TARGET_EPSILON:g} at δ = {DELTA:g}, q = 256/60000, "
        f"{STEPS:,} steps  [target: within 0.5% of the PLD-exact σ (never below), "
        "≥ 2× Opacus prv]"
    )
    progress("(d) privaudit calibrate_noise")
    result, t_ours = measure(
        lambda: calibrate_noise(TARGET_EPSILON, DELTA, Q, STEPS),
        options.repeats,
        clear_privaudit_caches,
    )
    sigma = result.value
    progress(f"(d) reference: bisect σ with dp_accounting PLD h = {FINE_H:g} (untimed)")
    exact, evaluations, eps_at_ours = pld_exact_sigma(sigma)
    section.preamble += [
        f"PLD-exact σ (dp_accounting PLD h={FINE_H:g}, pessimistic, bisected to 1e-5 relative, "
        f"{evaluations} evaluations, untimed): {exact:.6f}",
        f"dp_accounting h={FINE_H:g} ε at privaudit's σ: {eps_at_ours:.6f}",
    ]
    section.rows.append(
        Row(
            "privaudit calibrate_noise",
            f"PLD h=2e-4, tol 1e-3, {result.evaluations} evals",
            f"{sigma:.6f}",
            t_ours,
            t_ours,
            f"certified ε at σ: {result.epsilon:.6f}; σ {fmt_pct(sigma / exact - 1)} vs exact",
        )
    )
    opacus_utils, reason = anchor("opacus.accountants.utils", options)
    t_prv = None
    if opacus_utils is None:
        section.skipped("Opacus get_noise_multiplier", reason or "")
    else:
        for name in ("prv", "rdp"):
            progress(f"(d) Opacus get_noise_multiplier(accountant='{name}')")

            def run(name: str = name) -> float:
                with counted_warnings():
                    return float(
                        opacus_utils.get_noise_multiplier(
                            target_epsilon=TARGET_EPSILON,
                            target_delta=DELTA,
                            sample_rate=Q,
                            steps=STEPS,
                            accountant=name,
                        )
                    )

            sigma_op, t_op = measure(run, options.repeats)
            if name == "prv":
                t_prv = t_op
            section.rows.append(
                Row(
                    f"Opacus get_noise_multiplier ({name})",
                    "epsilon_tolerance=0.01 (default)",
                    f"{sigma_op:.6f}",
                    t_op,
                    t_ours,
                    f"σ {fmt_pct(sigma_op / exact - 1)} vs exact",
                )
            )
    excess = sigma / exact - 1
    section.check(
        "σ within 0.5% of PLD-exact σ, never below",
        0 <= excess <= 5e-3,
        f"{sigma:.6f} vs {exact:.6f}: {fmt_pct(excess)}",
    )
    section.check(
        "calibrated σ meets the target (dp_accounting fine ε ≤ 1)",
        eps_at_ours <= TARGET_EPSILON,
        f"ε = {eps_at_ours:.6f}",
    )
    if t_prv is None:
        section.check("≥ 2× faster than Opacus prv get_noise_multiplier", None, "anchor skipped")
    else:
        section.check(
            "≥ 2× faster than Opacus prv get_noise_multiplier",
            t_prv.median / t_ours.median >= 2,
            f"{t_prv.median / t_ours.median:.1f}×",
        )
    return section


# --- (e) ------------------------------------------------------------------------------------------


def bench_e(options: Options) -> Section:
    rates = [float(q) for q in np.geomspace(1e-3, 1e-2, FL_RATES)]
    rounds = FL_RATES * FL_ROUNDS_PER_RATE
    section = Section(
        f"(e) FL schedule: {rounds:,} rounds, σ = {FL_SIGMA}, sampling rate through {FL_RATES}"
        f" values geomspace(1e-3, 1e-2) × {FL_ROUNDS_PER_RATE} rounds each, δ = {DELTA:g}  "
        "[target: ≤ 10 s at PLD tightness]"
    )
    ref = tightness()
    h = ref.h_ours
    steps = [
        PoissonSampled(sampling_rate=q, event=Gaussian(noise_multiplier=FL_SIGMA)) for q in rates
    ]

    def ours_pld(discretisation: float, subset: Sequence[PoissonSampled] = steps) -> float:
        acc = PldAccountant(discretisation=discretisation)
        for step in subset:
            acc.compose(step, FL_ROUNDS_PER_RATE)
        return acc.get_epsilon(DELTA)

    progress(f"(e) privaudit PldAccountant at h = {h:g} and 1e-4")
    eps_h, t_h = measure(lambda: ours_pld(h), options.repeats, clear_privaudit_caches)
    eps_def, t_def = measure(lambda: ours_pld(1e-4), 1, clear_privaudit_caches)
    schedule = [(q, FL_SIGMA, FL_ROUNDS_PER_RATE) for q in rates]

    def ours_rdp() -> float:
        curve = pa_rdp.rdp_of_schedule(schedule)
        return float(pa_rdp.epsilon_from_rdp(curve, pa_rdp.DEFAULT_ORDERS, DELTA)[0])

    eps_rdp, t_rdp = measure(ours_rdp, options.repeats)
    progress("(e) privaudit account() (both backends: PLD h = 1e-4 and RDP)")
    mechanisms = [SelfComposed(event=s, count=FL_ROUNDS_PER_RATE) for s in steps]
    accounting, t_account = measure(lambda: account(mechanisms, DELTA), 1, clear_privaudit_caches)
    section.rows += [
        Row("privaudit PldAccountant", f"h={h:g} (tightness of (a))", f"{eps_h:.6f}", t_h, t_h),
        Row("privaudit PldAccountant", "h=1e-4", f"{eps_def:.6f}", t_def, t_h),
        Row(
            "privaudit RDP engine (rdp_of_schedule)",
            f"{len(pa_rdp.DEFAULT_ORDERS)} orders",
            f"{eps_rdp:.6f}",
            t_rdp,
            t_h,
        ),
        Row(
            "privaudit account()",
            "both backends (PLD h=1e-4, RDP)",
            f"{accounting.epsilon:.6f}",
            t_account,
            t_h,
            f"verdict {accounting.method}; its RDP figure {accounting.rdp.epsilon:.6f}",
        ),
    ]
    reference = None
    if options.skip_anchors:
        section.skipped("dp_accounting PLDAccountant", "--skip-anchors")
    else:
        import dp_accounting
        from dp_accounting.pld import pld_privacy_accountant

        def dpa_schedule() -> float:
            acc = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
            for q in rates:
                event = dp_accounting.PoissonSampledDpEvent(
                    q, dp_accounting.GaussianDpEvent(FL_SIGMA)
                )
                acc.compose(dp_accounting.SelfComposedDpEvent(event, FL_ROUNDS_PER_RATE))
            return float(acc.get_epsilon(DELTA))

        progress("(e) dp_accounting PLDAccountant, 100 events at h = 1e-4 (~30 s)")
        reference, t_dpa = measure(dpa_schedule, 1)
        section.rows.append(
            Row(
                "dp_accounting PLDAccountant",
                "h=1e-4 (default), 100 events",
                f"{reference:.6f}",
                t_dpa,
                t_h,
            )
        )
    prv, reason = anchor("prv_accountant", options)
    if prv is None:
        section.skipped("prv-accountant", reason or "")
    else:
        subset = rates if options.full_anchors else rates[:: FL_RATES // PRV_SAMPLE_EVENTS]
        progress(f"(e) prv-accountant on {len(subset)} of {FL_RATES} rates")
        with counted_warnings() as caught:
            start = time.perf_counter()
            acc = prv.PRVAccountant(
                prvs=[prv.PoissonSubsampledGaussianMechanism(q, FL_SIGMA) for q in subset],
                max_self_compositions=[FL_ROUNDS_PER_RATE] * len(subset),
                eps_error=0.01,
                delta_error=1e-10,
            )
            bounds = acc.compute_epsilon(DELTA, [FL_ROUNDS_PER_RATE] * len(subset))
            seconds = time.perf_counter() - start
        if options.full_anchors:
            t_prv = Timing(seconds, seconds, 1)
            note = f"lower {bounds[0]:.6f}, estimate {bounds[1]:.6f}"
            value = f"{bounds[2]:.6f}"
            section.check(
                "ours ≥ prv-accountant lower bound",
                eps_h >= bounds[0],
                f"{eps_h:.6f} ≥ {bounds[0]:.6f}",
            )
        else:
            t_prv = Timing(
                seconds * FL_RATES / len(subset),
                seconds * FL_RATES / len(subset),
                1,
                f"{len(subset)} of {FL_RATES} rates × {FL_RATES // len(subset)}",
            )
            ours_subset = ours_pld(h, steps[:: FL_RATES // PRV_SAMPLE_EVENTS])
            value = "(sample)"
            note = (
                f"timed on every {FL_RATES // len(subset)}th rate ({len(subset)} × "
                f"{FL_ROUNDS_PER_RATE} rounds) in {fmt_seconds(seconds)}, "
                f"×{FL_RATES // len(subset)}"
                " linearly — an underestimate (its mesh shrinks as 1/√rounds); on that sample ε ∈ "
                f"[{bounds[0]:.4f}, {bounds[2]:.4f}] (est. {bounds[1]:.4f}), privaudit h={h:g}: "
                f"{ours_subset:.4f}"
            )
            section.check(
                "ours ≥ prv-accountant lower bound on its sample",
                ours_subset >= bounds[0],
                f"{ours_subset:.6f} ≥ {bounds[0]:.6f}",
            )
        if caught:
            note += f"; {len(caught)} library warnings hidden"
        section.rows.append(
            Row(
                "prv-accountant PRVAccountant",
                "eps_error=0.01, δ_err=1e-10",
                value,
                t_prv,
                t_h,
                note,
            )
        )
    opacus_acc, reason = anchor("opacus.accountants", options)
    if opacus_acc is None:
        section.skipped("Opacus rdp / prv", reason or "")
    else:
        for name, cls in (("rdp", opacus_acc.RDPAccountant), ("prv", opacus_acc.PRVAccountant)):
            progress(f"(e) Opacus {name} with a 100-phase history")

            def run(cls: Any = cls) -> float:
                acc = cls()
                acc.history = [(FL_SIGMA, q, FL_ROUNDS_PER_RATE) for q in rates]
                with counted_warnings():
                    return float(acc.get_epsilon(DELTA))

            eps_op, t_op = measure(run, options.repeats if name == "rdp" else 1)
            section.rows.append(
                Row(
                    f"Opacus {name} accountant",
                    "history of 100 (σ, q, 100)",
                    f"{eps_op:.6f}",
                    t_op,
                    t_h,
                    "upper bound (eps_error=0.01)" if name == "prv" else "",
                )
            )
    best = reference if reference is not None else eps_def
    tight = eps_h / best - 1
    section.check(
        "≤ 10 s at PLD tightness",
        t_h.median <= 10 and tight <= TIGHTNESS,
        f"{fmt_seconds(t_h.median)} at h = {h:g}, ε {fmt_pct(tight)} over "
        + ("dp_accounting h=1e-4" if reference is not None else "privaudit h=1e-4")
        + f"; at h = 1e-4: {fmt_seconds(t_def.median)}",
    )
    section.check("PLD ≤ RDP (sanity)", eps_h <= eps_rdp, f"PLD {eps_h:.6f} vs RDP {eps_rdp:.6f}")
    return section


def bench_f(options: Options) -> Section:
    from dp_accounting import dp_event
    from dp_accounting.pld import pld_privacy_accountant
    from dp_accounting.privacy_accountant import NeighboringRelation

    section = Section(
        f"(f) small δ: ε at δ = 1e-5 and 1e-10 against dp_accounting pessimistic h = {FINE_H:g}"
        "  [target: within 0.1% above at δ = 1e-10, never below]",
        [
            "dp_accounting's double FFT leaves ~1e-13 to 1e-12 of round-off noise in the far tail,"
            " which its δ(ε) counts:",
            "at δ = 1e-10 that lifts its ε by up to ~0.02% (MNIST case); 'floor' is its ε at"
            " 1.02·δ, the lowest ε its noise allows.",
        ],
    )
    gaps: list[float] = []
    above_floor = True
    for q, sigma, steps in SMALL_DELTA_CASES:
        release = PoissonSampled(sampling_rate=q, event=Gaussian(noise_multiplier=sigma))
        progress(f"(f) dp_accounting h={FINE_H:g}: q={q:.4g}, σ={sigma}, {steps} steps")
        fine = pld_privacy_accountant.PLDAccountant(
            NeighboringRelation.ADD_OR_REMOVE_ONE, value_discretization_interval=FINE_H
        )
        _, t_fine = measure(
            lambda fine=fine, q=q, sigma=sigma, steps=steps: fine.compose(
                dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps
            ),
            1,
        )
        for delta in SMALL_DELTAS:

            def ours(
                release: PoissonSampled = release, steps: int = steps, delta: float = delta
            ) -> float:
                return account({release: steps}, delta).pld.epsilon

            eps, t_ours = measure(ours, options.repeats, clear_all_caches)
            reference = float(fine.get_epsilon(delta))
            floor = float(fine.get_epsilon(delta * 1.02))
            gap = eps / reference - 1
            if delta < 1e-6:
                gaps.append(gap)
                above_floor = above_floor and eps >= floor * (1 - 1e-9)
            settings = f"q={q:.4g} σ={sigma} T={steps} δ={delta:g}"
            section.rows.append(Row("privaudit PLD h=1e-4", settings, f"{eps:.6f}", t_ours))
            section.rows.append(
                Row(
                    f"dp_accounting PLD h={FINE_H:g}",
                    settings,
                    f"{reference:.6f}",
                    t_fine,
                    t_ours,
                    f"gap ours − fine: {fmt_pct(gap)}; floor {floor:.6f}",
                )
            )
    section.check(
        "δ = 1e-10 within 0.1% of the fine grid",
        max(gaps) <= TIGHTNESS,
        "gaps " + ", ".join(fmt_pct(gap) for gap in gaps),
    )
    section.check("never below the floor", above_floor, "ε ≥ dp_accounting fine-grid ε at 1.02·δ")
    return section


# --- main -----------------------------------------------------------------------------------------

BENCHMARKS: dict[str, Callable[[Options], Section]] = {
    "a": bench_a,
    "b": bench_b,
    "c": bench_c,
    "d": bench_d,
    "e": bench_e,
    "f": bench_f,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per row (default 3)")
    parser.add_argument(
        "--skip-anchors",
        action="store_true",
        help="do not time the anchor libraries (dp_accounting references still computed)",
    )
    parser.add_argument(
        "--full-anchors",
        action="store_true",
        help="run slow anchors in full instead of sampling and extrapolating (several minutes)",
    )
    parser.add_argument(
        "--only", default="a,b,c,d,e,f", help="comma-separated subset of a,b,c,d,e,f"
    )
    args = parser.parse_args(argv)
    chosen = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in BENCHMARKS]
    if unknown or args.repeats < 1:
        parser.error(f"--only takes a subset of a,b,c,d,e,f; --repeats ≥ 1 (found {unknown})")
    options = Options(args.repeats, args.skip_anchors, args.full_anchors)
    print("privaudit accounting benchmark")
    print(f"versions: {versions()}")
    print(
        f"python {sys.version.split()[0]}, repeats {options.repeats}, "
        f"anchors {'skipped (--skip-anchors)' if options.skip_anchors else 'on'}"
        f"{', full' if options.full_anchors else ', slow ones sampled + extrapolated'}"
    )
    print(
        "'÷ ours' = that row's median wall time ÷ privaudit's (the section's first row; "
        "for (a) cold rows vs cold, in-process vs in-process)."
    )
    for key in chosen:
        progress(f"--- ({key}) ---")
        BENCHMARKS[key](options).print()
    progress("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
