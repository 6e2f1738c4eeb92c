"""Per-example gradients of the numpy models against finite differences and the batch gradient."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from privaudit.errors import InputError
from privaudit.train.models import Mlp, ModelSpec, softmax_regression

SPECS = [
    ModelSpec(),
    ModelSpec(hidden=(7,), activation="relu"),
    ModelSpec(hidden=(6, 5), activation="tanh"),
    ModelSpec(hidden=(6,), activation="tempered_sigmoid", sigmoid_scale=1.5, sigmoid_offset=0.5),
]
IDS = ["softmax", "relu-1", "tanh-2", "tempered-1"]


def _problem(spec: ModelSpec, seed: int = 0) -> tuple[Mlp, Any, Any, Any]:
    rng = np.random.default_rng(seed)
    model = Mlp(5, 4, spec)
    params = model.init(rng, np.float64)
    params += rng.normal(0, 0.3, size=params.shape)  # non-zero biases, off the symmetric start
    x = rng.normal(size=(6, 5))
    y = rng.integers(0, 4, size=6)
    return model, params, x, y


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_per_example_gradients_match_central_differences(spec: ModelSpec) -> None:
    model, params, x, y = _problem(spec)
    grads = model.per_example_gradients(params, x, y)
    assert grads.shape == (len(x), model.n_params)
    h = 1e-6
    for i in range(len(x)):
        numeric = np.empty(model.n_params)
        for k in range(model.n_params):
            step = np.zeros(model.n_params)
            step[k] = h
            up = model.per_example_loss(params + step, x[i : i + 1], y[i : i + 1])[0]
            down = model.per_example_loss(params - step, x[i : i + 1], y[i : i + 1])[0]
            numeric[k] = (up - down) / (2 * h)
        error = np.linalg.norm(grads[i] - numeric) / np.linalg.norm(numeric)
        assert error < 1e-5, (i, error)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_mean_of_per_example_gradients_is_the_batch_gradient(spec: ModelSpec) -> None:
    model, params, x, y = _problem(spec, seed=1)
    mean = model.per_example_gradients(params, x, y).mean(axis=0)
    np.testing.assert_allclose(mean, model.gradient(params, x, y), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_clipped_sum_without_materialising_equals_clipping_each_gradient(spec: ModelSpec) -> None:
    model, params, x, y = _problem(spec, seed=2)
    grads = model.per_example_gradients(params, x, y)
    norms = np.linalg.norm(grads, axis=1)
    clip = float(np.median(norms))  # about half the examples are clipped
    expected = (grads * np.minimum(1, clip / norms)[:, None]).sum(axis=0)
    total, found_norms, losses = model.clipped_gradient_sum(params, x, y, clip)
    np.testing.assert_allclose(found_norms, norms, rtol=1e-10)
    np.testing.assert_allclose(total, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(losses, model.per_example_loss(params, x, y), rtol=1e-12)
    np.testing.assert_allclose(model.per_example_norms(params, x, y), norms, rtol=1e-10)


def test_softmax_regression_gradient_is_an_outer_product() -> None:
    rng = np.random.default_rng(3)
    model = softmax_regression(3, 2)
    params = rng.normal(size=model.n_params)
    x = rng.normal(size=(4, 3))
    y = np.array([0, 1, 1, 0])
    z = x @ params[:6].reshape(3, 2) + params[6:]
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[np.arange(4), y] -= 1
    expected = np.concatenate(
        [np.einsum("bi,bo->bio", x, p).reshape(4, -1), p], axis=1
    )  # [x ⊗ (p − y), p − y]
    np.testing.assert_allclose(model.per_example_gradients(params, x, y), expected, rtol=1e-12)


def test_float32_parameters_give_float32_gradients() -> None:
    model = Mlp(4, 3, ModelSpec(hidden=(5,)))
    params = model.init(np.random.default_rng(0), np.float32)
    x = np.ones((2, 4), dtype=np.float32)
    y = np.array([0, 2])
    assert params.dtype == np.float32
    assert model.per_example_gradients(params, x, y).dtype == np.float32
    assert model.clipped_gradient_sum(params, x, y, 1.0)[0].dtype == np.float32


def test_empty_batch_gives_zero_sum() -> None:
    model = softmax_regression(4, 3)
    params = np.ones(model.n_params)
    total, norms, losses = model.clipped_gradient_sum(
        params, np.zeros((0, 4)), np.zeros(0, dtype=np.int64), 1.0
    )
    assert not total.any() and norms.shape == (0,) and losses.shape == (0,)


def test_evaluate_and_accuracy() -> None:
    model = softmax_regression(2, 2)
    params = np.array([1.0, -1.0, -1.0, 1.0, 0.0, 0.0])  # class = argmax(x0 − x1, x1 − x0)
    x = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 3.0], [3.0, 1.0]])
    y = np.array([0, 1, 0, 0])
    loss, accuracy = model.evaluate(params, x, y, chunk=3)
    assert accuracy == 0.75 == model.accuracy(params, x, y)
    assert loss == pytest.approx(model.loss(params, x, y))
    np.testing.assert_array_equal(model.predict(params, x, chunk=1), [0, 1, 1, 0])


def test_init_is_deterministic_given_the_generator() -> None:
    model = Mlp(10, 3, ModelSpec(hidden=(8, 4)))
    a = model.init(np.random.default_rng(5))
    b = model.init(np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert model.n_params == 10 * 8 + 8 + 8 * 4 + 4 + 4 * 3 + 3
    assert not softmax_regression(10, 3).init(np.random.default_rng(5)).any()


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ModelSpec(hidden=(4, 4, 4)), "model.hidden"),
        (lambda: ModelSpec(hidden=(0,)), "model.hidden"),
        (lambda: ModelSpec(activation="gelu"), "model.activation"),  # type: ignore[arg-type]
        (lambda: Mlp(0, 3), "n_features"),
        (lambda: Mlp(3, 1), "n_classes"),
    ],
)
def test_bad_model_settings_are_refused(make: Any, field: str) -> None:
    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        make()


def test_bad_inputs_are_refused() -> None:
    model = softmax_regression(3, 2)
    params = np.zeros(model.n_params)
    with pytest.raises(InputError, match="x: expected shape"):
        model.gradient(params, np.zeros((2, 4)), np.zeros(2, dtype=np.int64))
    with pytest.raises(InputError, match=r"labels must be in 0\.\.1"):
        model.gradient(params, np.zeros((2, 3)), np.array([0, 2]))
    with pytest.raises(InputError, match="params: expected shape"):
        model.gradient(np.zeros(3), np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(InputError, match="clip_norm"):
        model.clipped_gradient_sum(params, np.zeros((2, 3)), np.array([0, 1]), 0.0)
