"""Read-only arrays: how server and clients hand each other data neither can change."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Rows = npt.NDArray[np.int64]
"""Indices of a client's records in the shared feature and label arrays."""


def frozen(array: npt.ArrayLike) -> Any:
    """A read-only copy: what goes into a message, so the sender's later writes cannot leak."""
    copy = np.array(array, copy=True)
    copy.setflags(write=False)
    return copy


def read_only(array: Any) -> Any:
    """A read-only view: clients share one feature array without copying it per client."""
    view = np.asarray(array).view()
    view.setflags(write=False)
    return view
