"""Data-independent image features for DP training: a numpy ScatterNet and per-sample normalisation.

DP-SGD pays for every parameter it trains with noise, so a fixed feature extractor that needs no
training data lets a small (linear) private model do what a large one would otherwise learn.
Tramèr & Boneh ("Differentially Private Learning Needs Better Features (or Much More Data)",
ICLR 2021) reach 98.7% on MNIST at ε = 3 with ScatterNet features and a linear model.

The scattering transform (Bruna & Mallat, "Invariant Scattering Convolution Networks", IEEE
TPAMI 35(8), 2013; Mallat, "Group Invariant Scattering", CPAM 65(10), 2012) cascades Morlet
wavelet convolutions and complex moduli, then averages with a Gaussian low-pass filter φ_J:

    S₀x = x ⋆ φ_J
    S₁x(j₁, θ₁) = |x ⋆ ψ_{j₁,θ₁}| ⋆ φ_J
    S₂x(j₁, θ₁, j₂, θ₂) = ||x ⋆ ψ_{j₁,θ₁}| ⋆ ψ_{j₂,θ₂}| ⋆ φ_J        (j₁ < j₂)

sampled every 2^J pixels. With J scales and L orientations that is 1 + J·L + L²·J(J−1)/2
channels: 81 for J = 2, L = 8, each 7 × 7 on a 28 × 28 image. The filter bank, padding, Fourier
subsampling and output order follow Kymatio (Andreux et al., "Kymatio: Scattering Transforms in
Python", JMLR 21(60), 2020), written afresh for batched numpy FFTs: convolutions are products in
Fourier, and subsampling by k in space is the mean over the k × k aliases of the spectrum.

Nothing here looks at data: the filters depend only on (H, W, J, L), and :func:`group_normalise`
uses each sample's own statistics (Wu & He, "Group Normalization", ECCV 2018), so the features of
one record do not depend on any other record and cost no privacy.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import scipy.fft

from privaudit.checks import ARGUMENT, require_count
from privaudit.errors import InputError

FloatArray = np.ndarray[Any, np.dtype[np.floating[Any]]]
_C64 = np.ndarray[Any, np.dtype[np.complex64]]
_F32 = np.ndarray[Any, np.dtype[np.float32]]

DEFAULT_CHUNK = 256
"""Images per FFT batch: about 200 MB of complex64 intermediates at 28 × 28, J = 2, L = 8."""


@dataclass(frozen=True)
class ScatteringShape:
    channels: int
    height: int
    width: int

    @property
    def size(self) -> int:
        return self.channels * self.height * self.width


def scattering_shape(height: int, width: int, J: int = 2, L: int = 8) -> ScatteringShape:
    """Shape (channels, h, w) of one image's order-2 scattering coefficients."""
    _check_geometry(height, width, J, L)
    channels = 1 + J * L + L * L * J * (J - 1) // 2
    return ScatteringShape(channels, height // 2**J, width // 2**J)


def scattering_features(
    images: FloatArray,
    *,
    J: int = 2,
    L: int = 8,
    chunk_size: int = DEFAULT_CHUNK,
    threads: int | None = None,
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Order-2 scattering coefficients of ``images`` (n, H, W), flattened channel-major to
    (n, channels·h·w) float32: for MNIST, J = 2 and L = 8 give 81 × 7 × 7 = 3969 features.

    Images are processed ``chunk_size`` at a time to bound memory (about 0.8 MB per image at
    28 × 28 while its chunk is in flight), by ``threads`` threads at once (default: one per core;
    numpy and scipy release the GIL). The result does not depend on ``chunk_size`` or ``threads``.
    """
    array = np.asarray(images)
    if array.ndim != 3:
        raise InputError(ARGUMENT, "images", f"expected shape (n, H, W); found {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise InputError(ARGUMENT, "images", f"expected real numbers; found {array.dtype}")
    require_count(chunk_size, "chunk_size")
    n, height, width = array.shape
    shape = scattering_shape(height, width, J, L)
    bank = _filter_bank(height, width, J, L)
    out = np.empty((n, shape.size), dtype=np.float32)

    def run(start: int) -> None:
        chunk = np.asarray(array[start : start + chunk_size], dtype=np.float32)
        out[start : start + len(chunk)] = _scatter(chunk, bank).reshape(len(chunk), -1)

    starts = range(0, n, chunk_size)
    workers = max(1, min(threads or os.cpu_count() or 1, len(starts)))
    if workers == 1:
        for start in starts:
            run(start)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for done in pool.map(run, starts):
                del done
    if not np.all(np.isfinite(out)):
        raise InputError(ARGUMENT, "images", "contain NaN or infinite values")
    return out


def group_normalise(
    features: FloatArray, channels: int, groups: int, *, eps: float = 1e-5
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Per-sample group normalisation without learned affine parameters (Wu & He 2018; as
    PyTorch's ``GroupNorm(groups, channels, affine=False)``): each sample's channels are split
    into ``groups`` consecutive groups and each group is shifted and scaled to mean 0 and
    variance 1 over its own values. Uses no statistic of any other sample."""
    array = np.asarray(features, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] % channels:
        raise InputError(
            ARGUMENT,
            "features",
            f"expected shape (n, {channels}·h·w); found {array.shape}",
        )
    if not (1 <= groups <= channels and channels % groups == 0):
        raise InputError(ARGUMENT, "groups", f"must divide channels ({channels}); found {groups}")
    grouped = array.reshape(len(array), groups, -1)
    mean = grouped.mean(axis=2, keepdims=True)
    var = grouped.var(axis=2, keepdims=True)
    normalised = (grouped - mean) / np.sqrt(var + np.float32(eps))
    return np.asarray(normalised.reshape(array.shape), dtype=np.float32)


@dataclass(frozen=True)
class FeatureSpec:
    """A data-independent preprocessing pipeline, recorded with a run.

    ``kind = "pixels"`` flattens the images (already scaled by a constant, e.g. 1/255).
    ``kind = "scattering"`` computes :func:`scattering_features` and, when ``groups`` is set,
    :func:`group_normalise` over the scattering channels.
    """

    kind: Literal["pixels", "scattering"] = "scattering"
    J: int = 2
    L: int = 8
    groups: int | None = 27

    def __post_init__(self) -> None:
        if self.kind not in ("pixels", "scattering"):
            raise InputError(
                ARGUMENT, "features.kind", f"expected pixels or scattering; found {self.kind!r}"
            )
        if self.kind == "scattering":
            _check_geometry(2**self.J, 2**self.J, self.J, self.L)

    def transform(
        self, images: FloatArray, *, chunk_size: int = DEFAULT_CHUNK
    ) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Features (n, d) float32 of ``images`` (n, H, W)."""
        array = np.asarray(images)
        if array.ndim != 3:
            raise InputError(ARGUMENT, "images", f"expected shape (n, H, W); found {array.shape}")
        if self.kind == "pixels":
            return array.reshape(len(array), -1).astype(np.float32)
        features = scattering_features(array, J=self.J, L=self.L, chunk_size=chunk_size)
        if self.groups is None:
            return features
        channels = scattering_shape(array.shape[1], array.shape[2], self.J, self.L).channels
        return group_normalise(features, channels, self.groups)


# --- the transform -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bank:
    """Fourier-domain filters on the padded grid (P, Q), as Kymatio builds them."""

    J: int
    L: int
    pad: tuple[tuple[int, int], tuple[int, int]]
    psi: tuple[_F32, ...]
    """psi[j]: (L, P, Q) wavelets of scale j at full resolution (real spectra)."""
    psi_at: dict[tuple[int, int], _F32]
    """(j, res): the scale-j wavelets on the grid subsampled by 2^res (res < j)."""
    phi: tuple[_F32, ...]
    """phi[res]: the low-pass filter on the grid subsampled by 2^res, res = 0..J."""


def _scatter(images: np.ndarray[Any, np.dtype[np.float32]], bank: _Bank) -> FloatArray:
    """(B, H, W) → (B, channels, h, w); the cascade of Bruna & Mallat 2013, Kymatio's order."""
    J, L = bank.J, bank.L
    padded = np.pad(images, ((0, 0), *bank.pad), mode="reflect")
    spectrum = scipy.fft.fft2(padded.astype(np.complex64))  # U₀ in Fourier

    def low_pass(u_hat: _C64, res: int) -> FloatArray:
        # U ⋆ φ_J sampled every 2^J pixels, from U's spectrum at resolution 2^res; then unpad.
        s_hat = _filtered_subsample(u_hat, bank.phi[res], 2 ** (J - res))
        s = scipy.fft.ifft2(s_hat).real
        return np.asarray(s[..., 1:-1, 1:-1])

    outputs: list[FloatArray] = [low_pass(spectrum, 0)[:, None]]
    first: list[tuple[int, _C64]] = []  # (j1, spectrum of U₁ at resolution 2^j1), L channels each
    for j1 in range(J):
        u_hat = _filtered_subsample(spectrum[:, None], bank.psi[j1], 2**j1)
        u1 = np.abs(scipy.fft.ifft2(u_hat))
        u1_hat = scipy.fft.fft2(u1.astype(np.complex64))
        outputs.append(low_pass(u1_hat, j1))
        first.append((j1, u1_hat))
    for j1, u1_hat in first:
        for j2 in range(j1 + 1, J):
            # Every (θ₁, θ₂) pair: (B, L, 1, ...) × (L, ...) → (B, L, L, ...), θ₁-major.
            psi = bank.psi_at[(j2, j1)]
            u_hat = _filtered_subsample(u1_hat[:, :, None], psi, 2 ** (j2 - j1))
            u2 = np.abs(scipy.fft.ifft2(u_hat))
            u2_hat = scipy.fft.fft2(u2.astype(np.complex64))
            s2 = low_pass(u2_hat, j2)
            outputs.append(s2.reshape(len(images), L * L, *s2.shape[-2:]))
    return np.concatenate(outputs, axis=1)


def _subsample(u_hat: _C64, k: int) -> _C64:
    """Spectrum of u[..., ::k, ::k] from the spectrum of u: the mean of the k × k aliases."""
    if k == 1:
        return u_hat
    p, q = u_hat.shape[-2] // k, u_hat.shape[-1] // k
    out = np.array(u_hat[..., :p, :q], copy=True)
    for a in range(k):
        for b in range(k):
            if a or b:
                out += u_hat[..., a * p : (a + 1) * p, b * q : (b + 1) * q]
    out *= np.float32(1.0 / (k * k))
    return out


def _filtered_subsample(u_hat: _C64, filters: _F32, k: int) -> _C64:
    """``_subsample(u_hat · filters, k)`` without the full-size product (k² smaller products)."""
    p, q = u_hat.shape[-2] // k, u_hat.shape[-1] // k
    out: _C64 | None = None
    for a in range(k):
        for b in range(k):
            rows, cols = slice(a * p, (a + 1) * p), slice(b * q, (b + 1) * q)
            term = u_hat[..., rows, cols] * filters[..., rows, cols]
            if out is None:
                out = term
            else:
                out += term
    assert out is not None
    out *= np.float32(1.0 / (k * k))
    return out


@lru_cache(maxsize=8)
def _filter_bank(height: int, width: int, J: int, L: int) -> _Bank:
    """Morlet wavelets ψ_{j,θ} (σ = 0.8·2^j, ξ = 3π/(4·2^j), slant 4/L) and a Gaussian φ_J
    (σ = 0.8·2^(J−1)), Kymatio's design (optimised for L = 8), on the grid padded to the next
    multiple of 2^J with at least 2^(J−1) pixels of reflection on each side."""
    _check_geometry(height, width, J, L)
    padded_h = ((height + 2**J) // 2**J + 1) * 2**J
    padded_w = ((width + 2**J) // 2**J + 1) * 2**J
    pad = (
        ((padded_h - height) // 2, (padded_h - height + 1) // 2),
        ((padded_w - width) // 2, (padded_w - width + 1) // 2),
    )
    psi_full: list[_F32] = []
    for j in range(J):
        filters = []
        for theta in range(L):
            angle = (int(L - L / 2 - 1) - theta) * math.pi / L
            wavelet = _morlet(
                padded_h, padded_w, 0.8 * 2**j, angle, 3.0 / 4.0 * math.pi / 2**j, 4.0 / L
            )
            filters.append(np.fft.fft2(wavelet).real)  # the spectrum of these filters is real
        psi_full.append(np.asarray(filters, dtype=np.float32))
    psi_at = {
        (j, res): np.asarray(_periodise(psi_full[j], res), dtype=np.float32)
        for j in range(J)
        for res in range(j)
    }
    phi_full = np.fft.fft2(_gabor(padded_h, padded_w, 0.8 * 2 ** (J - 1), 0.0, 0.0, 1.0)).real
    phi = tuple(np.asarray(_periodise(phi_full, res), dtype=np.float32) for res in range(J))
    for array in (*psi_full, *psi_at.values(), *phi):
        array.setflags(write=False)
    return _Bank(J, L, pad, tuple(psi_full), psi_at, phi)


def _periodise(spectrum: FloatArray, res: int) -> FloatArray:
    """A filter's spectrum on the grid subsampled by 2^res: keep the frequencies below the new
    Nyquist limit (the rest is negligible for these filters) and fold them onto the smaller grid."""
    if res == 0:
        return np.asarray(spectrum)
    k = 2**res
    p, q = spectrum.shape[-2:]
    masked = np.array(spectrum, copy=True)
    start_p, start_q = p // (2 * k), q // (2 * k)
    masked[..., start_p : start_p + p - p // k, :] = 0
    masked[..., :, start_q : start_q + q - q // k] = 0
    *lead, _, _ = masked.shape
    return np.asarray(masked.reshape(*lead, k, p // k, k, q // k).sum(axis=(-4, -2)))


def _morlet(
    height: int, width: int, sigma: float, theta: float, xi: float, slant: float
) -> np.ndarray[Any, np.dtype[np.complex128]]:
    """Morlet wavelet g_σ(u)(e^{iξ·u} − β) with β chosen so that it sums to zero."""
    wave = _gabor(height, width, sigma, theta, xi, slant)
    envelope = _gabor(height, width, sigma, theta, 0.0, slant)
    beta = wave.sum() / envelope.sum()
    return np.asarray(wave - beta * envelope, dtype=np.complex128)


def _gabor(
    height: int, width: int, sigma: float, theta: float, xi: float, slant: float
) -> np.ndarray[Any, np.dtype[np.complex128]]:
    """Gabor filter g_σ(u)·e^{iξ(u₁cosθ + u₂sinθ)} with an elliptic Gaussian envelope rotated by
    θ, centred at the origin and periodised over the (height, width) torus (5 × 5 copies)."""
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    curvature = rotation @ np.diag([1.0, slant * slant]) @ rotation.T / (2 * sigma * sigma)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.zeros((height, width), dtype=np.complex128)
    for shift_r in range(-2, 3):
        for shift_c in range(-2, 3):
            r = rows + shift_r * height
            c = cols + shift_c * width
            quadratic = (
                curvature[0, 0] * r * r + 2 * curvature[0, 1] * r * c + curvature[1, 1] * c * c
            )
            out += np.exp(-quadratic + 1j * xi * (r * math.cos(theta) + c * math.sin(theta)))
    return out / (2 * math.pi * sigma * sigma / slant)


def _check_geometry(height: int, width: int, J: int, L: int) -> None:
    require_count(J, "J")
    require_count(L, "L")
    if height < 2**J or width < 2**J:
        raise InputError(
            ARGUMENT,
            "images",
            f"must be at least 2^J = {2**J} pixels on each side; found {height} × {width}",
        )
