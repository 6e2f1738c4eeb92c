"""ScatterNet features: Kymatio's values, shape, approximate translation invariance, determinism,
speed; per-sample group normalisation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits

from privaudit.errors import InputError
from privaudit.train.features import (
    FeatureSpec,
    group_normalise,
    scattering_features,
    scattering_shape,
)

# Channel means (over the 7 × 7 grid) of Kymatio 0.3.0's numpy Scattering2D(J=2, shape=(28, 28),
# L=8) on the image made by _test_image(); order: S₀, S₁ (j₁, θ₁), S₂ (θ₁, θ₂) for j₁=0, j₂=1.
KYMATIO_0_3_0_MEANS = [
    0.14572524, 0.053624492, 0.038789816, 0.018559907, 0.020480562, 0.021579942, 0.013713541,
    0.027390925, 0.03069501, 0.05473932, 0.028741583, 0.017303942, 0.018811952, 0.01731586,
    0.018677678, 0.023693752, 0.0277234, 0.011821551, 0.005989895, 0.0049084276, 0.0052069332,
    0.0044697863, 0.0033747882, 0.0024082093, 0.004579488, 0.006010469, 0.003920203, 0.0036145542,
    0.0040849485, 0.0032544134, 0.0024340595, 0.0018890529, 0.0026429752, 0.0018966451,
    0.0017664443, 0.0021507822, 0.0034404513, 0.0021818192, 0.0014133387, 0.0012694015,
    0.0013837322, 0.003152092, 0.0022531739, 0.0025344817, 0.004030503, 0.0025120033,
    0.0017388475, 0.0013506169, 0.0014012405, 0.0009942849, 0.0012902648, 0.0019998122,
    0.0028618386, 0.002015658, 0.0016160961, 0.0012730946, 0.0009657609, 0.0018886339,
    0.0017613057, 0.0019765378, 0.0026881855, 0.0018974304, 0.0020154787, 0.0028135423,
    0.0024675939, 0.0020527083, 0.0020622176, 0.0024248473, 0.0027641454, 0.0025013036,
    0.002483328, 0.0032001776, 0.002614607, 0.0031778368, 0.0033246838, 0.00324588, 0.003433953,
    0.0027235257, 0.0018379068, 0.0016763303, 0.0020315032,
]  # fmt: skip


def _test_image() -> Any:
    """A Gaussian blob plus a band of slanted bars: structure at several scales and angles."""
    r, c = np.mgrid[0:28, 0:28]
    blob = np.exp(-((r - 14.0) ** 2 / 30 + (c - 11.0) ** 2 / 8))
    bars = 0.5 * ((r + 2 * c) % 9 < 3) * (r > 5) * (r < 20)
    return (blob + bars).astype(np.float32)


def _digits(n: int) -> Any:
    """sklearn's 8 × 8 digits scaled by 1/16, upsampled ×3 and padded to MNIST's 28 × 28."""
    small = load_digits().images[:n].astype(np.float32) / 16
    images = np.zeros((n, 28, 28), dtype=np.float32)
    images[:, 2:26, 2:26] = np.kron(small, np.ones((3, 3), dtype=np.float32))
    return images


def test_matches_kymatio() -> None:
    features = scattering_features(_test_image()[None]).reshape(81, 7, 7)
    np.testing.assert_allclose(features.mean(axis=(1, 2)), KYMATIO_0_3_0_MEANS, rtol=2e-4)


def test_output_shape_and_type() -> None:
    images = _digits(5)
    features = scattering_features(images)
    assert features.shape == (5, 81 * 7 * 7) and features.dtype == np.float32
    assert scattering_shape(28, 28).size == 3969
    assert scattering_shape(32, 32, J=3, L=4).channels == 1 + 3 * 4 + 16 * 3
    assert scattering_features(np.zeros((2, 32, 32)), J=3, L=4).shape == (2, 61 * 4 * 4)
    assert scattering_features(np.zeros((0, 28, 28))).shape == (0, 3969)


def test_small_shifts_change_features_much_less_than_pixels() -> None:
    images = _digits(40)
    shifted = np.roll(images, 1, axis=2)  # one pixel to the right (the borders are empty)
    pixel_change = np.linalg.norm((images - shifted).reshape(40, -1), axis=1) / np.linalg.norm(
        images.reshape(40, -1), axis=1
    )
    base, moved = scattering_features(images), scattering_features(shifted)
    feature_change = np.linalg.norm(base - moved, axis=1) / np.linalg.norm(base, axis=1)
    assert np.all(feature_change < 0.6 * pixel_change)
    assert feature_change.mean() < 0.5 * pixel_change.mean()


def test_deterministic_and_independent_of_chunking_and_threads() -> None:
    images = _digits(37)
    reference = scattering_features(images, chunk_size=256, threads=1)
    np.testing.assert_array_equal(reference, scattering_features(images, chunk_size=256))
    np.testing.assert_allclose(
        reference, scattering_features(images, chunk_size=5, threads=2), rtol=1e-6, atol=1e-7
    )
    # One image's features do not depend on the other images of the batch.
    np.testing.assert_allclose(
        reference[3], scattering_features(images[3:4])[0], rtol=1e-6, atol=1e-7
    )


def test_group_normalise_is_per_sample() -> None:
    rng = np.random.default_rng(1)
    features = rng.gamma(2.0, size=(4, 6 * 5)).astype(np.float32) * np.arange(1, 5)[:, None]
    out = group_normalise(features, channels=6, groups=3)
    grouped = out.reshape(4, 3, 10)
    np.testing.assert_allclose(grouped.mean(axis=2), 0, atol=1e-5)
    np.testing.assert_allclose(grouped.var(axis=2), 1, atol=1e-3)
    np.testing.assert_allclose(out[1:2], group_normalise(features[1:2], 6, 3), rtol=1e-6)


def test_feature_spec() -> None:
    images = _digits(3)
    pixels = FeatureSpec(kind="pixels").transform(images)
    assert pixels.shape == (3, 784) and pixels.dtype == np.float32
    raw = FeatureSpec(groups=None).transform(images)
    np.testing.assert_array_equal(raw, scattering_features(images))
    normalised = FeatureSpec().transform(images)
    np.testing.assert_allclose(normalised, group_normalise(raw, 81, 27), rtol=1e-6)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: scattering_features(np.zeros((2, 28))), "images"),
        (lambda: scattering_features(np.zeros((2, 3, 3))), "images"),
        (lambda: scattering_features(np.full((1, 28, 28), np.nan)), "images"),
        (lambda: scattering_features(np.zeros((1, 28, 28)), J=0), "J"),
        (lambda: scattering_features(np.zeros((1, 28, 28)), chunk_size=0), "chunk_size"),
        (lambda: group_normalise(np.zeros((2, 10)), channels=5, groups=2), "groups"),
        (lambda: group_normalise(np.zeros((2, 10)), channels=3, groups=3), "features"),
        (lambda: FeatureSpec(kind="hog"), "features.kind"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_is_refused(call: Any, field: str) -> None:
    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        call()
