"""Fixed-point encoding of real updates into the ring of integers mod ``2^bits``, and back."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from privaudit.errors import InputError, describe_value
from privaudit.federated.secagg.params import RingArray, SecAggParams


def encode_fixed_point(update: npt.ArrayLike, params: SecAggParams) -> RingArray:
    """``round(x · scale)`` (half to even) in two's complement mod ``2^bits``.

    Refuses a coordinate outside ``±value_bound`` (or NaN): the headroom rule counts on it.
    """
    values = np.asarray(update)
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(
        values.dtype, np.complexfloating
    ):
        raise InputError("<argument>", "update", f"must be real numbers; found {values.dtype}")
    if values.shape != (params.vector_length,):
        raise InputError(
            "<argument>",
            "update",
            f"must have shape ({params.vector_length},); found {values.shape}",
        )
    values = values.astype(np.float64)
    outside = ~(np.abs(values) <= params.value_bound)
    if outside.any():
        index = int(np.flatnonzero(outside)[0])
        raise InputError(
            "<argument>",
            "update",
            f"coordinate {index} is {describe_value(float(values[index]))}, outside the declared"
            f" value_bound ±{params.value_bound:g} ({int(outside.sum())} of {values.size}"
            " coordinates are); clip updates to the bound first: the ring headroom"
            f" num_clients · value_bound · scale < 2^{params.bits - 1} depends on it",
        )
    # int64 → uint wraps negatives to two's complement mod 2^bits.
    encoded: RingArray = np.rint(values * params.scale).astype(np.int64).astype(params.dtype)
    return encoded


def ring_to_signed(values: RingArray, bits: int) -> npt.NDArray[np.int64]:
    """Read ring elements as two's-complement integers in ``[-2^(bits-1), 2^(bits-1))``."""
    signed = np.dtype("<i4") if bits == 32 else np.dtype("<i8")
    return np.ascontiguousarray(values).view(signed).astype(np.int64)


def decode_fixed_point(values: RingArray, params: SecAggParams) -> npt.NDArray[np.float64]:
    """Inverse of :func:`encode_fixed_point` for one value or, within the headroom, a sum."""
    decoded: npt.NDArray[np.float64] = ring_to_signed(values, params.bits).astype(np.float64)
    return decoded / params.scale
