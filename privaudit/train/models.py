"""Small numpy classifiers for DP-SGD: softmax regression and multi-layer perceptrons.

Parameters live in one flat vector (float32 or float64), layer by layer: the weight matrix
W (fan_in × fan_out, row-major), then the bias b (fan_out). DP-SGD needs every example's gradient
(to clip it), so besides the mean-loss gradient the model gives

- :meth:`Mlp.per_example_gradients`: the (batch, n_params) matrix, by one einsum per layer;
- :meth:`Mlp.clipped_gradient_sum`: Σᵢ gᵢ·min(1, C/‖gᵢ‖) without materialising any gᵢ.

The second works because in a dense layer one example's weight gradient is an outer product
aᵢ ⊗ δᵢ (input activation, output error), so ‖aᵢ ⊗ δᵢ‖_F = ‖aᵢ‖·‖δᵢ‖ and the clipped sum is
Aᵀ·diag(s)·Δ — one matrix product per layer (Goodfellow, "Efficient Per-Example Gradient
Computations", arXiv:1510.01799, 2015; "ghost clipping" in Li et al., ICLR 2022). For softmax
regression that is gᵢ = [xᵢ, 1] ⊗ (pᵢ − yᵢ).

Loss: mean cross-entropy of the softmax of the logits. Activations: ReLU, tanh, or the tempered
sigmoid φ(x) = s·sigmoid(T·x) − o of Papernot et al., "Tempered Sigmoid Activations for Deep
Learning with Differential Privacy", AAAI 2021 (s = 2, T = 2, o = 1 is tanh).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from privaudit.checks import (
    ARGUMENT,
    is_finite,
    is_integer,
    require,
    require_count,
    require_positive,
)
from privaudit.errors import InputError

Array = np.ndarray[Any, np.dtype[np.floating[Any]]]
Labels = np.ndarray[Any, np.dtype[np.integer[Any]]]

Activation = Literal["relu", "tanh", "tempered_sigmoid"]


@dataclass(frozen=True)
class ModelSpec:
    """What to train: ``hidden = ()`` is softmax regression; one or two hidden widths an MLP."""

    hidden: tuple[int, ...] = ()
    activation: Activation = "relu"
    sigmoid_scale: float = 2.0
    sigmoid_temperature: float = 2.0
    """Inverse temperature T of the tempered sigmoid s·sigmoid(T·x) − o."""
    sigmoid_offset: float = 1.0
    output_bias: tuple[float, ...] | None = None
    """Initial biases of the output layer, one per class: a prior chosen without looking at
    the data (e.g. that fraud is rare), so that few large steps need not first learn it.
    None: zeros."""

    def __post_init__(self) -> None:
        if not isinstance(self.hidden, tuple) or len(self.hidden) > 2:
            raise InputError(
                ARGUMENT, "model.hidden", f"expected 0 to 2 layer widths; found {self.hidden!r}"
            )
        for width in self.hidden:
            ok = is_integer(width) and width >= 1
            require(ok, "model.hidden", "widths must be integers >= 1", width)
        if self.activation not in ("relu", "tanh", "tempered_sigmoid"):
            raise InputError(
                ARGUMENT,
                "model.activation",
                f"expected relu, tanh or tempered_sigmoid; found {self.activation!r}",
            )

        if self.output_bias is not None:
            ok = isinstance(self.output_bias, tuple) and all(is_finite(b) for b in self.output_bias)
            require(ok, "model.output_bias", "must be a tuple of finite numbers", self.output_bias)

    def build(self, n_features: int, n_classes: int) -> Mlp:
        if self.output_bias is not None and len(self.output_bias) != n_classes:
            raise InputError(
                ARGUMENT,
                "model.output_bias",
                f"expected one bias per class ({n_classes}); found {len(self.output_bias)}",
            )
        return Mlp(n_features, n_classes, self)


class Mlp:
    """A dense network ``n_features → hidden… → n_classes`` with a softmax cross-entropy loss."""

    def __init__(self, n_features: int, n_classes: int, spec: ModelSpec | None = None) -> None:
        spec = spec or ModelSpec()
        require_count(n_features, "n_features")
        require_count(n_classes, "n_classes", minimum=2)
        self.spec = spec
        self.n_features = n_features
        self.n_classes = n_classes
        widths = (n_features, *spec.hidden, n_classes)
        self.layers: tuple[tuple[int, int], ...] = tuple(itertools.pairwise(widths))
        offsets = [0]
        for fan_in, fan_out in self.layers:
            offsets.append(offsets[-1] + fan_in * fan_out + fan_out)
        self._offsets = tuple(offsets)
        self.n_params = offsets[-1]

    # --- parameters -----------------------------------------------------------------------------

    def init(self, rng: np.random.Generator, dtype: type[np.floating[Any]] = np.float32) -> Array:
        """Initial parameters: zeros for softmax regression (its loss is convex); otherwise
        Glorot-uniform weights (He-uniform before ReLU) and zero biases."""
        params = np.zeros(self.n_params, dtype=dtype)
        if self.spec.output_bias is not None:
            params[-self.n_classes :] = self.spec.output_bias
        if not self.spec.hidden:
            return params
        for index, (fan_in, fan_out) in enumerate(self.layers):
            weights, _ = self._views(params, index)
            before_relu = self.spec.activation == "relu" and index < len(self.layers) - 1
            limit = math.sqrt(6 / fan_in) if before_relu else math.sqrt(6 / (fan_in + fan_out))
            weights[...] = rng.uniform(-limit, limit, size=(fan_in, fan_out))
        return params

    def unpack(self, params: Array) -> list[tuple[Array, Array]]:
        """[(W, b), ...] views into the flat ``params``."""
        self._check_params(params)
        return [self._views(params, index) for index in range(len(self.layers))]

    def _views(self, params: Array, index: int) -> tuple[Array, Array]:
        fan_in, fan_out = self.layers[index]
        start = self._offsets[index]
        weights = params[start : start + fan_in * fan_out].reshape(fan_in, fan_out)
        bias = params[start + fan_in * fan_out : self._offsets[index + 1]]
        return weights, bias

    # --- forward --------------------------------------------------------------------------------

    def logits(self, params: Array, x: Array) -> Array:
        activations, _ = self._forward(params, self._check_x(x))
        return activations[-1]

    def predict(self, params: Array, x: Array, *, chunk: int = 8192) -> Labels:
        x = self._check_x(x)
        out = [
            np.argmax(self.logits(params, x[s : s + chunk]), axis=1)
            for s in range(0, len(x), chunk)
        ]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def per_example_loss(self, params: Array, x: Array, y: Labels) -> Array:
        """Cross-entropy −log softmax(z)_y of each example."""
        x, y = self._check_x(x), self._check_y(y, len(x))
        z = self.logits(params, x)
        return _log_sum_exp(z) - z[np.arange(len(z)), y]

    def loss(self, params: Array, x: Array, y: Labels) -> float:
        """Mean cross-entropy."""
        return float(np.mean(self.per_example_loss(params, x, y))) if len(x) else 0.0

    def evaluate(
        self, params: Array, x: Array, y: Labels, *, chunk: int = 8192
    ) -> tuple[float, float]:
        """(mean loss, accuracy) over ``x``, ``chunk`` examples at a time."""
        x, y = self._check_x(x), self._check_y(y, len(x))
        if not len(x):
            return 0.0, 0.0
        total_loss = 0.0
        correct = 0
        for start in range(0, len(x), chunk):
            z = self.logits(params, x[start : start + chunk])
            labels = y[start : start + chunk]
            total_loss += float(np.sum(_log_sum_exp(z) - z[np.arange(len(z)), labels]))
            correct += int(np.sum(np.argmax(z, axis=1) == labels))
        return total_loss / len(x), correct / len(x)

    def accuracy(self, params: Array, x: Array, y: Labels) -> float:
        return self.evaluate(params, x, y)[1]

    # --- gradients ------------------------------------------------------------------------------

    def gradient(self, params: Array, x: Array, y: Labels) -> Array:
        """Gradient of the mean loss over the batch, shape (n_params,)."""
        x, y = self._check_x(x), self._check_y(y, len(x))
        grad = np.zeros(self.n_params, dtype=np.result_type(params, x))
        if not len(x):
            return grad
        activations, errors = self._backward(params, x, y)
        for index, (a, delta) in enumerate(zip(activations[:-1], errors, strict=True)):
            weights, bias = self._views(grad, index)
            weights[...] = a.T @ delta / len(x)
            bias[...] = delta.sum(axis=0) / len(x)
        return grad

    def per_example_gradients(self, params: Array, x: Array, y: Labels) -> Array:
        """Gradient of each example's loss, shape (batch, n_params): for each layer the outer
        products aᵢ ⊗ δᵢ by einsum (no loop over examples). Memory: batch × n_params."""
        x, y = self._check_x(x), self._check_y(y, len(x))
        activations, errors = self._backward(params, x, y)
        parts: list[Array] = []
        for a, delta in zip(activations[:-1], errors, strict=True):
            parts.append(np.einsum("bi,bo->bio", a, delta).reshape(len(x), -1))
            parts.append(delta)
        return np.concatenate(parts, axis=1)

    def per_example_norms(self, params: Array, x: Array, y: Labels) -> Array:
        """‖gᵢ‖₂ of each example's gradient, without materialising it."""
        x, y = self._check_x(x), self._check_y(y, len(x))
        activations, errors = self._backward(params, x, y)
        return np.sqrt(_squared_norms(activations, errors))

    def clipped_gradient_sum(
        self, params: Array, x: Array, y: Labels, clip_norm: float
    ) -> tuple[Array, Array, Array]:
        """(Σᵢ gᵢ·min(1, C/‖gᵢ‖), the norms ‖gᵢ‖, the losses) for the examples of ``x``.

        Each clipped gᵢ has norm ≤ C, so adding or removing one example moves the sum by at
        most C in L2 (the sensitivity DP-SGD's noise is calibrated to; Abadi et al. 2016, Alg. 1).
        """
        require_positive(clip_norm, "clip_norm")
        x, y = self._check_x(x), self._check_y(y, len(x))
        dtype = np.result_type(params, x)
        total = np.zeros(self.n_params, dtype=dtype)
        if not len(x):
            return total, np.zeros(0, dtype=dtype), np.zeros(0, dtype=dtype)
        activations, errors = self._backward(params, x, y)
        logits = activations[-1]
        losses = _log_sum_exp(logits) - logits[np.arange(len(y)), y]
        norms = np.sqrt(_squared_norms(activations, errors))
        # min(1, C/‖g‖) computed as C/max(‖g‖, C): no division by zero for a zero gradient.
        scale = (clip_norm / np.maximum(norms, clip_norm)).astype(dtype)
        for index, (a, delta) in enumerate(zip(activations[:-1], errors, strict=True)):
            weights, bias = self._views(total, index)
            scaled = delta * scale[:, None]
            weights[...] = a.T @ scaled
            bias[...] = scaled.sum(axis=0)
        return total, norms, losses

    # --- internals ------------------------------------------------------------------------------

    def _forward(self, params: Array, x: Array) -> tuple[list[Array], list[Array]]:
        """Activations [x, h₁, ..., logits] and pre-activations of the hidden layers."""
        self._check_params(params)
        activations: list[Array] = [x]
        pre: list[Array] = []
        last = len(self.layers) - 1
        for index in range(len(self.layers)):
            weights, bias = self._views(params, index)
            z: Array = activations[-1] @ weights + bias
            if index < last:
                pre.append(z)
                z = self._activate(z)
            activations.append(z)
        return activations, pre

    def _backward(self, params: Array, x: Array, y: Labels) -> tuple[list[Array], list[Array]]:
        """Activations and, per layer, the error δ = ∂(per-example loss)/∂(layer output)."""
        activations, pre = self._forward(params, x)
        logits = activations[-1]
        probabilities = _softmax(logits)
        probabilities[np.arange(len(y)), y] -= 1  # ∂CE/∂z = p − onehot(y)
        errors: list[Array] = [probabilities]
        for index in range(len(self.layers) - 1, 0, -1):
            weights, _ = self._views(params, index)
            errors.insert(0, (errors[0] @ weights.T) * self._derivative(pre[index - 1]))
        return activations, errors

    def _activate(self, z: Array) -> Array:
        kind = self.spec.activation
        if kind == "relu":
            return np.maximum(z, 0)
        if kind == "tanh":
            return np.tanh(z)
        s, t, o = self.spec.sigmoid_scale, self.spec.sigmoid_temperature, self.spec.sigmoid_offset
        return (s * _sigmoid(t * z) - o).astype(z.dtype, copy=False)

    def _derivative(self, z: Array) -> Array:
        kind = self.spec.activation
        if kind == "relu":
            return (z > 0).astype(z.dtype)
        if kind == "tanh":
            return (1 - np.tanh(z) ** 2).astype(z.dtype, copy=False)
        s, t = self.spec.sigmoid_scale, self.spec.sigmoid_temperature
        sig = _sigmoid(t * z)
        return (s * t * sig * (1 - sig)).astype(z.dtype, copy=False)

    def _check_params(self, params: Array) -> None:
        if params.shape != (self.n_params,):
            raise InputError(
                ARGUMENT, "params", f"expected shape ({self.n_params},); found {params.shape}"
            )

    def _check_x(self, x: Array) -> Array:
        array = np.asarray(x)
        if array.ndim != 2 or array.shape[1] != self.n_features:
            raise InputError(
                ARGUMENT,
                "x",
                f"expected shape (n, {self.n_features}); found {array.shape}",
            )
        return array

    def _check_y(self, y: Labels, n: int) -> Labels:
        labels = np.asarray(y)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise InputError(
                ARGUMENT,
                "y",
                f"expected {n} integer labels; found {labels.dtype} {labels.shape}",
            )
        if n and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise InputError(
                ARGUMENT,
                "y",
                f"labels must be in 0..{self.n_classes - 1}; found {labels.min()}..{labels.max()}",
            )
        return labels


def softmax_regression(n_features: int, n_classes: int) -> Mlp:
    """Multinomial logistic regression: logits = x·W + b."""
    return Mlp(n_features, n_classes, ModelSpec())


def _squared_norms(activations: list[Array], errors: list[Array]) -> Array:
    """Σ over layers of ‖aᵢ ⊗ δᵢ‖² + ‖δᵢ‖² = (‖aᵢ‖² + 1)·‖δᵢ‖² (weights and bias)."""
    total = np.zeros(len(errors[0]), dtype=np.float64)
    for a, delta in zip(activations[:-1], errors, strict=True):
        a_sq = np.einsum("bi,bi->b", a, a, dtype=np.float64)
        d_sq = np.einsum("bo,bo->b", delta, delta, dtype=np.float64)
        total += (a_sq + 1.0) * d_sq
    return total


def _softmax(z: Array) -> Array:
    shifted = z - z.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: Array = exp / exp.sum(axis=1, keepdims=True)
    return out


def _log_sum_exp(z: Array) -> Array:
    top = z.max(axis=1, keepdims=True)
    out: Array = (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, 0]
    return out


def _sigmoid(z: Array) -> Array:
    out: Array = 0.5 * (1 + np.tanh(0.5 * z))  # overflow-free
    return out
