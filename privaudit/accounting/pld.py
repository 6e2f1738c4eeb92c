"""privaudit's PLD engine: composition of discretised privacy-loss distributions by FFT.

Single-release PLDs are dp_accounting's pessimistic connect-the-dots discretisation (Doroshenko et
al. 2022). For the Gaussian and Laplace mechanisms, unsampled or Poisson-subsampled (everything a
DP-SGD or federated ledger holds), :mod:`privaudit.accounting.connect_dots` builds that PMF itself
with numpy, bit for bit the library's; other releases (randomized response, sampling without
replacement, ...) still come from dp_accounting, imported only when one is asked for, since
importing it costs ~0.6 s (scipy.stats, scipy.signal, scipy.optimize).

Composition is done here, in the Fourier domain (Koskela, Jälkö & Honkela 2020): the
characteristic function of a T-fold composition is the T-th power of one step's, so a whole
ε-over-training curve, or a schedule of many different steps, costs one forward transform per
distinct release and one inverse transform per question. The transforms are numpy.fft's.

Soundness. The circular FFT works on a window of N grid points. Each output bin holds the true
probability of its loss plus aliased mass from losses N·h away; all masses are non-negative, so
inside the window the computed PMF dominates the true one bin by bin. Mass above the window's top
wraps to low losses, where it would count for less than it should, so its total is bounded with a
Chernoff bound, P(L₁+…+L_T > b) ≤ min_t Π M_i(t)^{c_i} e^{−tb} (M_i the moment-generating
function of step i's finite losses), and added to δ as if it sat at +∞. Round-off of the
transforms is bounded by a few ulps per bin times N·log₂N, plus its growth through the powers
z^T (T times a transform's error where the spectrum is not negligible), and added to δ as
well. Every ε is therefore an upper bound for the discretised PLD, which upper-bounds the true
one. In double precision that round-off bound is ~1e-11 to 1e-9 (10⁴ steps): negligible at
δ = 1e-5, but at δ = 1e-10 it cost 0.8–2.2% of ε. When it exceeds :data:`PRECISE_FRACTION` of
the δ asked about (or answered), the composition is redone in extended precision (x86-64's
80-bit long double, ulp 1.1e-19; ~3–4× the time), where the same bound is ~1e-14 to 1e-12.

δ(ε) of a PMF with losses l_j and infinite mass π: δ(ε) = π + Σ_{l_j > ε} (1 − e^{ε − l_j}) p_j
(Sommer, Meiser & Mohammadi 2019, Eq. 5; Koskela et al. 2020, Eq. 2.3). For add-or-remove-one
both directions are composed and the larger δ (or ε) is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from privaudit.accounting import connect_dots
from privaudit.accounting.dp_events import to_dp_event
from privaudit.mechanisms import Gaussian, Laplace, Mechanism, NonPrivate, PoissonSampled

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

TAIL_BOUND = 1e-15
"""Window sizing: the Chernoff bound on mass beyond the window is at most this (added to δ)."""

PRECISE_FRACTION = 1e-3
"""When the double-precision round-off bound of a composition exceeds this fraction of the δ
asked about (or answered), the composition is redone in extended precision (``np.longdouble``)."""

_CHERNOFF_T = np.array([0.125, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0])
_ULP = float(np.finfo(np.float64).eps)
_EXTENDED_ULP = float(np.finfo(np.longdouble).eps)
_HAS_EXTENDED = _EXTENDED_ULP < _ULP
"""x86-64 Linux: 80-bit extended (ulp 1.1e-19); where long double is double (Windows, macOS on
arm64) there is nothing to gain and compositions stay in double."""


@dataclass(frozen=True, eq=False)
class DirectionPld:
    """One direction of a discretised PLD: mass ``probs[j]`` at loss ``(lower + j)·h``, plus
    ``infinity`` at +∞."""

    h: float
    lower: int
    probs: FloatArray
    infinity: float
    mean: float = field(init=False)
    var: float = field(init=False)
    log_mgf: FloatArray = field(init=False)
    """log Σ_j p_j e^{t l_j} at the Chernoff parameters ``_CHERNOFF_T`` (and −t for sizing)."""

    def __post_init__(self) -> None:
        probs = np.clip(np.asarray(self.probs, dtype=np.float64), 0.0, None)
        probs.setflags(write=False)
        object.__setattr__(self, "probs", probs)
        losses: FloatArray = (self.lower + np.arange(probs.size, dtype=np.float64)) * self.h
        mass = probs.sum()
        mean = float((probs * losses).sum() / mass) if mass > 0 else 0.0
        var = float((probs * (losses - mean) ** 2).sum() / mass) if mass > 0 else 0.0
        # Bins without mass add e^{-inf} = 0: leaving them out gives the same sums, faster.
        held = probs > 0
        log_mgf = _log_mgf(np.log(probs[held]), losses[held])
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "var", var)
        object.__setattr__(self, "log_mgf", log_mgf)

    @property
    def size(self) -> int:
        return int(self.probs.size)


@dataclass(frozen=True, eq=False)
class MechanismPld:
    """Both directions of one release's PLD under add-or-remove-one (``add`` is None when the
    PLD is symmetric, e.g. an unsampled Gaussian)."""

    remove: DirectionPld
    add: DirectionPld | None
    non_private: bool = False

    def directions(self) -> tuple[DirectionPld, ...]:
        return (self.remove,) if self.add is None else (self.remove, self.add)


@lru_cache(maxsize=1024)
def mechanism_pld(mechanism: Mechanism, discretisation: float) -> MechanismPld:
    """The single-release PLD of ``mechanism`` (an expanded base release) on grid ``h``."""
    if isinstance(mechanism, NonPrivate):
        empty = DirectionPld(discretisation, 0, np.zeros(1), 1.0)
        return MechanismPld(empty, None, non_private=True)
    native = additive_noise(mechanism)
    if native is not None:
        return _native_pld(*native, discretisation)
    return _library_pld(mechanism, discretisation)


def additive_noise(mechanism: Mechanism) -> tuple[str, float, float] | None:
    """(noise kind, multiplier or scale, sampling rate) when :mod:`connect_dots` builds the PLD
    of ``mechanism`` itself: a Gaussian or Laplace release, unsampled or Poisson-subsampled.
    None for every other release."""
    if isinstance(mechanism, PoissonSampled):
        # Only a plain Gaussian or Laplace inside (as dp_accounting's PLDAccountant requires).
        inner = mechanism.event
        if isinstance(inner, Gaussian | Laplace):
            kind, parameter, _ = additive_noise(inner) or ("", 0.0, 1.0)
            return kind, parameter, mechanism.sampling_rate
        return None
    if isinstance(mechanism, Gaussian):
        return "gaussian", mechanism.noise_multiplier, 1.0
    if isinstance(mechanism, Laplace):
        return "laplace", mechanism.scale, 1.0
    return None


def _native_pld(kind: str, parameter: float, q: float, discretisation: float) -> MechanismPld:
    # dp_accounting's _pld_for_subsampled_mechanism: one (symmetric) PMF when q = 1, else REMOVE
    # and ADD. Its PLDAccountant composes a fresh Laplace PLD into the identity with a 1e-15
    # tail truncation first; that only moves ≤ 1e-15 of mass outwards (pessimistically) and is
    # not needed for soundness: the untruncated PMF is the exact connect-the-dots bound.
    build = connect_dots.gaussian_pmf if kind == "gaussian" else connect_dots.laplace_pmf

    def direction(which: Literal["remove", "add"]) -> DirectionPld:
        return _from_connect_dots(build(parameter, q, discretisation, which))

    if q == 1.0:
        return MechanismPld(direction("remove"), None)
    # The two directions are independent array work (numpy releases the GIL): one a thread.
    sides: tuple[Literal["remove", "add"], ...] = ("remove", "add")
    with ThreadPoolExecutor(max_workers=2) as pool:
        remove, add = pool.map(direction, sides)
    return MechanismPld(remove, add)


def _from_connect_dots(pmf: connect_dots.ConnectDotsPmf) -> DirectionPld:
    return DirectionPld(pmf.h, pmf.lower, pmf.probs, pmf.infinity)


def _library_pld(mechanism: Mechanism, discretisation: float) -> MechanismPld:
    # Imported here: dp_accounting's package __init__ loads scipy.stats/signal/optimize (~0.6 s),
    # which a gate over Gaussian/Laplace releases never needs.
    from dp_accounting.pld import pld_privacy_accountant
    from dp_accounting.privacy_accountant import NeighboringRelation as DpNeighbouring

    backend = pld_privacy_accountant.PLDAccountant(
        neighboring_relation=DpNeighbouring.ADD_OR_REMOVE_ONE,
        value_discretization_interval=discretisation,
    )
    backend.compose(to_dp_event(mechanism))
    if backend._contains_non_dp_event:
        return mechanism_pld(NonPrivate(), discretisation)
    library_pld = backend._pld
    remove = _direction(library_pld._pmf_remove)
    add = None if library_pld._symmetric else _direction(library_pld._pmf_add)
    return MechanismPld(remove, add)


def _direction(pmf: Any) -> DirectionPld:
    from dp_accounting.pld import pld_pmf

    if isinstance(pmf, pld_pmf.DensePLDPmf):
        return DirectionPld(
            pmf._discretization, int(pmf._lower_loss), pmf._probs, pmf._infinity_mass
        )
    if isinstance(pmf, pld_pmf.SparsePLDPmf):
        items = pmf._loss_probs
        if not items:
            return DirectionPld(pmf._discretization, 0, np.zeros(1), pmf._infinity_mass)
        low, high = min(items), max(items)
        probs = np.zeros(high - low + 1)
        for index, prob in items.items():
            probs[index - low] += prob
        return DirectionPld(pmf._discretization, low, probs, pmf._infinity_mass)
    raise TypeError(f"unexpected PLD PMF type {type(pmf).__name__}")


# --- composition -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ComposedDirection:
    """A composed direction on a finite window, with the mass it may have missed added to δ."""

    h: float
    lower: int
    probs: FloatArray
    infinity: float
    slack: float
    """Chernoff bound on mass above the window plus FFT round-off: added to every δ."""
    roundoff: float = 0.0
    """The FFT round-off part of ``slack``."""

    def delta(self, epsilon: float) -> float:
        epsilon = max(epsilon, 0.0)  # the window keeps losses above 0 only
        losses = (self.lower + np.arange(self.probs.size)) * self.h
        above = losses > epsilon
        weights = -np.expm1(epsilon - losses[above])
        return float(min(1.0, self.infinity + self.slack + (weights * self.probs[above]).sum()))

    def epsilon(self, delta: float) -> float:
        fixed = self.infinity + self.slack
        if fixed >= delta:
            return math.inf
        probs = self.probs
        losses = (self.lower + np.arange(probs.size)) * self.h
        # Suffix sums S1_k = Σ_{j≥k} p_j and S2_k = Σ_{j≥k} p_j e^{−l_j}, scaled by e^{l_top} so
        # nothing overflows; δ at ε ∈ [l_{k−1}, l_k) is fixed + S1_k − e^ε S2_k.
        top = losses[-1]
        s1 = np.cumsum(probs[::-1])[::-1]
        s2 = np.cumsum((probs * np.exp(np.clip(top - losses, None, 700.0)))[::-1])[::-1]
        # δ at the grid point ε = l_k uses the bins strictly above it (suffix from k + 1).
        s1_next = np.append(s1[1:], 0.0)
        s2_next = np.append(s2[1:], 0.0)
        with np.errstate(over="ignore"):
            at_grid = fixed + s1_next - np.exp(np.clip(losses - top, -700.0, 700.0)) * s2_next
        ok = np.nonzero(at_grid <= delta)[0]
        if ok.size == 0:
            return math.inf  # cannot happen once the window's top carries no mass; be safe
        k = int(ok[0])
        if k == 0:
            candidate = _solve_epsilon(fixed + s1[0], s2[0], top, delta)
            return max(0.0, min(candidate, float(losses[0])))
        # On (l_{k−1}, l_k] the bins above ε are j ≥ k.
        candidate = _solve_epsilon(fixed + s1[k], s2[k], top, delta)
        return max(0.0, float(min(max(candidate, losses[k - 1]), losses[k])))


def _solve_epsilon(total: float, scaled_s2: float, top: float, delta: float) -> float:
    # total − e^ε·S2 = δ with S2 = scaled_s2·e^{−top}: ε = top + log((total − δ)/scaled_s2).
    if scaled_s2 <= 0:
        return -math.inf
    return top + math.log(max(total - delta, 1e-300) / scaled_s2)


def compose_direction(
    parts: Sequence[tuple[DirectionPld, int]], precise: bool = False
) -> ComposedDirection:
    """Compose ``count`` copies of each direction PLD (all on one grid); in extended precision
    if ``precise`` (and the platform has it)."""
    return _compose(tuple(parts), precise and _HAS_EXTENDED)


def compose_for(parts: Sequence[tuple[DirectionPld, int]], delta: float) -> ComposedDirection:
    """The composition of ``parts`` for a question at ``delta``: redone in extended precision
    when its double-precision round-off bound is more than :data:`PRECISE_FRACTION` of ``delta``
    (at δ = 1e-10 the double bound, ~5e-11, would otherwise cost a few % of ε)."""
    composed = compose_direction(parts)
    if needs_precision(composed, delta):
        return compose_direction(parts, precise=True)
    return composed


def needs_precision(composed: ComposedDirection, delta: float) -> bool:
    """Whether ``composed``'s round-off bound is a noticeable part of ``delta`` (and extended
    precision would shrink it)."""
    return _HAS_EXTENDED and composed.roundoff > PRECISE_FRACTION * delta


@lru_cache(maxsize=32)
def _compose(parts: tuple[tuple[DirectionPld, int], ...], precise: bool) -> ComposedDirection:
    # Cached: the gate and the report ask about the same compositions (ε at δ, then the whole
    # profile). Single-step PLDs are cached and hashed by identity, so equal keys are equal PLDs.
    h = parts[0][0].h
    if any(abs(part.h - h) > 1e-15 * h for part, _ in parts):
        raise ValueError("all PLDs of one composition must share a discretisation interval")
    if len(parts) == 1 and parts[0][1] == 1:
        single = parts[0][0]  # nothing to compose: no window, no round-off
        first = max(single.lower, 0)
        probs = single.probs[first - single.lower :]
        if probs.size == 0:
            probs = np.zeros(1)
        return ComposedDirection(h, first, probs, single.infinity, 0.0)
    survive = 1.0
    for part, count in parts:
        survive *= (1.0 - part.infinity) ** count
    infinity = 1.0 - survive
    mean = sum(count * part.mean for part, count in parts)
    sd = math.sqrt(sum(count * part.var for part, count in parts))
    log_mgf: FloatArray = np.sum([count * part.log_mgf for part, count in parts], axis=0)
    top = _upper_edge(mean, sd, log_mgf)
    bottom = _lower_edge(mean, sd, log_mgf)
    widest = max(part.size for part, _ in parts)
    # No margin beyond the Chernoff edges is needed for soundness: mass below `bottom` aliases
    # upwards (overstating δ) and mass above `top` is bounded and added to δ. A margin of two
    # step widths (as before) only made the transforms 2-3× longer.
    n = next_fast_len(max(math.ceil((top - bottom) / h) + 2, widest))
    offset = sum(count * part.lower for part, count in parts)
    spectrum: Any = None
    transforms = []
    for part, count in parts:
        transformed = _spectrum(part, n, precise)
        transforms.append((transformed, count))
        powered = transformed if count == 1 else transformed**count
        spectrum = powered if spectrum is None else spectrum * powered
    circular = np.fft.irfft(spectrum, n)
    amplified = _amplification(spectrum, transforms)
    return _window(circular, offset, top, h, n, log_mgf, infinity, len(parts), precise, amplified)


def _amplification(spectrum: Any, transforms: Sequence[tuple[Any, int]]) -> float:
    """An upper bound on ‖a‖₂ over the whole (Hermitian) spectrum, a_k = |P_k|·Σ_i c_i/|z_ik|:
    how much the forward transforms' per-bin errors grow in P = Π z_i^{c_i}.

    A perturbation dz_i of z_i moves P by P·Σ_i c_i·dz_i/z_i (first order), so a bin's error
    grows by up to a_k: large only where |P_k| is not negligible (the low frequencies), and
    there up to Σ c_i. The error of a T-step composition grows with T, which a bound on the
    transforms alone misses (at 10⁶ steps by 2.5×, measured against extended precision).

    One pass: |z_ik| ≤ 1 gives |P_k| ≤ |z_ik|^{c_i}, so |P_k|/|z_ik| ≤ |P_k|^{1−1/c_i}, which
    is ≤ |P_k|^{1/2} for c_i ≥ 2 and ≤ 1 for c_i = 1; by the triangle inequality
    ‖a‖₂ ≤ (Σ_{c_i≥2} c_i)·(Σ_k |P_k|)^{1/2} + #{c_i = 1}·√N. For a spectrum of Gaussian
    shape that is only 2^{1/4} above the exact norm.
    """
    repeated = sum(count for _, count in transforms if count >= 2)
    single = sum(1 for _, count in transforms if count == 1)
    n = 2 * (spectrum.size - 1)
    # The half spectrum of rfft stands for both halves: twice its sum bounds the whole's.
    mass = 2.0 * float(np.abs(spectrum).astype(np.float64).sum())
    return repeated * math.sqrt(mass) + single * math.sqrt(n)


def compose_direction_curve(
    part: DirectionPld, counts: Sequence[int], precise: bool = False
) -> list[ComposedDirection]:
    """``part`` composed ``c`` times for every ``c`` in ``counts``: one forward transform, one
    inverse transform per count; in extended precision if ``precise`` (and the platform has
    it)."""
    precise = precise and _HAS_EXTENDED
    if not counts:
        return []
    largest = max(counts)
    sd_max = math.sqrt(largest * part.var)
    top_max = _upper_edge(largest * part.mean, sd_max, largest * part.log_mgf)
    bottom_max = _lower_edge(largest * part.mean, sd_max, largest * part.log_mgf)
    n = next_fast_len(max(math.ceil((top_max - bottom_max) / part.h) + 2, part.size))
    transformed = _spectrum(part, n, precise)
    growth = _CurveAmplification(np.abs(transformed).astype(np.float64), sorted(set(counts)))
    # Walk the counts in increasing order multiplying by F^(difference): checkpoints are usually
    # evenly spaced, so a handful of cached powers serve a thousand of them (the relative error
    # grows by one rounding per multiplication, ~1e-13 after a thousand).
    powers: dict[int, Any] = {}
    results: dict[int, ComposedDirection] = {}
    current: Any = None
    previous = 0
    for count in sorted(set(counts)):
        step = count - previous
        if step not in powers:
            powers[step] = transformed if step == 1 else transformed**step
        current = powers[step] if current is None else current * powers[step]
        previous = count
        survive = (1.0 - part.infinity) ** count
        log_mgf = count * part.log_mgf
        top = _upper_edge(count * part.mean, math.sqrt(count * part.var), log_mgf)
        circular = np.fft.irfft(current, n)
        results[count] = _window(
            circular,
            count * part.lower,
            top,
            part.h,
            n,
            log_mgf,
            1.0 - survive,
            len(results) + 1,
            precise,
            growth.at_most(count),
        )
    return [results[count] for count in counts]


class _CurveAmplification:
    """Upper bounds on :func:`_amplification` of z^c for every count c of a curve, from a
    few passes over the spectrum instead of one a count.

    For one part a_k = c·|z_k|^{c−1}, so ‖a‖₂² = c²·S(c − 1) with S(m) = Σ_k |z_k|^{2m},
    which does not increase with m (|z_k| ≤ 1 for a probability vector, up to round-off,
    clipped). S is evaluated at ~24 geometric anchors; a count uses the largest anchor at or
    below c − 1, whose S is at least its own."""

    def __init__(self, magnitude: FloatArray, counts: Sequence[int]) -> None:
        log_magnitude = np.log(np.clip(magnitude, 1e-300, 1.0))
        largest = max(max(counts) - 1, 0)
        anchors = sorted({0, *np.unique(np.geomspace(1, max(largest, 1), 24).astype(int))})
        self._anchors = np.array(anchors)
        # Both halves of the Hermitian spectrum: twice the half's sum (an upper bound).
        self._sums = np.array([2.0 * float(np.exp(2.0 * m * log_magnitude).sum()) for m in anchors])

    def at_most(self, count: int) -> float:
        index = int(np.searchsorted(self._anchors, count - 1, side="right")) - 1
        return count * math.sqrt(float(self._sums[max(index, 0)]))


def next_fast_len(target: int) -> int:
    """The smallest 5-smooth integer (2^a·3^b·5^c) ≥ ``target``: scipy.fft.next_fast_len's
    answer for real transforms, where pocketfft is fastest. numpy.fft (the same pocketfft, and
    bit for bit the same results on one 1-D array, for which scipy's ``workers`` has nothing to
    split) is used instead of scipy.fft because it costs ~1 ms to import instead of ~30 ms."""
    if target <= 6:
        return max(int(target), 1)
    best = 1 << (int(target) - 1).bit_length()  # a power of two is always a candidate
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            # Smallest power of two lifting power35 to at least target.
            quotient = -(-target // power35)
            candidate = power35 << (quotient - 1).bit_length()
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best


def _spectrum(part: DirectionPld, n: int, precise: bool = False) -> Any:
    return _cached_spectrum(part, n, precise)


@lru_cache(maxsize=256)
def _cached_spectrum(part: DirectionPld, n: int, precise: bool) -> Any:
    if part.size > n:
        raise ValueError("FFT window smaller than one step's PLD")
    # numpy ≥ 2's pocketfft transforms long double arrays in long double (twiddles included).
    probs = part.probs.astype(np.longdouble) if precise else part.probs
    return np.fft.rfft(probs, n)


def _window(
    circular: FloatArray,
    offset: int,
    top: float,
    h: float,
    n: int,
    log_mgf: FloatArray,
    infinity: float,
    multiplications: int = 1,
    precise: bool = False,
    amplified: float = 0.0,
) -> ComposedDirection:
    # circular[k] holds loss index offset + k (mod n). Place the window so its top is at `top`.
    top_index = math.ceil(top / h)
    start = top_index - (n - 1)
    # Only losses above 0 matter: every ε asked for is ≥ 0 and δ(ε) sums over losses above ε.
    first = max(start, 0)
    positions = (np.arange(first, top_index + 1) - offset) % n
    probs = np.clip(circular[positions], 0.0, None).astype(np.float64)
    above = _upper_tail(log_mgf, top_index * h)
    # Round-off of FFT convolution: the computed result differs from the exact one by at most
    # ~(2·log₂N + k)·c·ulp in the 2-norm for k multiplied spectra of vectors of 1-norm ≤ 1
    # (Higham 2002, Accuracy and Stability of Numerical Algorithms, Thm. 24.2), hence by
    # √N times that in the 1-norm a δ can weigh. c = 8 is a generous constant. In extended
    # precision the same bound holds with its ulp, plus the rounding of the result to double
    # (≤ ulp/2 of each bin, so ≤ one double ulp in total).
    # The forward transforms' errors, amplified by the powers (see _amplification), add
    # ‖a‖₂·(per-bin error of a transform of a 1-norm-1 vector, ≤ c·log₂N·ulp) to the 1-norm,
    # since the unnormalised inverse transform maps a 2-norm of ‖E‖₂ to a 1-norm ≤ ‖E‖₂.
    unit = _EXTENDED_ULP if precise else _ULP
    log_n = max(1.0, math.log2(n))
    roundoff = 8.0 * unit * (math.sqrt(n) * (2.0 * log_n + multiplications) + log_n * amplified)
    if precise:
        roundoff += _ULP
    return ComposedDirection(h, first, probs, infinity, above + roundoff, roundoff)


def _upper_tail(log_mgf: FloatArray, b: float) -> float:
    """Chernoff: P(S > b) ≤ min_{t>0} E[e^{tS}] e^{−tb} (over the finite part)."""
    positive = log_mgf[: _CHERNOFF_T.size]
    exponent = np.min(positive - _CHERNOFF_T * b)
    return float(math.exp(min(exponent, 0.0)))


def _lower_tail(log_mgf: FloatArray, a: float) -> float:
    negative = log_mgf[_CHERNOFF_T.size :]
    exponent = np.min(negative + _CHERNOFF_T * a)
    return float(math.exp(min(exponent, 0.0)))


def _upper_edge(mean: float, sd: float, log_mgf: FloatArray) -> float:
    """Smallest b with a Chernoff bound ≤ TAIL_BOUND on P(S > b): min_t (log M(t) − log τ)/t."""
    positive = log_mgf[: _CHERNOFF_T.size]
    with np.errstate(invalid="ignore"):
        candidates = (positive - math.log(TAIL_BOUND)) / _CHERNOFF_T
    candidates = candidates[np.isfinite(candidates)]
    if candidates.size == 0:
        raise ArithmeticError("no finite Chernoff bound on the privacy-loss tail")
    return max(float(candidates.min()), mean + sd)


def _lower_edge(mean: float, sd: float, log_mgf: FloatArray) -> float:
    # Only sizes the window (mass below it aliases to the top, which overstates δ): not soundness.
    negative = log_mgf[_CHERNOFF_T.size :]
    with np.errstate(invalid="ignore"):
        candidates = (math.log(TAIL_BOUND) - negative) / _CHERNOFF_T
    candidates = candidates[np.isfinite(candidates)]
    if candidates.size == 0:
        return mean - 40 * max(sd, 1e-3)
    return min(float(candidates.max()), mean - sd)


def _log_mgf(log_p: FloatArray, losses: FloatArray) -> FloatArray:
    """log Σ_j e^{log p_j + t·l_j} at t = ±_CHERNOFF_T, each a log-sum-exp shifted by its
    largest term (finite p_j only), in one scratch buffer: the sizes of a DP-SGD step's PLD
    (10⁵ bins) make the passes over memory the cost."""
    ts = np.concatenate([_CHERNOFF_T, -_CHERNOFF_T])
    if log_p.size == 0:
        return np.full(ts.size, -math.inf)
    scratch = np.empty_like(log_p)
    out = np.empty(ts.size)
    for index, t in enumerate(ts):
        np.multiply(losses, t, out=scratch)
        scratch += log_p
        peak = float(scratch.max())
        scratch -= peak
        np.exp(scratch, out=scratch)
        out[index] = peak + math.log(float(scratch.sum()))
    return out


# --- questions ---------------------------------------------------------------------------------


def epsilon(components: Sequence[tuple[MechanismPld, int]], delta: float) -> float:
    """ε(δ) of the sequential composition of ``count`` copies of each release."""
    if not components:
        return 0.0
    if any(m.non_private for m, _ in components):
        return math.inf
    return max(_each_direction(components, lambda parts: compose_for(parts, delta).epsilon(delta)))


def delta(components: Sequence[tuple[MechanismPld, int]], epsilon_: float) -> float:
    """δ(ε) of the sequential composition."""
    if not components:
        return 0.0
    if any(m.non_private for m, _ in components):
        return 1.0
    return max(_each_direction(components, lambda parts: _delta_of(parts, epsilon_)))


def _delta_of(parts: list[tuple[DirectionPld, int]], epsilon_: float) -> float:
    composed = compose_direction(parts)
    found = composed.delta(epsilon_)
    if needs_precision(composed, found):
        return compose_direction(parts, precise=True).delta(epsilon_)
    return found


def _each_direction(
    components: Sequence[tuple[MechanismPld, int]],
    question: Callable[[list[tuple[DirectionPld, int]]], float],
) -> list[float]:
    """``question`` of each direction's parts (which it composes). The two directions of a
    subsampled release are independent transforms: composed on two threads (numpy's FFTs and
    complex powers release the GIL), so the gate's largest composition takes half the wall
    time."""
    directions = _by_direction(components)
    if len(directions) == 1:
        return [question(directions[0])]
    with ThreadPoolExecutor(max_workers=len(directions)) as pool:
        return list(pool.map(question, directions))


def epsilon_curve(mechanism: MechanismPld, counts: Sequence[int], delta: float) -> FloatArray:
    """ε(δ) after each count of repetitions of one release, from one forward transform."""
    if mechanism.non_private:
        return np.full(len(counts), math.inf)
    curves = []
    for direction in mechanism.directions():
        composed = compose_direction_curve(direction, counts)
        if any(needs_precision(c, delta) for c in composed):
            composed = compose_direction_curve(direction, counts, precise=True)
        curves.append(np.array([c.epsilon(delta) for c in composed]))
    result: FloatArray = np.maximum.reduce(curves)
    return result


def _by_direction(
    components: Sequence[tuple[MechanismPld, int]],
) -> list[list[tuple[DirectionPld, int]]]:
    removes = [(m.remove, c) for m, c in components]
    adds = [(m.add if m.add is not None else m.remove, c) for m, c in components]
    if all(m.add is None for m, _ in components):
        return [removes]
    return [removes, adds]
