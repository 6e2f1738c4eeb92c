"""Vectorised Rényi-DP engine for the Poisson-subsampled Gaussian (and the Laplace) mechanism.

Everything here is an upper bound on the true Rényi divergence; nothing is an estimate.

Mechanism. Poisson subsampling at rate q of the Gaussian mechanism with noise multiplier σ, under
add-or-remove-one neighbours. Its RDP at order α > 1 is (Mironov, Talwar & Zhang 2019, "Rényi
Differential Privacy of the Sampled Gaussian Mechanism" [MTZ19], Sec. 3.3; the add direction is
dominated, their Thm. 5)

    ε(α) = log A_α / (α − 1),  A_α = E_{z∼N(0,σ²)}[(1 − q + q·e^{L(z)})^α],  L(z) = (2z−1)/(2σ²).

Integer α (MTZ19 Sec. 3.3, first display): A_α = Σ_{k=0}^{α} C(α,k) (1−q)^{α−k} q^k e^{c_k},
c_k = (k² − k)/(2σ²). We sum A_α − 1 = Σ_{k≥2} C(α,k)(1−q)^{α−k} q^k expm1(c_k) instead (the
binomial weights sum to 1 and c_0 = c_1 = 0): every term is positive and the sum keeps full
relative accuracy when A_α − 1 is 1e-12 (small q, large σ), where log of the plain sum would not.

Fractional α (MTZ19 Sec. 3.3, A_α = A_0 + A_1 split at z_0 = σ² log(1/q − 1) + 1/2, where
q·e^{L} = 1 − q): two generalised-binomial series with the Gaussian-tail integrals
E[e^{kL} 1{z ≤ z_0}] = e^{c_k} Φ((z_0 − k)/σ) and E[e^{jL} 1{z > z_0}] = e^{c_j} Φ((j − z_0)/σ).
Three changes make the series accurate to rounding and certified:

1. Signs. C(α,k) alternates in sign for k > α. (dp_accounting 0.6's ``_compute_log_a_frac``
   takes log|C(α,k)| and adds every term as positive, which overstates log A_α near α = 1 by
   tens of % (66% at q = 0.05, σ = 4, α = 1.05), and gives up after 1000 terms, dropping the
   order. It also takes log(1 + (A_α − 1)) of a plain sum, so for small A_α − 1 it can fall
   below the truth by ~1e-8 relative; see the tests.)
2. Cancellation-free tails. For the terms past z_0 the large exponents cancel exactly:
   (1−q)^{α−k} q^k e^{c_k} Φ((z_0 − k)/σ) = (1−q)^α e^{−z_0²/(2σ²)} erfcx((k − z_0)/(√2σ))/2,
   and the mirror identity for the second series; we evaluate the right-hand sides (erfcx of a
   positive argument never overflows).
3. Certified truncation. For k ≥ ⌈α⌉, |C(α,k)| = Γ(k−α)/(|Γ(−α)| k!) is a Hausdorff moment sequence
   (Γ(k−α)/Γ(k+1) = B(k−α, α+1)/Γ(α+1) = ∫ t^k t^{−α−1}(1−t)^α dt / Γ(α+1)), and so are the
   Gaussian factors (E[x^k 1{…}] with 0 ≤ x ≤ 1). Their product is completely monotone, so each tail
   is an alternating series Σ_i (−1)^i a_i with completely monotone a. Euler's transformation then
   gives a rigorous enclosure: R = Σ_{m<M} (−Δ)^m a_0 / 2^{m+1} + ρ_M with
   ρ_M ∈ [(−Δ)^M a_0 / 2^{M+1}, (−Δ)^M a_0 / 2^M] (from R = ∫ dμ(t)/(1+t); Hausdorff 1921; Cohen,
   Rodriguez Villegas & Zagier 2000, "Convergence acceleration of alternating series", Sec. 1).
   We sum until the enclosure is narrower than 1e-15 of A_α − 1, and add its upper end.

Like the integer case we sum A_α − 1 directly (subtracting the generalised binomial identity
Σ_k C(α,k)(1−q)^{α−k}q^k = 1, valid for q ≤ 1/2, or its mirror for q > 1/2), so a tiny A_α − 1
keeps its relative accuracy. Every sum also adds a first-order bound on its floating-point error
(each term exp(ℓ) has relative error ≤ 16·u·(|ℓ's summands| + 4), summation ≤ n·u·Σ|terms|;
Higham 2002, "Accuracy and Stability of Numerical Algorithms", eq. (3.4) and Sec. 4.2), so the
returned value is not below the true one by rounding either (u = 2⁻⁵², special functions assumed
accurate to a few ulps; this is a modelled bound, not interval arithmetic).

Fallback: log A_α is convex in α (it is the cumulant generating function of the privacy loss, so
Hölder's inequality applies; van Erven & Harremoës 2014, "Rényi divergence and Kullback–Leibler
divergence", Thm. 11),
so the chord through the integer orders ⌊α⌋ and ⌈α⌉ (log A_1 = 0) is a certified upper bound:
log A_α ≤ (⌈α⌉ − α) log A_⌊α⌋ + (α − ⌊α⌋) log A_⌈α⌉. The fractional result is the minimum of the
series bound and this chord, so it is never NaN and never looser than interpolation.

Conversion to (ε, δ): Canonne, Kamath & Steinke 2020, "The Discrete Gaussian for Differential
Privacy" [CKS20], Prop. 12 (= Balle, Barthe, Gaboardi, Hsu & Sato 2020, "Hypothesis testing
interpretations and Rényi DP", Thm. 21), the conversion dp_accounting uses, applied at every order
(dp_accounting skips α ≤ 1.01), plus the same Bretagnolle–Huber bound δ(0) = TV ≤ √(1 − e^{−KL})
with KL ≤ D_α (van Erven & Harremoës 2014, Thm. 3) that dp_accounting uses for ε = 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import special

from privaudit.errors import InputError

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

_EPS = float(np.finfo(np.float64).eps)
_LOG2 = math.log(2.0)
_EULER_TERMS = 8
"""M: differences used in Euler's enclosure of each alternating tail (needs terms N+1..N+M+1)."""
_SERIES_RTOL = 1e-15
"""Stop a fractional series when its tail enclosure is narrower than this fraction of A_α − 1."""
_SERIES_CAP = 8192
"""Most terms summed for a fractional order; past it the (still valid) enclosure is used as is."""
_CHUNK_ELEMENTS = 2_000_000
"""Work-array size (pairs × orders × terms) per step of the fractional series."""


