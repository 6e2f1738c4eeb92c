"""Generated IDX files for the loader and fetch tests: small, valid, and deterministic."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import numpy.typing as npt

MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def idx_bytes(array: npt.NDArray[np.uint8], *, magic: int | None = None) -> bytes:
    """The IDX encoding of an unsigned-byte array: 0, 0, 0x08, ndim, big-endian dims, data."""
    if magic is None:
        magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def tiny_mnist(
    n_train: int = 10, n_test: int = 10, seed: int = 0
) -> dict[str, tuple[npt.NDArray[np.uint8], bytes]]:
    """IDX file name (no .gz) → (array, IDX bytes) for a valid tiny MNIST."""
    rng = np.random.default_rng(seed)
    arrays = {
        MNIST_NAMES[0]: rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        MNIST_NAMES[1]: (np.arange(n_train) % 10).astype(np.uint8),
        MNIST_NAMES[2]: rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        MNIST_NAMES[3]: (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }
    return {name: (array, idx_bytes(array)) for name, array in arrays.items()}


def write_tiny_mnist(
    folder: Path, *, compressed: bool = True, n_train: int = 10, n_test: int = 10
) -> dict[str, npt.NDArray[np.uint8]]:
    """Write the four files into ``folder`` (created); returns the arrays by IDX name."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, (array, data) in tiny_mnist(n_train, n_test).items():
        if compressed:
            (folder / f"{name}.gz").write_bytes(gz(data))
        else:
            (folder / name).write_bytes(data)
        arrays[name] = array
    return arrays