def _default_orders() -> FloatArray:
    # dp_accounting's defaults (rdp_privacy_accountant.DEFAULT_RDP_ORDERS): 1.1..10.9 step 0.1,
    # 11..63, 128, 256, 512, 1024. Added, and why:
    # - 1.01..1.09: heavily composed, low-noise runs (ε ≳ 10) have their optimal order just above 1;
    #   dp_accounting's conversion refuses α ≤ 1.01, CKS20 Prop. 12 holds for every α > 1.
    # - 64..124 step 4 and 160..960 in coarse steps: dp_accounting jumps 63 → 128 → 256 → ..., and
    #   the conversion term log(1/δ)/(α − 1) changes fast there, so DP-SGD runs with small
    #   ε (large σ, few steps, δ ~ 1e-6..1e-10) lose up to a few % of ε between grid points.
    # - 2048, 3072, 4096: very small total RDP (tiny q, few steps) has its optimum beyond 1024.
    # 194 orders; the engine's cost is dominated by the fractional orders below 11 and the
    # integer sums (α + 1 terms each), both cheap.
    parts = [
        np.round(np.arange(1.01, 1.095, 0.01), 2),
        np.round(np.arange(1.1, 10.95, 0.1), 1),
        np.arange(11.0, 64.0),
        np.arange(64.0, 128.0, 4.0),
        np.array([128.0, 160.0, 192.0, 224.0, 256.0, 320.0, 384.0, 448.0, 512.0]),
        np.array([640.0, 768.0, 896.0, 1024.0, 1536.0, 2048.0, 3072.0, 4096.0]),
    ]
    orders = np.unique(np.concatenate(parts)).astype(np.float64)
    orders.setflags(write=False)
    return orders


DEFAULT_ORDERS: FloatArray = _default_orders()
"""Rényi orders used by default: a superset of dp_accounting's 156 default orders (194 in all)."""


# --------------------------------------------------------------------------------------------
# Validation


def _as_float_array(name: str, value: npt.ArrayLike) -> FloatArray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError("<argument>", name, f"must be numbers; found {value!r}") from error
    if np.isnan(array).any():
        raise InputError("<argument>", name, "must not be NaN")
    return array


def _check_orders(orders: npt.ArrayLike) -> FloatArray:
    array = _as_float_array("orders", orders)
    if array.ndim != 1 or array.size == 0:
        raise InputError("<argument>", "orders", f"must be a non-empty 1-D list; found {orders!r}")
    if not (np.all(array > 1) and np.all(np.isfinite(array))):
        bad = array[~((array > 1) & np.isfinite(array))][0]
        raise InputError("<argument>", "orders", f"must be finite and > 1; found {bad!r}")
    return array


def _check_mechanism(q: npt.ArrayLike, sigma: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    q_array = _as_float_array("sampling_rate", q)
    sigma_array = _as_float_array("noise_multiplier", sigma)
    if not np.all((q_array >= 0) & (q_array <= 1)):
        bad = q_array[~((q_array >= 0) & (q_array <= 1))][0]
        raise InputError("<argument>", "sampling_rate", f"must be in [0, 1]; found {bad!r}")
    if not np.all(sigma_array > 0):
        bad = sigma_array[~(sigma_array > 0)][0]
        raise InputError("<argument>", "noise_multiplier", f"must be > 0; found {bad!r}")
    return q_array, sigma_array


# --------------------------------------------------------------------------------------------
# log A_α


def _log_expm1(x: FloatArray) -> FloatArray:
    """log(expm1(x)) for x > 0, accurate for tiny and for huge x."""
    with np.errstate(over="ignore", divide="ignore"):
        small = np.log(np.expm1(np.minimum(x, 0.5)))
        large = x + np.log1p(-np.exp(-np.maximum(x, 0.5)))
    return np.where(x < 0.5, small, large)


def _log_abs_expm1(x: FloatArray) -> FloatArray:
    """log|expm1(x)| for any real x (−inf at 0)."""
    with np.errstate(divide="ignore"):
        negative = np.log(-np.expm1(np.minimum(x, 0.0)))
    return np.where(x > 0, _log_expm1(np.maximum(x, 1e-300)), negative)


def _log_a_integer(q: FloatArray, sigma: FloatArray, alphas: FloatArray) -> FloatArray:
    """Upper bound on log A_α for integer α ≥ 2 and 0 < q < 1; shape (len(q), len(alphas)).

    A_α − 1 = Σ_{k=2}^{α} C(α,k) (1−q)^{α−k} q^k (e^{c_k} − 1) with c_k = (k²−k)/(2σ²) (MTZ19
    Sec. 3.3 for A_α; the binomial weights sum to 1), summed as a log-sum-exp of positive terms.
    """
    out = np.empty((q.size, alphas.size))
    max_alpha = int(alphas.max()) if alphas.size else 2
    k_all = np.arange(max_alpha + 1, dtype=np.float64)
    gammaln_k = special.gammaln(k_all + 1)
    for column, alpha in enumerate(alphas):
        n = int(alpha)
        index = np.arange(2, n + 1)
        k = k_all[index]
        parts = (gammaln_k[n], gammaln_k[index], gammaln_k[n - index])
        log_binom = parts[0] - parts[1] - parts[2]
        binom_magnitude = parts[0] + parts[1] + parts[2]
        rows_per_block = max(1, _CHUNK_ELEMENTS // (4 * k.size))
        for start in range(0, q.size, rows_per_block):
            rows = slice(start, start + rows_per_block)
            log_q = np.log(q[rows])[:, None]
            log_1mq = np.log1p(-q[rows])[:, None]
            c = (k * k - k) * (0.5 / sigma[rows] ** 2)[:, None]
            log_expm1_c = _log_expm1(c)
            log_terms = log_binom + (n - k) * log_1mq + k * log_q + log_expm1_c
            largest = log_terms.max(axis=1, keepdims=True)
            log_d = largest[:, 0] + np.log(np.exp(log_terms - largest).sum(axis=1))
            # Rounding: each term exp(ℓ) carries relative error ≤ 16u(|ℓ's summands| + 4); the
            # sum of n positive terms ≤ n·u more (Higham 2002, eq. (3.4), Sec. 4.2).
            magnitude = (
                binom_magnitude
                + np.abs((n - k) * log_1mq)
                + np.abs(k * log_q)
                + c
                + np.abs(log_expm1_c)
            )
            relative = _EPS * (16 * (magnitude.max(axis=1) + np.abs(largest[:, 0]) + 4) + n)
            out[rows, column] = np.logaddexp(0.0, log_d + np.log1p(relative))
    return out


def _euler_upper(window: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Upper bound and width of the enclosure of R = Σ_i (−1)^i a_i for completely monotone a.

    ``window`` holds a_0..a_M on its last axis. R = Σ_{m<M} (−Δ)^m a_0/2^{m+1} + ρ with
    ρ ∈ [(−Δ)^M a_0/2^{M+1}, (−Δ)^M a_0/2^M] (Euler's transformation; CRVZ00 Sec. 1). Returns
    (lower, upper) of R, each already widened by the rounding of the differences (each (−Δ)^m a_0
    is off by ≤ 2^m a_0 (m+1) u, i.e. ≤ a_0 (m+1) u / 2 after the division).
    """
    m_total = window.shape[-1] - 1
    differences = window
    partial = np.zeros(window.shape[:-1])
    for m in range(m_total):
        partial = partial + differences[..., 0] / 2.0 ** (m + 1)
        differences = differences[..., :-1] - differences[..., 1:]
    last = np.maximum(differences[..., 0], 0.0)
    a0 = window[..., 0]
    slack = a0 * _EPS * (m_total + 1) ** 2
    lower = partial + last / 2.0 ** (m_total + 1) - slack
    upper = partial + last / 2.0**m_total + slack
    return np.maximum(lower, 0.0), upper


def _series_side(
    x: FloatArray, inner: FloatArray, sigma: FloatArray, log_rho: FloatArray, kappa: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """One side of the MTZ19 series at index x, with inner = ±(z_0 − x) (see _log_a_fractional).

    Returns g(x), ℓ = log(T/I) = g(x) − x log ρ, and the absolute-error scales (in units of u) of
    both. Both branches come from one erfcx: Φ(w) = 1 − erfcx(w/√2) e^{−w²/2}/2 for w > 0 and
    Φ(−w) = erfcx(w/√2) e^{−w²/2}/2, so e^{c_x + x log ρ} Φ(−w) = e^{−κ} erfcx(w/√2)/2 exactly.
    """
    u = np.abs(inner) / (math.sqrt(2) * sigma)
    e = special.erfcx(u)
    log_e = np.log(e)
    with np.errstate(under="ignore"):
        log_phi = np.log1p(-0.5 * e * np.exp(-u * u))  # log Φ(|inner|/σ)
    c = (x * x - x) / (2 * sigma * sigma)
    is_head = inner > 0
    g = np.where(is_head, x * log_rho + c + log_phi, -kappa + log_e - _LOG2)
    ratio = np.where(is_head, c + log_phi, g - x * log_rho)
    err_g = np.where(is_head, np.abs(x * log_rho) + c - log_phi, kappa + np.abs(log_e) + 1)
    err_ratio = np.where(is_head, c - log_phi, err_g + np.abs(x * log_rho))
    return g, ratio, err_g, err_ratio


def _log_a_fractional(
    q: FloatArray, sigma: FloatArray, alphas: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Upper bound on log A_α for fractional α and 0 < q < 1, by the MTZ19 series.

    Returns (log_a, width): the certified upper bound (``inf`` where the series gave nothing
    usable) and the width of the truncation enclosure relative to A_α − 1. Shapes (P, F).
    Terms are summed after division by e^s, s = max(0, largest log-term of the first block),
    so A_α far beyond the float range (e^{700}) neither overflows nor underflows.

    Series (MTZ19 Sec. 3.3), with L = log, ρ = q/(1−q), z_0 = σ² log(1/ρ) + 1/2, κ = z_0²/(2σ²):
      A_α = Σ_k C(α,k) T0_k + Σ_k C(α,k) T1_k,
      T0_k = (1−q)^{α−k} q^k e^{c_k} Φ((z_0 − k)/σ)            [E of the k-th term on z ≤ z_0]
      T1_k = q^{α−k} (1−q)^k e^{c_j} Φ((j − z_0)/σ), j = α − k  [E of the k-th term on z > z_0]
    Both are (1−q)^α e^{g(x)} with x = k (side 0) or x = j (side 1) and
      g(x) = x L ρ + c_x + L Φ(±(z_0 − x)/σ)                    where ±(z_0 − x) > 0,
      g(x) = −κ + L erfcx(∓(z_0 − x)/(√2σ)) − L 2               otherwise (the exponents cancel).
    Identity terms (the binomial series of (1−q+q)^α = 1): I_k = (1−q)^α e^{x L ρ}, same x.
    The main side (0 if q ≤ 1/2 else 1, where I_k decreases) is summed as C(α,k)(T_k − I_k).
    """
    p_total, f_total = q.size, alphas.size
    m = _EULER_TERMS
    log_q = np.log(q)
    log_1mq = np.log1p(-q)
    log_rho = log_q - log_1mq
    z0 = -(sigma**2) * log_rho + 0.5
    kappa = z0**2 / (2 * sigma**2)
    main_is_0 = q <= 0.5
    ceil_alpha = np.ceil(alphas)

    scale = np.zeros((p_total, f_total))
    upper_out = np.full((p_total, f_total), np.inf)
    width_out = np.full((p_total, f_total), np.inf)
    head = np.zeros((p_total, f_total))  # Σ signed terms, k ≤ N
    head_abs = np.zeros((p_total, f_total))  # Σ |terms|
    head_err = np.zeros((p_total, f_total))  # Σ |terms|·16u(L + 4)
    active = np.arange(p_total)
    k_done = 0
    k_end = int(max(ceil_alpha.max() + m + 2, 40))
    chunk = 64
    while active.size:
        ka = np.arange(k_done, k_end, dtype=np.float64)
        n_head = k_end - m - 1 - k_done  # terms k_done..N go to the head, N = k_end − m − 2
        qa = (slice(None),) if active.size == p_total else (active,)
        lr = log_rho[qa][:, None, None]
        l1 = log_1mq[qa][:, None, None]
        zz = z0[qa][:, None, None]
        sg = sigma[qa][:, None, None]
        kp = kappa[qa][:, None, None]
        m0 = main_is_0[qa][:, None, None]
        al = alphas[None, :, None]

        # Coefficients C(α, k): magnitude, sign ((−1)^{k−⌈α⌉} past α), rounding magnitude.
        kk = ka[None, None, :]
        g_a, g_k, g_ak = (
            special.gammaln(al + 1),
            special.gammaln(kk + 1),
            special.gammaln(al - kk + 1),
        )
        log_c = g_a - g_k - g_ak
        sign_c = np.where((kk < al) | (np.mod(kk - ceil_alpha[None, :, None], 2) == 0), 1.0, -1.0)
        err_c = np.abs(g_a) + np.abs(g_k) + np.abs(g_ak)

        g0, ratio0, err0, err_ratio0 = _series_side(kk, zz - kk, sg, lr, kp)  # (P, 1, C)
        x1 = al - kk
        g1, ratio1, err1, err_ratio1 = _series_side(x1, x1 - zz, sg, lr, kp)  # (P, F, C)
        base = al * l1  # log (1−q)^α, (P, F, 1)
        log_t0 = base + g0
        log_t1 = base + g1
        log_i = base + np.where(m0, kk * lr, x1 * lr)
        log_t_main = np.where(m0, log_t0, log_t1)
        log_t_other = np.where(m0, log_t1, log_t0)
        ratio_main = np.where(m0, ratio0, ratio1)
        err_common = err_c + np.abs(base)
        err_identity = err_common + np.abs(log_i - base)  # of log |C| I_k
        err_main = err_common + np.where(m0, err0, err1)  # of log |C| T_k, main side
        err_other = err_common + np.where(m0, err1, err0)
        err_ratio = np.where(m0, err_ratio0, err_ratio1)  # absolute error scale of ℓ
        if k_done == 0:
            # Largest term ≈ max(1, A_α): later blocks only hold the decreasing tails.
            largest = log_c + np.maximum(np.maximum(log_t_main, log_i), log_t_other)
            scale[:] = np.maximum(largest.max(axis=-1), 0.0)
        sc = scale[qa][:, :, None]

        with np.errstate(under="ignore", over="ignore"):
            # Head: C(α,k)(T_k − I_k) on the main side + C(α,k) T1_k on the other.
            h = slice(0, n_head)
            diff = (
                sign_c[..., h]
                * np.sign(ratio_main[..., h])
                * np.exp(log_c[..., h] + log_i[..., h] + _log_abs_expm1(ratio_main[..., h]) - sc)
            )
            other = sign_c[..., h] * np.exp(log_c[..., h] + log_t_other[..., h] - sc)
            # Rounding of C(T − I) = C·I·expm1(ℓ): ℓ is off by ≤ 16u·err_ratio in absolute
            # terms, which moves the term by ≤ |C|·max(I, T)·16u·err_ratio; the factors C·I
            # carry relative error ≤ 16u(err_identity + 4).
            scale_main = np.exp(log_c[..., h] + np.maximum(log_t_main[..., h], log_i[..., h]) - sc)
            mag_main = np.abs(diff)
            mag_other = np.abs(other)
            head[active] += diff.sum(axis=-1) + other.sum(axis=-1)
            head_abs[active] += mag_main.sum(axis=-1) + mag_other.sum(axis=-1)
            head_err[active] += (
                16
                * _EPS
                * (
                    (scale_main * err_ratio[..., h]).sum(axis=-1)
                    + (mag_main * (err_identity[..., h] + 4)).sum(axis=-1)
                    + (mag_other * (err_other[..., h] + 4)).sum(axis=-1)
                )
            )

            # Tails from N+1: three alternating series with completely monotone magnitudes.
            w = slice(n_head, None)
            s_first = sign_c[..., n_head]  # sign of C(α, N+1) (shape (1, F))
            tails_upper = np.zeros(head[active].shape)
            tails_width = np.zeros(head[active].shape)
            for log_mag, sign, err in (
                (log_t_main[..., w], s_first, err_main[..., w]),
                (log_i[..., w], -s_first, err_identity[..., w]),
                (log_t_other[..., w], s_first, err_other[..., w]),
            ):
                window = np.exp(log_c[..., w] + log_mag - sc)
                lower, upper = _euler_upper(window)
                rounding = window[..., 0] * 16 * _EPS * (err.max(axis=-1) + 4) * (m + 1)
                tails_upper += np.where(sign > 0, upper + rounding, -lower + rounding)
                tails_width += upper - lower

        n_terms = k_end - m - 1
        estimate = head[active] + tails_upper
        summation = _EPS * n_terms * (head_abs[active] + np.abs(tails_upper))
        bound = estimate + head_err[active] + summation
        eligible = (k_end - m - 1 >= ceil_alpha)[None, :]  # N + 1 ≥ ⌈α⌉: tails alternate
        finite = np.isfinite(bound) & (bound > 0)
        converged = eligible & finite & (tails_width <= _SERIES_RTOL * np.abs(bound))
        capped = k_end - m - 1 >= _SERIES_CAP + ceil_alpha.max()
        record = converged | (capped & eligible)
        rows = active[:, None]
        undecided = ~np.isfinite(upper_out[rows, np.arange(f_total)[None, :]])
        take = record & undecided
        upper_out[rows, np.arange(f_total)[None, :]] = np.where(
            take, np.where(finite, bound, np.inf), upper_out[rows, np.arange(f_total)[None, :]]
        )
        width_out[rows, np.arange(f_total)[None, :]] = np.where(
            take, tails_width, width_out[rows, np.arange(f_total)[None, :]]
        )
        still = np.isinf(upper_out[active]).any(axis=1) & ~capped
        active = active[still]
        k_done = k_end - m - 1
        k_end = k_done + chunk + m + 1
        chunk = min(chunk * 2, 1024)
        elements = active.size * f_total * (k_end - k_done)
        if elements > _CHUNK_ELEMENTS and active.size:
            k_end = k_done + max(m + 2, _CHUNK_ELEMENTS // max(active.size * f_total, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        # log A = s + log(e^{−s} + (A − 1)e^{−s}); 8u covers the log, exp and additions.
        log_a = (scale + np.logaddexp(-scale, np.log(upper_out))) * (1 + 8 * _EPS)
    usable = np.isfinite(log_a) & (upper_out > 0)
    return np.where(usable, log_a, np.inf), width_out / np.where(usable, upper_out, 1.0)


def _fractional_blocks(pairs: int, alphas: FloatArray) -> list[tuple[slice, IndexArray]]:
    """Split (pairs × fractional orders) so the first block of every series (⌈α⌉ + M + 2 terms,
    which holds its largest term) stays within ``_CHUNK_ELEMENTS``; orders are grouped by size."""

    def width(order: float) -> int:
        return math.ceil(order) + _EULER_TERMS + 2 + 64

    batches: list[list[int]] = []
    for column in np.argsort(alphas):
        batch = batches[-1] if batches else None
        if (
            batch is not None
            and pairs * (len(batch) + 1) * width(alphas[column]) <= _CHUNK_ELEMENTS
        ):
            batch.append(int(column))
        else:
            batches.append([int(column)])
    blocks: list[tuple[slice, IndexArray]] = []
    for batch in batches:
        columns = np.array(batch)
        rows = max(1, _CHUNK_ELEMENTS // (len(batch) * width(float(alphas[columns].max()))))
        blocks.extend((slice(start, start + rows), columns) for start in range(0, pairs, rows))
    return blocks


def log_a_subsampled_gaussian(
    q: npt.ArrayLike, sigma: npt.ArrayLike, orders: npt.ArrayLike
) -> FloatArray:
    """Upper bound on log A_α of the Poisson-subsampled Gaussian, shape S + (K,).

    ``q`` and ``sigma`` broadcast to S; ``orders`` has shape (K,), every order finite and > 1.
    q = 0 gives 0; q = 1 gives the Gaussian's α(α−1)/(2σ²) (Mironov 2017, Prop. 7).
    """
    q_array, sigma_array = _check_mechanism(q, sigma)
    alphas = _check_orders(orders)
    q_b, sigma_b = np.broadcast_arrays(q_array, sigma_array)
    shape = q_b.shape
    q_flat = q_b.reshape(-1)
    sigma_flat = sigma_b.reshape(-1)
    out = np.zeros((q_flat.size, alphas.size))

    full = (q_flat == 1) & np.isfinite(sigma_flat)
    # q = 1: A_α = E[e^{αL}] = e^{α(α−1)/(2σ²)} (Gaussian moment generating function).
    out[full] = alphas[None, :] * (alphas[None, :] - 1) / (2 * sigma_flat[full, None] ** 2)
    inner = (q_flat > 0) & (q_flat < 1) & np.isfinite(sigma_flat)
    if inner.any():
        # One computation per distinct (q, σ).
        pairs = np.stack([q_flat[inner], sigma_flat[inner]], axis=1)
        unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
        out[inner] = _log_a_pairs(unique[:, 0], unique[:, 1], alphas)[inverse.reshape(-1)]
    return out.reshape((*shape, alphas.size))


def _log_a_pairs(q: FloatArray, sigma: FloatArray, alphas: FloatArray) -> FloatArray:
    """log A_α upper bounds for 0 < q < 1, distinct pairs; shape (P, K)."""
    integer = alphas == np.floor(alphas)
    fractional = ~integer
    needed = np.unique(
        np.concatenate([alphas[integer], np.floor(alphas[fractional]), np.ceil(alphas[fractional])])
    )
    needed = needed[needed >= 2]
    log_a_int = _log_a_integer(q, sigma, needed)
    lookup = {float(a): i for i, a in enumerate(needed)}
    out = np.empty((q.size, alphas.size))
    for column in np.flatnonzero(integer):
        out[:, column] = log_a_int[:, lookup[float(alphas[column])]]
    if fractional.any():
        frac = alphas[fractional]
        lo, hi = np.floor(frac), np.ceil(frac)

        def at(order: float) -> FloatArray:
            return np.zeros(q.size) if order == 1 else log_a_int[:, lookup[order]]

        low = np.stack([at(float(a)) for a in lo], axis=1)
        high = np.stack([at(float(a)) for a in hi], axis=1)
        # Convexity of log A_α in α (van Erven & Harremoës 2014, Thm. 11): the chord bounds it.
        theta = (frac - lo)[None, :]
        chord = (1 - theta) * low + theta * high
        chord = chord * (1 + 4 * _EPS)
        series = np.empty_like(chord)
        for rows, columns in _fractional_blocks(q.size, frac):
            block, _ = _log_a_fractional(q[rows], sigma[rows], frac[columns])
            series[rows, columns] = block
        out[:, fractional] = np.minimum(series, chord)
    return out


def rdp_subsampled_gaussian(
    q: npt.ArrayLike, sigma: npt.ArrayLike, orders: npt.ArrayLike = DEFAULT_ORDERS
) -> FloatArray:
    """Per-step RDP ε(α) = log A_α / (α − 1) of the Poisson-subsampled Gaussian, shape S + (K,)."""
    alphas = _check_orders(orders)
    log_a = log_a_subsampled_gaussian(q, sigma, alphas)
    return log_a / (alphas - 1) * (1 + 2 * _EPS)


# --------------------------------------------------------------------------------------------
# Conversion


def rdp_laplace(scale: float, orders: Sequence[float]) -> FloatArray:
    """RDP of one Laplace release with scale ``scale`` relative to the L1 sensitivity
    (add-or-remove-one), at each order.

    Mironov 2017 ("Rényi Differential Privacy", CSF), Prop. 6: for α > 1 and ε = 1/b,

        ε(α) = 1/(α−1) · log(α/(2α−1)·e^{(α−1)ε} + (α−1)/(2α−1)·e^{−αε}).

    Taking e^{(α−1)ε} out of the log (log space, nothing can overflow) gives

        ε(α) = ε + log1p((α−1)/(2α−1) · expm1(−(2α−1)ε)) / (α−1),

    where the log1p argument lies in (−½, 0]. This is dp_accounting 0.6's ``_laplace_rdp``
    (rdp_privacy_accountant.py), reproduced operation for operation, including its Taylor series
    for 1 < α < 1.1 (log1p(c·x)/x = c·Σ_{k≥1} (−c·x)^{k−1}/k with |c·x| ≤ 0.1, summed with fsum),
    so the values are the library's to the last bit; tests compare them. The formula is exact
    (the Laplace mechanism attains it), so it is an upper bound with no slack.
    """
    epsilon = 1 / scale
    if not math.isfinite(epsilon) or epsilon < 0:
        raise ValueError(f"Laplace RDP needs a finite 1/scale; found scale {scale!r}")
    values = np.empty(len(orders))
    for index, order in enumerate(orders):
        a = float(order)
        if not math.isfinite(a) or a < 1:
            raise ValueError(f"RDP order must be >= 1; found {a}")
        if a == 1:
            # KL divergence, the α → 1 limit.
            values[index] = epsilon + math.expm1(-epsilon)
        elif a < 1.1:
            c = math.expm1(epsilon * (1 - 2 * a)) / (2 * a - 1)
            v = -c * (a - 1)
            values[index] = epsilon + c * math.fsum(v ** (k - 1) / k for k in range(1, 100))
        else:
            values[index] = epsilon + math.log1p(
                (a - 1) * math.expm1(epsilon * (1 - 2 * a)) / (2 * a - 1)
            ) / (a - 1)
    return values


def _conversion_inputs(rdp: npt.ArrayLike, orders: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    alphas = _check_orders(orders)
    curve = _as_float_array("rdp", rdp)
    if curve.ndim == 0 or curve.shape[-1] != alphas.size:
        raise InputError(
            "<argument>",
            "rdp",
            f"last axis must have one value per order ({alphas.size}); found shape {curve.shape}",
        )
    if (curve < 0).any():
        raise InputError("<argument>", "rdp", "Rényi divergences must be >= 0")
    return curve, alphas


def epsilon_from_rdp(
    rdp: npt.ArrayLike, orders: npt.ArrayLike, delta: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """ε(δ) from an RDP curve: (ε, optimal order), each of shape broadcast(S, shape(δ)).

    ``rdp`` has shape S + (K,). Per order (CKS20 Prop. 12; Balle et al. 2020, Thm. 21):
        ε(α) = rdp(α) + log1p(−1/α) − (log δ + log α)/(α − 1),
    and ε = 0 wherever δ ≥ √(1 − e^{−rdp(α)}) (Bretagnolle–Huber with KL ≤ D_α, as in
    dp_accounting). ε = min over α, clipped at 0; ``inf`` when no order bounds it (e.g. δ = 0).
    Each ε(α) is raised by 8u times the sum of its parts' magnitudes, a bound on its rounding.
    """
    curve, alphas = _conversion_inputs(rdp, orders)
    deltas = _as_float_array("delta", delta)
    if not np.all((deltas >= 0) & (deltas <= 1)):
        raise InputError("<argument>", "delta", f"must be in [0, 1]; found {delta!r}")
    shape = np.broadcast_shapes(curve.shape[:-1], deltas.shape)
    curve = np.broadcast_to(curve, (*shape, alphas.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_delta = np.log(np.broadcast_to(deltas, shape))[..., None]
        log1p_term = np.log1p(-1 / alphas)
        eps = curve + log1p_term - (log_delta + np.log(alphas)) / (alphas - 1)
        parts = curve - log1p_term + (np.abs(log_delta) + np.log(alphas)) / (alphas - 1)
        eps = eps + 8 * _EPS * parts
        eps = np.where(np.isnan(eps), np.inf, eps)  # rdp = inf with δ = 0
        # Bretagnolle–Huber: TV ≤ √(1 − e^{−KL}), KL ≤ rdp(α); δ ≥ TV allows ε = 0.
        kl_zero = log_delta[..., 0:1] >= 0.5 * np.log(-np.expm1(-curve)) * (1 - 8 * _EPS)
    eps = np.where(kl_zero, 0.0, eps)
    index = np.argmin(eps, axis=-1)
    best = np.take_along_axis(eps, index[..., None], axis=-1)[..., 0]
    return np.maximum(best, 0.0), alphas[index]


def delta_from_rdp(
    rdp: npt.ArrayLike, orders: npt.ArrayLike, epsilon: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """δ(ε) from an RDP curve: (δ, optimal order), each of shape broadcast(S, shape(ε)).

    Per order, the inverse of :func:`epsilon_from_rdp`'s bound (CKS20 Prop. 12):
        log δ(α) = (α − 1)(rdp(α) − ε + log1p(−1/α)) − log α,
    and δ ≤ √(1 − e^{−rdp(α)}) (Bretagnolle–Huber, KL ≤ D_α). δ = min over α, at most 1.
    Each log δ(α) is raised by 8u times the sum of its parts' magnitudes (rounding).
    """
    curve, alphas = _conversion_inputs(rdp, orders)
    epsilons = _as_float_array("epsilon", epsilon)
    if not np.all(epsilons >= 0):
        raise InputError("<argument>", "epsilon", f"must be >= 0; found {epsilon!r}")
    shape = np.broadcast_shapes(curve.shape[:-1], epsilons.shape)
    curve = np.broadcast_to(curve, (*shape, alphas.size))
    eps = np.broadcast_to(epsilons, shape)[..., None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log1p_term = np.log1p(-1 / alphas)
        log_delta = (alphas - 1) * (curve - eps + log1p_term) - np.log(alphas)
        parts = (alphas - 1) * (curve + eps - log1p_term) + np.log(alphas)
        log_delta = np.where(np.isfinite(log_delta), log_delta + 8 * _EPS * parts, log_delta)
        log_delta = np.where(np.isnan(log_delta), np.inf, log_delta)
        log_tv = 0.5 * np.log(-np.expm1(-curve)) * (1 - 8 * _EPS)
    log_delta = np.minimum(log_delta, log_tv)
    index = np.argmin(log_delta, axis=-1)
    best = np.take_along_axis(log_delta, index[..., None], axis=-1)[..., 0]
    return np.minimum(np.exp(best), 1.0), alphas[index]


# --------------------------------------------------------------------------------------------
# Hyperparameter tuning


def rdp_tuning(
    rdp: npt.ArrayLike, orders: Sequence[float], mean: float, shape: float | None
) -> FloatArray:
    """RDP of running a mechanism K times (K random) and releasing only the best run.

    Papernot & Steinke 2022, "Hyperparameter Tuning with Renyi Differential Privacy" (ICLR;
    arXiv:2110.03620v2). ``rdp`` is one run's curve ε(λ) at ``orders``.

    - ``shape`` None: K ~ Poisson(μ = ``mean``), Thm. 6. If the run is (λ, ε)-RDP and
      (ε̂, δ̂)-DP with e^ε̂ ≤ 1 + 1/(λ − 1), the tuned release is (λ, ε')-RDP with
          ε' = ε + μ·δ̂ + log μ / (λ − 1).
      Here ε̂ = log(1 + 1/(λ − 1)) and δ̂ = δ(ε̂) of the run's own RDP curve (CKS20 Prop. 12,
      :func:`delta_from_rdp`).
    - ``shape`` η ≥ 0: K truncated negative binomial (η = 0 logarithmic, η = 1 geometric) with
      E[K] = ``mean``, Thm. 2. If the run is (λ, ε)- and (λ̂, ε̂)-RDP, the tuned release is
          ε' = ε + (1 + η)(1 − 1/λ̂)·ε̂ + (1 + η)·log(1/γ)/λ̂ + log E[K] / (λ − 1),
      minimised over λ̂ among ``orders``; γ solves E[K] = η(1 − γ)/(γ(1 − γ^η)) (η > 0) or
      (1/γ − 1)/log(1/γ) (η = 0) for the given mean. The solved γ is rounded down, so log(1/γ)
      and the log E[K] used are never below the exact ones.

    Rényi divergence is nondecreasing in the order (van Erven & Harremoës 2014, Thm. 3), so each
    order finally takes the smallest bound among the orders at or above it, as dp_accounting's
    RepeatAndSelectDpEvent does.
    """
    alphas = _check_orders(orders)
    curve = _as_float_array("rdp", rdp)
    if curve.shape != alphas.shape or (curve < 0).any():
        raise InputError("<argument>", "rdp", "must be one Rényi divergence >= 0 per order")
    if not (math.isfinite(mean) and mean >= 1):
        raise InputError("<argument>", "mean", f"must be a finite number >= 1; found {mean!r}")
    if shape is not None and not (math.isfinite(shape) and shape >= 0):
        raise InputError("<argument>", "shape", f"must be a finite number >= 0; found {shape!r}")
    with np.errstate(invalid="ignore"):
        if shape is None:
            eps_hat = np.log1p(1 / (alphas - 1))
            delta_hat, _ = delta_from_rdp(curve, alphas, eps_hat)
            out = curve + mean * delta_hat + math.log(mean) / (alphas - 1)
        else:
            log_inv_gamma, log_mean = _truncated_negative_binomial(shape, mean)
            hat = (1 - 1 / alphas) * curve + log_inv_gamma / alphas
            out = curve + (1 + shape) * float(np.min(hat)) + log_mean / (alphas - 1)
    out = np.where(np.isnan(out), np.inf, out)
    # Suffix minimum: the bound at a higher order also holds at every lower one.
    order = np.argsort(alphas)
    out[order] = np.minimum.accumulate(out[order][::-1])[::-1]
    return out.astype(np.float64)


def _truncated_negative_binomial(shape: float, mean: float) -> tuple[float, float]:
    """(log(1/γ), log E[K]) of the truncated negative binomial with shape η and E[K] >= ``mean``,
    by bisection on t = log(1/γ), where E[K] increases from 1 (t = 0) to ∞."""

    def log_mean_at(t: float) -> float:
        log_expm1 = t + math.log(-math.expm1(-t))  # log(e^t − 1), t > 0
        if shape == 0:
            return log_expm1 - math.log(t)  # (1/γ − 1)/log(1/γ)
        # η(1/γ − 1)/(1 − γ^η) = η(e^t − 1)/(1 − e^{−ηt})
        return math.log(shape) + log_expm1 - math.log(-math.expm1(-shape * t))

    target = math.log(mean)
    if target == 0:
        return 0.0, 0.0
    low, high = 0.0, 1.0
    while log_mean_at(high) < target:
        low, high = high, 2 * high
    for _ in range(200):
        middle = (low + high) / 2
        if not low < middle < high:
            break
        if log_mean_at(middle) >= target:
            high = middle
        else:
            low = middle
    return high, max(target, log_mean_at(high))


# --------------------------------------------------------------------------------------------
# Grids and schedules


def rdp_grid_epsilon(
    q: npt.ArrayLike,
    sigma: npt.ArrayLike,
    steps: npt.ArrayLike,
    delta: npt.ArrayLike,
    orders: npt.ArrayLike = DEFAULT_ORDERS,
) -> FloatArray:
    """ε at δ of ``steps`` Poisson-subsampled Gaussian steps, for a whole broadcast grid.

    ``q``, ``sigma``, ``steps`` and ``delta`` broadcast together (e.g. q[:, None, None],
    sigma[None, :, None], steps[None, None, :]). The per-step RDP is computed once per distinct
    (q, σ); composition adds RDP (Mironov 2017, Prop. 1), so T steps cost T·rdp; then CKS20.
    """
    alphas = _check_orders(orders)
    q_array, sigma_array = _check_mechanism(q, sigma)
    step_array = _as_float_array("steps", steps)
    if not np.all(step_array >= 0):
        raise InputError("<argument>", "steps", f"must be >= 0; found {steps!r}")
    delta_array = _as_float_array("delta", delta)
    q_b, sigma_b = np.broadcast_arrays(q_array, sigma_array)
    per_step = rdp_subsampled_gaussian(q_b, sigma_b, alphas)  # distinct pairs done once inside
    shape = np.broadcast_shapes(q_b.shape, step_array.shape, delta_array.shape)
    total = np.broadcast_to(per_step, (*q_b.shape, alphas.size)) * step_array[..., None]
    total = np.where(step_array[..., None] == 0, 0.0, total)  # 0 steps: no cost, even if rdp = inf
    epsilon, _ = epsilon_from_rdp(
        np.broadcast_to(total, (*shape, alphas.size)), alphas, delta_array
    )
    return epsilon


def rdp_of_schedule(
    schedule: Sequence[tuple[float, float, int]], orders: npt.ArrayLike = DEFAULT_ORDERS
) -> FloatArray:
    """RDP curve (K,) of a heterogeneous schedule of (q, σ, count) phases, in any order.

    Phases with the same (q, σ) are merged; each distinct pair's per-step RDP is computed once
    (all pairs in one vectorised call) and composition adds RDP (Mironov 2017, Prop. 1).
    """
    alphas = _check_orders(orders)
    counts: defaultdict[tuple[float, float], float] = defaultdict(float)
    for position, phase in enumerate(schedule):
        q, sigma, count = phase
        if not (isinstance(count, int | np.integer) and count >= 0):
            raise InputError(
                "<argument>",
                f"schedule[{position}].count",
                f"must be an integer >= 0; found {count!r}",
            )
        counts[(float(q), float(sigma))] += int(count)
    if not counts:
        return np.zeros(alphas.size)
    keys = list(counts)
    q_array = np.array([key[0] for key in keys])
    sigma_array = np.array([key[1] for key in keys])
    weights = np.array([counts[key] for key in keys])
    per_step = rdp_subsampled_gaussian(q_array, sigma_array, alphas)
    used = weights > 0
    return np.asarray((per_step[used] * weights[used, None]).sum(axis=0), dtype=np.float64)


__all__ = [
    "DEFAULT_ORDERS",
    "delta_from_rdp",
    "epsilon_from_rdp",
    "log_a_subsampled_gaussian",
    "rdp_grid_epsilon",
    "rdp_laplace",
    "rdp_of_schedule",
    "rdp_subsampled_gaussian",
]
